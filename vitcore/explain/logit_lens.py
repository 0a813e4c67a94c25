"""The logit lens: what the classifier would answer if it read the residual stream after each block.

A ViT keeps one running sum per token (the residual stream); every block adds its attention and MLP updates
to it, and only after the last block does the classifier (final LayerNorm, CLS token or sequence pooling,
linear head) read it. Applying that same classifier to the stream after block 1, 2, ... shows from which
layer on the model "knows" its answer (nostalgebraist 2020, for language models; here for a ViT).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LogitLens:
    """The classifier's reading after each block, for a batch of pictures."""

    logits: torch.Tensor  # (B, L, C): layer l's row is the head applied after block l + 1; the last row = the model's logits
    probabilities: torch.Tensor  # (B, L, C): softmax over the classes of each row

    def settled_layer(self) -> list[int]:
        """Per picture: the first layer (1-based) from which the final answer stays the most likely class."""
        answers = self.logits.argmax(dim=-1)  # (B, L) the top class after each layer
        final = answers[:, -1:]  # (B, 1)
        agrees = answers == final  # (B, L)
        layers = agrees.shape[1]
        settled = []
        for row in agrees.tolist():
            first = layers  # the last layer always agrees with itself
            for layer in range(layers - 1, -1, -1):
                if not row[layer]:
                    break
                first = layer + 1
            settled.append(first)
        return settled


@torch.no_grad()
def logit_lens(model, images: torch.Tensor) -> LogitLens:
    """The logit lens of a `VisionTransformer` (CLS or sequence pooling) on float images (B, 3, S, S) in [0, 1].

    Uses the model's own `embed`, blocks and `read_out`, so its last layer equals `model(images)` (tested for
    every attention variant and both poolings). The model is used as it is: call `model.eval()` first.
    """
    x = model.embed(images)  # (B, N, D): the stream before the first block
    readings = []
    for block in model.blocks:
        x, _ = block(x)  # (B, N, D): the stream after this block
        readings.append(model.read_out(x))  # (B, C)
    logits = torch.stack(readings, dim=1)  # (B, L, C)
    return LogitLens(logits=logits, probabilities=logits.softmax(dim=-1))
