"""Evaluate a trained classifier on one split: accuracy, loss, confusion matrix, per-class scores.

`loss_and_accuracy` is the light version used after every training epoch;
`evaluate` adds scikit-learn's confusion matrix and precision/recall/F1 and
the list of misclassified images (most confident mistakes first).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from vitcore.data.dataset import ImageSplit, to_float


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """bf16 autocast on `device` when `dtype` is given, else a no-op context."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    split: ImageSplit,
    device: torch.device,
    batch_size: int = 256,
    autocast_dtype: torch.dtype | None = None,
    flip_tta: bool = False,
) -> torch.Tensor:
    """Float32 logits for every image of `split`, on the CPU: (N, C).

    `flip_tta`: test-time augmentation, the logits of each picture and of its mirror image added together.
    """
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(split), batch_size):
            batch_uint8 = split.images[start : start + batch_size].to(device, non_blocking=True)  # (B, 3, S, S)
            with autocast_context(device, autocast_dtype):
                pictures = to_float(batch_uint8)  # (B, 3, S, S)
                logits = model(pictures)  # (B, C)
                if flip_tta:
                    logits = logits + model(pictures.flip(-1))  # (B, C): plus the left-right mirror's logits
            outputs.append(logits.float().cpu())
    finally:
        model.train(was_training)
    if not outputs:
        return torch.zeros(0, 0)
    return torch.cat(outputs)  # (N, C)


def loss_and_accuracy(
    model: torch.nn.Module,
    split: ImageSplit,
    device: torch.device,
    batch_size: int = 512,
    autocast_dtype: torch.dtype | None = None,
    flip_tta: bool = False,
) -> tuple[float, float]:
    """Mean cross-entropy (no label smoothing) and accuracy on `split` (with flip_tta: of the summed logits)."""
    if len(split) == 0:
        return float("nan"), float("nan")
    logits = predict_logits(model, split, device, batch_size, autocast_dtype, flip_tta)  # (N, C)
    labels = split.labels.cpu()  # (N,)
    loss = F.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return loss, accuracy


@dataclass
class EvalResult:
    """Everything the evaluation page shows about one split."""

    accuracy: float  # fraction of correctly classified images
    loss: float  # mean cross-entropy
    class_names: list[str]  # label i means class_names[i]
    confusion: np.ndarray  # (C, C) counts; rows = true class, columns = predicted class
    per_class: dict[str, list]  # columns "class", "precision", "recall", "f1", "support" (DataFrame-ready)
    predictions: np.ndarray  # (N,) predicted class index
    probabilities: np.ndarray  # (N, C) softmax probabilities
    labels: np.ndarray  # (N,) true class index
    misclassified: list[dict] = field(default_factory=list)  # {"index","name","true","pred","confidence"}, most confident first

    def to_dict(self) -> dict:
        """JSON-friendly summary (no per-image probabilities)."""
        return {
            "accuracy": float(self.accuracy),
            "loss": float(self.loss),
            "class_names": list(self.class_names),
            "confusion": self.confusion.tolist(),
            "per_class": {key: [v.item() if hasattr(v, "item") else v for v in values] for key, values in self.per_class.items()},
            "misclassified": list(self.misclassified),
        }


def evaluate(
    model: torch.nn.Module,
    split: ImageSplit,
    class_names: list[str],
    device: torch.device,
    batch_size: int = 256,
    autocast_dtype: torch.dtype | None = None,
    flip_tta: bool = False,
) -> EvalResult:
    """Run `model` over `split` and compute accuracy, loss, confusion and per-class scores (flip_tta: see predict_logits)."""
    num_classes = len(class_names)
    logits = predict_logits(model, split, device, batch_size, autocast_dtype, flip_tta)  # (N, C)
    labels = split.labels.cpu()  # (N,)
    if len(split) == 0:
        logits = torch.zeros(0, num_classes)
    probabilities = logits.softmax(dim=1)  # (N, C)
    predictions = probabilities.argmax(dim=1)  # (N,)
    loss = F.cross_entropy(logits, labels).item() if len(split) else float("nan")
    accuracy = (predictions == labels).float().mean().item() if len(split) else float("nan")

    label_ids = list(range(num_classes))
    true_np, pred_np = labels.numpy(), predictions.numpy()
    confusion = confusion_matrix(true_np, pred_np, labels=label_ids)  # (C, C)
    precision, recall, f1, support = precision_recall_fscore_support(
        true_np, pred_np, labels=label_ids, zero_division=0
    )
    per_class = {
        "class": list(class_names),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }
    confidence = probabilities.max(dim=1).values  # (N,)
    wrong_indices = torch.nonzero(predictions != labels).flatten().tolist()
    misclassified = [
        {
            "index": index,
            "name": split.names[index] if index < len(split.names) else str(index),
            "true": class_names[int(labels[index])],
            "pred": class_names[int(predictions[index])],
            "confidence": float(confidence[index]),
        }
        for index in wrong_indices
    ]
    misclassified.sort(key=lambda item: item["confidence"], reverse=True)
    return EvalResult(
        accuracy=accuracy,
        loss=loss,
        class_names=list(class_names),
        confusion=confusion,
        per_class=per_class,
        predictions=pred_np,
        probabilities=probabilities.numpy(),
        labels=true_np,
        misclassified=misclassified,
    )
