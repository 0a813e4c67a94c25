"""A small, correct Vision Transformer (pre-LN, as in timm / lucidrains).

Pipeline for a (B, 3, 64, 64) batch with the default config:

    Normalize                      (B, 3, 64, 64)
    tokenizer (patch or conv stem) (B, 16, D)       4 x 4 grid of tokens
    + CLS token                    (B, 17, D)       (not with sequence pooling)
    + learned position embedding   (B, 17, D)
    depth x EncoderBlock           (B, 17, D)       x + attn(LN(x)); x + mlp(LN(x))
    final LayerNorm                (B, 17, D)
    pool (CLS token or seq-pool)   (B, D)
    Linear head                    (B, num_classes)
"""

import math

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from vitcore.errors import VitcoreError
from vitcore.models.attention import ATTENTION_VARIANTS, build_attention
from vitcore.models.config import POOLING_CHOICES, TOKENIZER_CHOICES, ViTConfig
from vitcore.models.normalize import Normalize


class PatchEmbedding(nn.Module):
    """Cut the image into patch_size x patch_size patches and embed each with one Conv2d."""

    def __init__(self, in_channels: int, hidden_dim: int, patch_size: int):
        super().__init__()
        # kernel = stride = patch size: each output pixel sees exactly one patch.
        self.proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        grid = self.proj(images)  # (B, D, g, g)
        return grid.flatten(2).transpose(1, 2)  # (B, g*g, D)


