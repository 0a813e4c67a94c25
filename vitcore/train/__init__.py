"""Training: the recipe (TrainConfig), augmentation, lr schedules, the loop (fit) and background jobs."""

from vitcore.train.config import TrainConfig
from vitcore.train.engine import FitResult, fit
from vitcore.train.job import JobSnapshot, TrainingJob

__all__ = ["TrainConfig", "FitResult", "fit", "JobSnapshot", "TrainingJob"]
