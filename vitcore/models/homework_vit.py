"""The seed homework's ViT encoder (DLStudio's BasicEncoder), each bug a switch.

The homework (Purdue ECE 60146 HW9) built its ViT from DLStudio's transformer
encoder. Its structure, per encoder block (pre-LN, ReLU feed-forward of
width 2D):

    x = x + SelfAttention(LN(x))
    x = x + W2(ReLU(W1(LN(x))))

carries five mistakes, each reproduced here behind a `HomeworkBugs` switch
(False = that part is correct):

flattened_sequence_layers
    Every Q/K/V Linear of a head maps the *flattened* sequence,
    Linear(N*d, N*d), and the FFN is Linear(N*D, 2*N*D) then Linear(2*N*D, N*D).
    Token i's query then depends on every other token before any attention,
    the model only accepts exactly N tokens, and the parameter count
    explodes (~497M at 64/16/256/6 layers/8 heads instead of ~4.9M).
softmax_over_queries
    `nn.Softmax(dim=1)` on a (B, N_query, N_key) matrix normalises over the
    queries: columns sum to 1, rows (what a query token receives) do not.
scale_after_softmax
    1/sqrt(d) multiplies the result of softmax(QK^T) @ V instead of the
    scores, so the softmax sees unscaled scores (it saturates) and the weights
    that actually multiply V sum to 1/sqrt(d) instead of 1.
no_output_projection
    Head h only sees input features h*d:(h+1)*d (the input is sliced,
    not projected) and the heads are concatenated with no output Linear.
einsum_unsplit_heads
    The einsum version never split into heads: one head of size D.

Attention weights returned with `return_attention=True` are exactly the
matrix that multiplies V (including the 1/sqrt(d) factor when it comes after
the softmax), rows = queries, shape (B, H, N, N) (H = 1 for unsplit heads).
"""

import math

import torch
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models.config import HomeworkBugs, ViTConfig
from vitcore.models.normalize import Normalize
from vitcore.models.vit import PatchEmbedding

HOMEWORK_FFN_EXPANSION = 2  # DLStudio's feed-forward hidden width is 2 * D (config.mlp_ratio is not used here)


class HomeworkAttentionHead(nn.Module):
    """One DLStudio attention head with its own WQ, WK, WV Linears."""

    def __init__(self, seq_len: int, in_dim: int, head_dim: int, bugs: HomeworkBugs):
        super().__init__()
        self.seq_len = seq_len  # N, fixed when the Linears act on the flattened sequence
        self.head_dim = head_dim  # d
        self.bugs = bugs  # which mistakes to reproduce
        if bugs.flattened_sequence_layers:
            # Bug: one Linear over the whole flattened sequence, (N*in) -> (N*d).
            width_in, width_out = seq_len * in_dim, seq_len * head_dim
        else:
            # Correct: the same small Linear applied to every token, in -> d.
            width_in, width_out = in_dim, head_dim
        self.WQ = nn.Linear(width_in, width_out)
        self.WK = nn.Linear(width_in, width_out)
        self.WV = nn.Linear(width_in, width_out)

    def _project(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        """x (B, N, in) -> (B, N, d) through `layer`, flattened or token-wise."""
        if self.bugs.flattened_sequence_layers:
            batch = x.shape[0]
            return layer(x.reshape(batch, -1)).view(batch, self.seq_len, self.head_dim)  # (B, N, d)
        return layer(x)  # (B, N, d)

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The head's queries, keys and values, each (B, N, d)."""
        return self._project(self.WQ, x), self._project(self.WK, x), self._project(self.WV, x)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """(B, N, N) what the softmax receives: Q·Kᵀ/√d, or Q·Kᵀ unscaled with the scale-after-softmax bug."""
        scores = q @ k.transpose(-2, -1)  # (B, N, N), row i = query i
        if not self.bugs.scale_after_softmax:
            scores = scores / math.sqrt(self.head_dim)  # correct: scale the scores before the softmax
        return scores

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, in) -> (z (B, N, d), weights (B, N, N) that multiply V)."""
        q, k, v = self.project_qkv(x)  # (B, N, d) each
        scale = 1.0 / math.sqrt(self.head_dim)
        scores = self.scores(q, k)  # (B, N, N)
        softmax_axis = 1 if self.bugs.softmax_over_queries else -1  # bug: dim=1 is the query axis
        weights = scores.softmax(dim=softmax_axis)  # (B, N, N)
        if self.bugs.scale_after_softmax:
            # DLStudio computes coeff * (softmax @ V); that equals (coeff * softmax) @ V.
            weights = weights * scale  # (B, N, N), sums to 1/sqrt(d)
        return weights @ v, weights  # (B, N, d), (B, N, N)


class HomeworkSelfAttention(nn.Module):
    """The heads of one block, run one after the other and concatenated."""

    def __init__(self, seq_len: int, dim: int, num_heads: int, bugs: HomeworkBugs):
        super().__init__()
        if dim % num_heads != 0:
            raise VitcoreError(f"hidden_dim {dim} must be divisible by num_heads {num_heads}")
        self.bugs = bugs  # which mistakes to reproduce
        self.num_heads = 1 if bugs.einsum_unsplit_heads else num_heads  # H (1 when heads were never split)
        self.head_dim = dim // self.num_heads  # d
        # Bug: each head only gets its own slice of the features; correct: each head sees all D features.
        head_in_dim = self.head_dim if bugs.no_output_projection else dim
        self.heads = nn.ModuleList(
            HomeworkAttentionHead(seq_len, head_in_dim, self.head_dim, bugs) for _ in range(self.num_heads)
        )
        # Bug: no output projection; correct: a Linear(D, D) mixes the concatenated heads.
        self.proj = None if bugs.no_output_projection else nn.Linear(dim, dim)

    def head_input(self, x: torch.Tensor, h: int) -> torch.Tensor:
        """What head h reads: its own slice of the features (bug), or all of them (correct)."""
        if self.bugs.no_output_projection:
            return x[:, :, h * self.head_dim : (h + 1) * self.head_dim]  # (B, N, d) slice of features
        return x  # (B, N, D)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, N, N) every head's scores as its softmax receives them (see HomeworkAttentionHead.scores)."""
        per_head = [head.scores(*head.project_qkv(self.head_input(x, h))[:2]) for h, head in enumerate(self.heads)]
        return torch.stack(per_head, dim=1)  # (B, H, N, N)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, D) -> (out (B, N, D), weights (B, H, N, N))."""
        outputs, weights = [], []
        for h, head in enumerate(self.heads):
            z, w = head(self.head_input(x, h))  # (B, N, d), (B, N, N)
            outputs.append(z)
            weights.append(w)
        out = torch.cat(outputs, dim=-1)  # (B, N, D)
        if self.proj is not None:
            out = self.proj(out)  # (B, N, D)
        return out, torch.stack(weights, dim=1)  # (B, N, D), (B, H, N, N)


