"""What a CNN looked at: Grad-CAM and integrated gradients, through captum.

- Grad-CAM (Selvaraju et al. 2017): weigh each channel of the last convolutional stage by the mean gradient
  of the class score over that channel, add the channels up, keep the positive part. Coarse (the stage's own
  resolution, 16x16 for the HW4 net, 8x8 or 4x4 for the residual net) but class-specific.
- Integrated gradients (Sundararajan et al. 2017): average the gradient of the class score along the straight
  path from a black picture to this one, times the pixel difference; one value per pixel (the magnitude,
  summed over the colour channels).

captum (`LayerGradCam`, `IntegratedGradients`) computes both; this file only picks the layer and shapes the
result as (h, w) tensors for vitcore.explain.methods.
"""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients, LayerGradCam
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models.cnn import HW4CNN, ResidualCNN, ResNet9

INTEGRATED_GRADIENT_STEPS = 32  # points on the path from the black picture to the picture


def last_conv_stage(model: nn.Module) -> nn.Module:
    """The module whose output Grad-CAM weighs: the last convolution of the HW4 net, the last block of a residual net."""
    if isinstance(model, HW4CNN):
        convolutions = [module for module in model.features if isinstance(module, nn.Conv2d)]
        return convolutions[-1]
    if isinstance(model, (ResidualCNN, ResNet9)):
        return model.stages[-1]  # the last residual block / pair
    raise VitcoreError("Grad-CAM needs a CNN of this project (the HW4 net or a residual net).")


def grad_cam(model: nn.Module, image: torch.Tensor, target: int) -> torch.Tensor:
    """(h, w) Grad-CAM of class `target` for one image (1, 3, S, S) in [0, 1], at the last stage's resolution."""
    cam = LayerGradCam(model, last_conv_stage(model)).attribute(image, target=target, relu_attributions=True)  # (1, 1, h, w)
    return cam[0, 0].detach()  # (h, w)


def integrated_gradients(model: nn.Module, image: torch.Tensor, target: int, steps: int = INTEGRATED_GRADIENT_STEPS) -> torch.Tensor:
    """(S, S) integrated-gradients magnitude of class `target` for one image (1, 3, S, S), from a black baseline."""
    attributions = IntegratedGradients(model).attribute(
        image, baselines=torch.zeros_like(image), target=target, n_steps=steps, internal_batch_size=steps
    )  # (1, 3, S, S)
    return attributions[0].abs().sum(dim=0).detach()  # (S, S)
