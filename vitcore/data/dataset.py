"""The in-memory dataset that every model and page works on."""

from dataclasses import dataclass, field

import torch


@dataclass
class ImageSplit:
    """One split (train or val) held as a uint8 tensor."""

    images: torch.Tensor  # (N, 3, S, S) uint8 pixels
    labels: torch.Tensor  # (N,) int64 class index into ClassificationData.class_names
    names: list[str]  # per image: "<class>/<file>" for folders, "synthetic/<index>" for the embedded set
    masks: torch.Tensor | None = None  # (N, S, S) bool object mask, synthetic data only

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device) -> "ImageSplit":
        """Copy the tensors to `device` (e.g. keep the whole set resident on a GPU)."""
        return ImageSplit(
            images=self.images.to(device),
            labels=self.labels.to(device),
            names=self.names,
            masks=None if self.masks is None else self.masks.to(device),
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