class HomeworkFeedForward(nn.Module):
    """DLStudio's W1-ReLU-W2 feed-forward, over the flattened sequence (bug) or token-wise (correct)."""

    def __init__(self, seq_len: int, dim: int, flattened: bool):
        super().__init__()
        self.seq_len = seq_len  # N
        self.dim = dim  # D
        self.flattened = flattened  # True reproduces the bug
        hidden = HOMEWORK_FFN_EXPANSION * dim
        if flattened:
            self.W1 = nn.Linear(seq_len * dim, seq_len * hidden)  # (N*D) -> (N*2D)
            self.W2 = nn.Linear(seq_len * hidden, seq_len * dim)  # (N*2D) -> (N*D)
        else:
            self.W1 = nn.Linear(dim, hidden)  # D -> 2D, the same for every token
            self.W2 = nn.Linear(hidden, dim)  # 2D -> D
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.flattened:
            batch = x.shape[0]
            flat = self.W2(self.act(self.W1(x.reshape(batch, -1))))  # (B, N*D)
            return flat.view(batch, self.seq_len, self.dim)  # (B, N, D)
        return self.W2(self.act(self.W1(x)))  # (B, N, D)


class HomeworkEncoderBlock(nn.Module):
    """DLStudio's BasicEncoder: x + attn(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, seq_len: int, dim: int, num_heads: int, bugs: HomeworkBugs):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = HomeworkSelfAttention(seq_len, dim, num_heads, bugs)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = HomeworkFeedForward(seq_len, dim, bugs.flattened_sequence_layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attention(self.norm1(x))  # (B, N, D), (B, H, N, N)
        x = x + attended  # (B, N, D)
        x = x + self.ffn(self.norm2(x))  # (B, N, D)
        return x, weights


class HomeworkViT(nn.Module):
    """The homework's ViT: conv patch embedding, CLS token, learned positions, DLStudio encoder blocks.

    Uses image_size, patch_size, in_channels, num_classes, hidden_dim, depth,
    num_heads and homework_bugs from the config; attention/dropout/drop_path/
    mlp_ratio do not apply to the homework's encoder.
    """

    def __init__(self, config: ViTConfig):
        super().__init__()
        if config.image_size % config.patch_size != 0:
            raise VitcoreError(f"image_size {config.image_size} must be divisible by patch_size {config.patch_size}")
        if config.tokenizer != "patch" or config.pooling != "cls":
            raise VitcoreError("the homework ViT only supports tokenizer='patch' with pooling='cls'")
        bugs = config.homework_bugs if config.homework_bugs is not None else HomeworkBugs()
        self.config = config  # the ViTConfig this model was built from
        self.bugs = bugs  # the HomeworkBugs switches in force
        self.grid_size = config.image_size // config.patch_size  # tokens per side
        self.num_prefix_tokens = 1  # the CLS token
        self.seq_len = 1 + self.grid_size**2  # N, fixed (17 for 64/16)
        dim = config.hidden_dim

        self.normalize = Normalize(config.in_channels)
        self.tokenizer = PatchEmbedding(config.in_channels, dim, config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))  # (1, 1, D)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.seq_len, dim))  # (1, N, D)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(
            HomeworkEncoderBlock(self.seq_len, dim, config.num_heads, bugs) for _ in range(config.depth)
        )
        self.head = nn.Linear(dim, config.num_classes)  # classifies the CLS token's final state

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) float in [0, 1] -> the token sequence entering block 1, (B, N, D)."""
        tokens = self.tokenizer(self.normalize(images))  # (B, g*g, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([cls, tokens], dim=1) + self.pos_embed  # (B, N, D)

    def read_out(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier on a stream (B, N, D): the head reads the CLS token directly (no final norm) -> (B, classes)."""
        return self.head(x[:, 0])  # (B, num_classes)

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """images (B, C, S, S) float in [0, 1] -> logits (B, classes) [, list of (B, H, N, N) per layer]."""
        x = self.embed(images)  # (B, N, D)
        attentions: list[torch.Tensor] = []
        for block in self.blocks:
            x, weights = block(x)  # (B, N, D), (B, H, N, N)
            attentions.append(weights)
        logits = self.read_out(x)  # (B, num_classes)
        if return_attention:
            return logits, attentions
        return logits
