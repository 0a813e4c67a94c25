"""Gradient-weighted attention relevance (Chefer, Gur and Wolf 2021, "Generic Attention-model Explainability").

Rollout averages attention whatever the class; this method asks which attention mattered for one class:
1. run the model once, keeping every layer's attention A_l (B=1, H, N, N) in the autograd graph;
2. back-propagate the class score y_c to get each A_l's gradient;
3. per layer, keep the positive part of gradient x attention and average the heads:
   Ā_l = mean_h (∇A_l ⊙ A_l)⁺;
4. start from the identity (every token is relevant to itself) and add each layer's contribution in order:
   R ← R + Ā_l R;
5. read the patches from R - I (what the layers added): the CLS row over the patch columns, or the mean of all
   rows with sequence pooling.

The model's own attention modules compute A_l (every variant returns the weights it multiplied V with
when asked for them), so this works for `loop`, `einsum` and `fused`, both poolings and the homework encoder.
"""

from __future__ import annotations

import torch
from torch import nn


def attention_relevance(model: nn.Module, image: torch.Tensor, target: int) -> torch.Tensor:
    """(g, g) relevance of each patch for class `target`, one image (1, 3, S, S) in [0, 1]; non-negative."""
    model.zero_grad(set_to_none=True)
    with torch.enable_grad():
        logits, attentions = model(image, return_attention=True)  # (1, C), L x (1, H, N, N) in the graph
        gradients = torch.autograd.grad(logits[0, target], attentions)  # L x (1, H, N, N)
    tokens = attentions[0].shape[-1]
    relevance = torch.eye(tokens)  # (N, N) R: every token starts relevant to itself
    for weights, gradient in zip(attentions, gradients):
        layer = (gradient[0] * weights[0]).clamp_min(0).mean(dim=0).detach().float().cpu()  # (N, N) Ā_l
        relevance = relevance + layer @ relevance  # (N, N)
    gained = relevance - torch.eye(tokens)  # (N, N) what the layers added (the identity says nothing about the picture)
    prefix, grid = int(model.num_prefix_tokens), int(model.grid_size)
    patch_relevance = gained[0, prefix:] if prefix else gained.mean(dim=0)  # (g*g,)
    return patch_relevance.clamp_min(0).reshape(grid, grid)  # (g, g)
