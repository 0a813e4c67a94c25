"""The training recipe: every knob of `fit` lives in one dataclass.

The config is saved as plain JSON inside each run folder (`config.json`) and
inside checkpoints, so it must round-trip through `to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vitcore.train.augment import AUGMENTATION_CHOICES

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
AUGMENTATIONS = AUGMENTATION_CHOICES  # names accepted by TrainConfig.augmentation (vitcore.train.augment builds them)
AMP_MODES = ("auto", "off", "bf16", "native")
MAX_DEMO_PACE_S = 10.0  # the slowest demo pace (seconds per step) that TrainConfig, the CLI and the Train page accept


@dataclass
class TrainConfig:
    """How to train a model (optimizer, schedule, augmentation, device...)."""

    epochs: int = 10  # full passes over the training split
    batch_size: int = 64  # images per optimizer step
    optimizer: str = "adamw"  # "adam" | "adamw" | "sgd"
    lr: float = 1e-3  # peak learning rate (reached after warmup)
    weight_decay: float = 0.05  # L2 (adam/sgd) or decoupled (adamw) weight decay
    betas: tuple[float, float] = (0.9, 0.999)  # Adam/AdamW momentum coefficients
    momentum: float = 0.9  # SGD momentum (Nesterov is used when > 0)
    schedule: str = "cosine"  # "constant" | "cosine" (after warmup) | "onecycle"
    warmup_epochs: float = 0.0  # linear warmup length in epochs (fractions allowed)
    label_smoothing: float = 0.0  # cross-entropy label smoothing in [0, 1)
    augmentation: str = "none"  # "none" | "flip_crop" | "strong"
    crop_padding: int = 0  # flip_crop: reflect-pad this many pixels before the random crop; 0 = image size / 16 (4 for 64x64)
    crop_per_batch: bool = False  # flip_crop: one crop offset for the whole batch instead of one per image
    mixup_alpha: float = 0.0  # Beta(alpha, alpha) mixup strength; 0 disables mixup
    cutmix_alpha: float = 0.0  # Beta(alpha, alpha) CutMix strength; 0 disables it (with mixup too: one of the two per batch)
    grad_clip: float | None = None  # max global gradient norm; None disables clipping
    seed: int = 0  # seeds weights init, shuffling and augmentation
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1" | "mps"
    amp: str = "auto"  # "auto" (bf16 autocast on CUDA only) | "off" | "bf16" | "native" (bf16 where the device has bf16 instructions)
    eval_batch_size: int = 512  # images per forward pass during validation
    max_train_batches_per_epoch: int | None = None  # cap on steps per epoch (tests, quick demos)
    min_seconds_per_step: float = 0.0  # demo pace: wait so each step takes at least this long (a fast GPU run stays watchable); 0 = full speed
    channels_last: bool = False  # conv models: store images and activations as NHWC (faster oneDNN convolutions on CPU), same maths
    data_on_device: bool = True  # copy the uint8 dataset to the device once, before training
    num_threads: int | None = None  # torch.set_num_threads on CPU (process-wide!); None leaves it alone
    cpu_nice: int = 0  # background jobs on CPU: raise the training thread's nice value by this (0-19) so pages run first
    teacher_run: str | None = None  # a distilled ViT: the finished CNN run whose answers its distillation token learns
    flip_tta: bool = False  # validation adds the logits of each picture and its mirror image (test-time augmentation)
    train_fraction: float = 1.0  # share of the training split to train on (seeded, class by class); the val split is unchanged
    record_timelapse: bool = True  # ViT runs: after init and every epoch, save 10 probe pictures' attention and logit lens (timelapse.jsonl)

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives lists back
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError with one clear sentence when a field is out of range."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if int(self.crop_padding) < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0, got {self.mixup_alpha}")
        if self.cutmix_alpha < 0:
            raise ValueError(f"cutmix_alpha must be >= 0, got {self.cutmix_alpha}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 <= int(self.cpu_nice) <= 19:
            raise ValueError(f"cpu_nice must be between 0 and 19, got {self.cpu_nice}")
        if not 0.0 <= self.min_seconds_per_step <= MAX_DEMO_PACE_S:
            raise ValueError(f"min_seconds_per_step must be between 0 and {MAX_DEMO_PACE_S:g}, got {self.min_seconds_per_step}")
        if self.max_train_batches_per_epoch is not None and self.max_train_batches_per_epoch < 1:
            raise ValueError("max_train_batches_per_epoch must be at least 1 or None")

    def to_dict(self) -> dict:
        """Plain JSON-friendly dict (tuples become lists)."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Inverse of `to_dict`; unknown keys (from newer/older versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
