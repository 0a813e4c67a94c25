"""Every number the "Inside the ViT" walkthrough shows for one picture, from one pass through the model.

`walk_through(model, images)` follows a `VisionTransformer` from pixels to prediction and keeps what each
step of the walkthrough draws: the tokenizer's pictures (learned filters of a patch projection, or the
feature maps after each stride-2 convolution of a conv stem), the token matrix, the position-embedding
similarity, every layer's attention scores before and after the softmax, the mean attention distance, how
much each block's attention and MLP change the residual stream, the logit lens and the prediction.
It uses the model's own modules (`embed`, `blocks`, `read_out`), so its numbers are the model's. It follows the
homework's encoder (`HomeworkViT`) too, bugs and all: its weights are what multiplies V, whatever they sum to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from vitcore.explain.attention_distance import mean_attention_distance
from vitcore.explain.logit_lens import LogitLens
from vitcore.explain.position_similarity import position_similarity
from vitcore.models.homework_vit import HomeworkEncoderBlock, HomeworkViT
from vitcore.models.vit import VisionTransformer

STEM_MAPS_SHOWN = 8  # feature maps kept per conv-stem stage (the first channels)


@dataclass
class Walkthrough:
    """One picture's trip through a ViT (batch of one; numpy arrays for drawing)."""

    tokenizer: str  # "patch" or "conv_stem"
    patch_filters: np.ndarray | None  # (D, 3, p, p) the patch projection's learned filters (patch tokenizer), else None
    stem_maps: list[np.ndarray]  # per stride-2 stage: (STEM_MAPS_SHOWN, h, w) feature maps (conv stem), else []
    tokens: np.ndarray  # (N, D) the token matrix entering block 1 (prefix tokens first, position embeddings added)
    num_prefix_tokens: int  # tokens before the patches (1 with a CLS token, 0 with sequence pooling)
    grid_size: int  # g: patches per side
    position_similarity: np.ndarray  # (g*g, g, g) cosine similarity of each position embedding to every patch position
    scores: np.ndarray  # (L, H, N, N) Q·Kᵀ/√d of every layer and head, before the softmax; rows = queries
    attention: np.ndarray  # (L, H, N, N) the attention weights, the softmax of `scores` over the keys (rows sum to 1)
    attention_distance: np.ndarray  # (L, H) mean attention distance in patches
    attention_update: np.ndarray  # (L,) mean over tokens of |attention update| / |stream before the block|
    mlp_update: np.ndarray  # (L,) mean over tokens of |MLP update| / |stream after the attention|
    lens: np.ndarray  # (L, C) class probabilities the classifier reads after each block (the logit lens)
    settled_layer: int  # first layer (1-based) from which the final answer stays on top
    probabilities: np.ndarray  # (C,) the prediction's softmax
    bugs: tuple[str, ...] = ()  # the homework bugs the model reproduces (HomeworkBugs field names); () = a correct ViT


def _stem_maps(tokenizer: nn.Module, pixels: torch.Tensor) -> list[np.ndarray]:
    """Feature maps after each ReLU of a conv stem (one per stride-2 stage), the first channels only."""
    maps = []
    x = pixels  # (1, 3, S, S)
    for layer in tokenizer.stem:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            maps.append(x[0, :STEM_MAPS_SHOWN].float().numpy())  # (k, h, w)
    return maps


