"""Error types whose message is meant for a person, not a traceback."""


class VitcoreError(ValueError):
    """Base class: the message is one clear sentence that names the problem."""


class ImageInputError(VitcoreError):
    """An image could not be decoded or is not acceptable (bomb, animation, empty...)."""


class DataLayoutError(VitcoreError):
    """A dataset folder does not have the expected ROOT/{train,val}/<class>/ layout."""


class CocoBuildError(VitcoreError):
    """Building a dataset from COCO annotations failed (bad JSON, unknown class, too few images)."""


class RunError(VitcoreError):
    """A run folder, its config or its checkpoint is missing or corrupt."""
