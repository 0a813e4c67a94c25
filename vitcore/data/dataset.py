"""The in-memory dataset that every model and page works on."""

from dataclasses import dataclass, field

import torch


@dataclass
class ImageSplit:
    """One split (train or val) held as a uint8 tensor."""

    images: torch.Tensor  # (N, 3, S, S) uint8 pixels
    labels: torch.Tensor  # (N,) int64 class index into ClassificationData.class_names
    names: list[str]  # per image: "<class>/<file>" for folders, "synthetic/<index>" for the embedded set
    masks: torch.Tensor | None = None  # (N, S, S) bool object masks (the embedded set; folders with masks_<split>.npz)
    has_mask: torch.Tensor | None = None  # (N,) bool: which pictures have a mask of their own; None = all, when masks is set

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def mask_known(self) -> torch.Tensor:
        """(N,) bool: True where `masks` holds the picture's object mask (all False without masks)."""
        if self.masks is None:
            return torch.zeros(len(self), dtype=torch.bool)
        return torch.ones(len(self), dtype=torch.bool) if self.has_mask is None else self.has_mask.cpu()

    def select(self, index: torch.Tensor) -> "ImageSplit":
        """The pictures at `index` ((K,) int64), with their labels, names and masks."""
        index = index.to(self.labels.device)
        return ImageSplit(
            images=self.images.index_select(0, index),  # (K, 3, S, S)
            labels=self.labels.index_select(0, index),  # (K,)
            names=[self.names[position] for position in index.tolist()],
            masks=None if self.masks is None else self.masks.index_select(0, index.to(self.masks.device)),  # (K, S, S)
            has_mask=None if self.has_mask is None else self.has_mask.index_select(0, index.to(self.has_mask.device)),
        )

    def to(self, device: torch.device) -> "ImageSplit":
        """Copy the tensors to `device` (e.g. keep the whole set resident on a GPU)."""
        return ImageSplit(
            images=self.images.to(device),
            labels=self.labels.to(device),
            names=self.names,
            masks=None if self.masks is None else self.masks.to(device),
            has_mask=self.has_mask,
        )


@dataclass
class ClassificationData:
    """A train/val pair with its class names and provenance."""

    train: ImageSplit  # the training split
    val: ImageSplit  # the validation split
    class_names: list[str]  # sorted class names; label i means class_names[i]
    dataset_id: str  # stable id of the content, e.g. "folder-3fa2c1d0" or "synthetic-seed0-64"
    source: str  # human description of where the data came from
    skipped_files: list[str] = field(default_factory=list)  # unreadable files that were skipped

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (B, 3, S, S) -> float in [0, 1] (B, 3, S, S)."""
    return images.float().div_(255.0)  # (B, 3, S, S)