def _scores(block: nn.Module, normed: torch.Tensor) -> torch.Tensor:
    """(H, N, N) what the softmax of one block receives, for a batch of one.

    Every correct attention variant keeps q, k, v in one `qkv` Linear: Q·Kᵀ/√d. The homework's encoder block asks
    its own heads (unscaled Q·Kᵀ when its scale-after-softmax bug is on).
    """
    if is_homework_block(block):
        return block.attention.scores(normed)[0]  # (H, N, N)
    attention = block.attn
    dim, heads = attention.dim, attention.num_heads
    qkv = attention.qkv(normed)[0]  # (N, 3D): [ q (all heads) | k | v ]
    q = qkv[:, :dim].reshape(-1, heads, dim // heads).transpose(0, 1)  # (H, N, d)
    k = qkv[:, dim : 2 * dim].reshape(-1, heads, dim // heads).transpose(0, 1)  # (H, N, d)
    return q @ k.transpose(-2, -1) * attention.scale  # (H, N, N)


def _relative_norm(update: torch.Tensor, stream: torch.Tensor) -> float:
    """Mean over tokens of |update| / |stream| for a batch of one, (1, N, D) each."""
    return float((update.norm(dim=-1) / stream.norm(dim=-1).clamp_min(1e-12)).mean())


def is_homework_block(block: nn.Module) -> bool:
    """True for a block of the homework's encoder (its modules are `attention` and `ffn`, not `attn` and `mlp`)."""
    return isinstance(block, HomeworkEncoderBlock)


def _attend(block: nn.Module, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the attention's output (1, N, D), its weights (1, H, N, N)) from the block's own attention module."""
    if is_homework_block(block):
        return block.attention(normed)  # the homework's heads always return their weights
    return block.attn(normed, need_weights=True)


def _feed_forward(block: nn.Module) -> nn.Module:
    """The block's token-wise MLP (the homework calls it `ffn`)."""
    return block.ffn if is_homework_block(block) else block.mlp


def switched_on_bugs(model: nn.Module) -> tuple[str, ...]:
    """The names of the homework bugs this model reproduces (empty for a correct ViT)."""
    if not isinstance(model, HomeworkViT):
        return ()
    return tuple(name for name, value in asdict(model.bugs).items() if value)


def can_walk_through(model: nn.Module) -> bool:
    """True for a Vision Transformer, correct or the homework's encoder (not a CNN): what `walk_through` follows."""
    return isinstance(model, (VisionTransformer, HomeworkViT))


@torch.no_grad()
def walk_through(model: nn.Module, image: torch.Tensor) -> Walkthrough:
    """The walkthrough's numbers for one picture: `image` (1, 3, S, S) float in [0, 1], `model` a ViT (correct or homework) in eval mode."""
    tokenizer_name = model.config.tokenizer
    normalized = model.normalize(image)  # (1, 3, S, S)
    patch_filters = model.tokenizer.proj.weight.float().cpu().numpy() if tokenizer_name == "patch" else None  # (D, 3, p, p)
    stem_maps = _stem_maps(model.tokenizer, normalized) if tokenizer_name == "conv_stem" else []
    x = model.embed(image)  # (1, N, D): tokens + position embeddings
    tokens = x[0].float().numpy()  # (N, D)
    scores, weights, attention_updates, mlp_updates, readings = [], [], [], [], []
    for block in model.blocks:
        normed = block.norm1(x)  # (1, N, D)
        block_scores = _scores(block, normed)  # (H, N, N), shown before the softmax
        attended, block_weights = _attend(block, normed)  # (1, N, D), the variant's own (1, H, N, N)
        after_attention = x + attended  # (1, N, D)
        mlp_out = _feed_forward(block)(block.norm2(after_attention))  # (1, N, D)
        attention_updates.append(_relative_norm(attended, x))
        mlp_updates.append(_relative_norm(mlp_out, after_attention))
        x = after_attention + mlp_out  # (1, N, D): the stream after this block (drop-path is off in eval mode)
        scores.append(block_scores)
        weights.append(block_weights[0])  # (H, N, N)
        readings.append(model.read_out(x))  # (1, C)
    logits = torch.stack(readings, dim=1)  # (1, L, C)
    lens = LogitLens(logits=logits, probabilities=logits.softmax(dim=-1))
    attention = torch.stack(weights)  # (L, H, N, N)
    return Walkthrough(
        tokenizer=tokenizer_name,
        patch_filters=patch_filters,
        stem_maps=stem_maps,
        tokens=tokens,
        num_prefix_tokens=model.num_prefix_tokens,
        grid_size=model.grid_size,
        position_similarity=position_similarity(model.pos_embed, model.num_prefix_tokens, model.grid_size).numpy(),
        scores=torch.stack(scores).float().numpy(),
        attention=attention.float().numpy(),
        attention_distance=mean_attention_distance([layer[None] for layer in attention], model.num_prefix_tokens).numpy(),
        attention_update=np.array(attention_updates),
        mlp_update=np.array(mlp_updates),
        lens=lens.probabilities[0].float().numpy(),
        settled_layer=lens.settled_layer()[0],
        probabilities=lens.probabilities[0, -1].float().numpy(),
        bugs=switched_on_bugs(model),
    )