class ConvStemTokenizer(nn.Module):
    """A small stack of stride-2 3x3 conv-BN-ReLU layers reaching the same grid as the patch embedding.

    "Early convolutions help transformers see better" (Xiao et al., 2021):
    log2(patch_size) stride-2 convolutions, then a 1x1 conv to the token width.
    The widths double at each step and end at hidden_dim (20, 40, 80, 160 for D = 160);
    `first_width` > 0 starts wider (32 gives 32, 64, 128, 160: more convolution before the tokens).
    """

    def __init__(self, in_channels: int, hidden_dim: int, patch_size: int, first_width: int = 0):
        super().__init__()
        steps = int(round(math.log2(patch_size)))
        if 2**steps != patch_size or steps < 1:
            raise VitcoreError(f"the conv stem needs a power-of-two patch size, got {patch_size}")
        layers: list[nn.Module] = []
        channels = in_channels
        for step in range(1, steps + 1):
            if first_width > 0:
                out_channels = min(first_width * 2 ** (step - 1), hidden_dim)  # start at first_width, double, cap at D
            else:
                out_channels = max(hidden_dim // 2 ** (steps - step), 8)  # widths double up to hidden_dim
            layers += [
                nn.Conv2d(channels, out_channels, kernel_size=3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            channels = out_channels
        self.stem = nn.Sequential(*layers)
        self.proj = nn.Conv2d(channels, hidden_dim, kernel_size=1)  # final 1x1 conv to the token width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        grid = self.proj(self.stem(images))  # (B, D, g, g)
        return grid.flatten(2).transpose(1, 2)  # (B, g*g, D)


class MLP(nn.Module):
    """Token-wise feed-forward network: Linear(D, r*D) - GELU - Linear(r*D, D)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.drop(self.act(self.fc1(x)))  # (B, N, r*D)
        return self.drop(self.fc2(hidden))  # (B, N, D)


class EncoderBlock(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + mlp(LN(x)), each residual with DropPath."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        attention: str = "fused",
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = build_attention(attention, dim, num_heads, attention_dropout=attention_dropout, proj_dropout=dropout)
        self.drop_path1 = StochasticDepth(drop_path, mode="row")  # drops the whole residual branch per sample
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout=dropout)
        self.drop_path2 = StochasticDepth(drop_path, mode="row")

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, num_queries: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, N, D) -> (x (B, Q, D), attention weights (B, H, Q, N) or None).

        Q = N, unless `num_queries` keeps only the first Q tokens' outputs (every attention variant takes it).
        """
        attended, weights = self.attn(self.norm1(x), need_weights=need_weights, num_queries=num_queries)  # (B, Q, D)
        x = x[:, :num_queries]  # (B, Q, D): the residual stream of the tokens that asked (all N by default)
        x = x + self.drop_path1(attended)  # (B, Q, D)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))  # (B, Q, D)
        return x, weights


class SequencePooling(nn.Module):
    """Attention-weighted mean of all tokens (Compact Transformers, Hassani et al. 2021)."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Linear(dim, 1)  # one importance score per token

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weights = self.score(tokens).softmax(dim=1)  # (B, N, 1), sums to 1 over tokens
        return (weights * tokens).sum(dim=1)  # (B, D)


def validate_vit_config(config: ViTConfig) -> None:
    """Raise a clear error when the config cannot describe a working ViT."""
    if config.hidden_dim % config.num_heads != 0:
        raise VitcoreError(
            f"hidden_dim {config.hidden_dim} must be divisible by num_heads {config.num_heads}"
        )
    if config.image_size % config.patch_size != 0:
        raise VitcoreError(
            f"image_size {config.image_size} must be divisible by patch_size {config.patch_size}"
        )
    if config.attention not in ATTENTION_VARIANTS:
        raise VitcoreError(
            f"unknown attention implementation {config.attention!r}; choose one of {list(ATTENTION_VARIANTS)}"
        )
    if config.tokenizer not in TOKENIZER_CHOICES:
        raise VitcoreError(f"unknown tokenizer {config.tokenizer!r}; choose one of {list(TOKENIZER_CHOICES)}")
    if config.stem_width < 0:
        raise VitcoreError(f"stem_width must be 0 (the default widths) or a channel count, got {config.stem_width}")
    if config.pooling not in POOLING_CHOICES:
        raise VitcoreError(f"unknown pooling {config.pooling!r}; choose one of {list(POOLING_CHOICES)}")
    if config.depth < 1:
        raise VitcoreError(f"depth must be at least 1, got {config.depth}")
    if config.distillation and config.pooling != "cls":
        raise VitcoreError("a distillation token sits beside the CLS token: use pooling='cls' with distillation")


class VisionTransformer(nn.Module):
    """The correct ViT. `forward(images, return_attention=False)`; see the module docstring."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        validate_vit_config(config)
        self.config = config  # the ViTConfig this model was built from
        self.grid_size = config.image_size // config.patch_size  # tokens per side (4 for 64/16)
        # Tokens before the patches: CLS (and the distillation token with DeiT), none with sequence pooling.
        self.num_prefix_tokens = (2 if config.distillation else 1) if config.pooling == "cls" else 0
        num_tokens = self.num_prefix_tokens + self.grid_size**2  # N (17 by default)
        dim = config.hidden_dim

        self.normalize = Normalize(config.in_channels)
        if config.tokenizer == "patch":
            self.tokenizer = PatchEmbedding(config.in_channels, dim, config.patch_size)
        else:
            self.tokenizer = ConvStemTokenizer(config.in_channels, dim, config.patch_size, config.stem_width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if self.num_prefix_tokens else None  # (1, 1, D)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim)) if config.distillation else None  # (1, 1, D) DeiT
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))  # (1, N, D)
        self.pos_drop = nn.Dropout(config.dropout)

        # Stochastic depth rate grows linearly from 0 (first block) to drop_path (last block).
        rates = [config.drop_path * i / max(config.depth - 1, 1) for i in range(config.depth)]
        self.blocks = nn.ModuleList(
            EncoderBlock(
                dim,
                config.num_heads,
                mlp_ratio=config.mlp_ratio,
                attention=config.attention,
                dropout=config.dropout,
                attention_dropout=config.attention_dropout,
                drop_path=rate,
            )
            for rate in rates
        )
        self.norm = nn.LayerNorm(dim)
        self.pool = SequencePooling(dim) if config.pooling == "seq" else None
        self.head = nn.Linear(dim, config.num_classes)
        self.head_dist = nn.Linear(dim, config.num_classes) if config.distillation else None  # reads the distillation token
        # The heads read only the prefix tokens, so with the fused fast path the last block
        # computes their rows alone (same logits, about 1/depth less work).
        self.last_block_cls_only = config.pooling == "cls" and config.attention == "fused"
        self._init_weights()

    def _init_weights(self) -> None:
        """timm-style init: truncated normal (std 0.02) for Linears, position embedding and CLS token."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for token in (self.cls_token, self.dist_token):
            if token is not None:
                nn.init.trunc_normal_(token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) float in [0, 1] -> the token sequence entering the first block, (B, N, D)."""
        tokens = self.tokenizer(self.normalize(images))  # (B, g*g, D)
        prefix = [token.expand(tokens.shape[0], -1, -1) for token in (self.cls_token, self.dist_token) if token is not None]
        tokens = torch.cat([*prefix, tokens], dim=1)  # (B, N, D): [CLS, (DIST,) patches]
        return self.pos_drop(tokens + self.pos_embed)  # (B, N, D)

    def read_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Final norm, pooling and head(s) on a stream (B, N, D): (class logits (B, C), distillation logits (B, C) or None)."""
        x = self.norm(x)  # (B, N, D), or (B, prefix, D) after a prefix-rows-only last block
        pooled = x[:, 0] if self.pool is None else self.pool(x)  # (B, D)
        distilled = self.head_dist(x[:, 1]) if self.head_dist is not None else None  # (B, C) from the distillation token
        return self.head(pooled), distilled

    def read_out(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier: final norm, pooling (the CLS token, or sequence pooling) and head. (B, N, D) -> (B, classes).

        With a distillation token the answer is the mean of the two heads' logits (DeiT). The logit lens
        (vitcore.explain.logit_lens) applies it to the stream after every block, not only the last.
        """
        class_logits, distilled = self.read_heads(x)  # (B, C), (B, C) or None
        return class_logits if distilled is None else (class_logits + distilled) / 2

    def encode(self, images: torch.Tensor, return_attention: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """images (B, C, S, S) in [0, 1] -> (the stream after the last block, [per-layer (B, H, N, N)] when asked)."""
        x = self.embed(images)  # (B, N, D)
        attentions: list[torch.Tensor] = []
        last_index = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            prefix_rows_only = self.last_block_cls_only and index == last_index and not return_attention
            # x: (B, N, D), or (B, prefix, D) after a prefix-rows-only last block; weights: (B, H, N, N) or None
            x, weights = block(x, need_weights=return_attention, num_queries=self.num_prefix_tokens if prefix_rows_only else None)
            if return_attention:
                attentions.append(weights)
        return x, attentions

    def forward_heads(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Both heads' logits, for training a distilled ViT: ((B, C) from CLS, (B, C) from the distillation token or None)."""
        return self.read_heads(self.encode(images)[0])

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """images (B, C, S, S) float in [0, 1] -> logits (B, classes) [, list of (B, H, N, N) per layer]."""
        x, attentions = self.encode(images, return_attention)  # (B, N or prefix, D)
        logits = self.read_out(x)  # (B, num_classes)
        if return_attention:
            return logits, attentions
        return logits
