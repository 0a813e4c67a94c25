"""Model configurations: plain dataclasses that round-trip through JSON.

`ViTConfig` describes a Vision Transformer (the correct one, or the homework's
buggy encoder when `homework_bugs` is set), `CNNConfig` a convolutional
baseline. `config_to_dict` / `model_config_from_dict` turn them into JSON-safe
dicts and back (run folders store them in `config.json`).
"""

from dataclasses import asdict, dataclass, fields
from typing import Any

from vitcore.errors import VitcoreError
from vitcore.models.attention import ATTENTION_VARIANTS

ATTENTION_CHOICES = tuple(ATTENTION_VARIANTS)  # names accepted by ViTConfig.attention: the registry's keys
TOKENIZER_CHOICES = ("patch", "conv_stem")  # names accepted by ViTConfig.tokenizer
POOLING_CHOICES = ("cls", "seq")  # names accepted by ViTConfig.pooling
CNN_ARCH_CHOICES = ("hw4", "resnet", "resnet9")  # names accepted by CNNConfig.arch


@dataclass
class HomeworkBugs:
    """The mistakes of the seed homework's encoder (DLStudio), each an independent switch.

    True reproduces the homework's behaviour; False makes that part correct.
    """

    flattened_sequence_layers: bool = True  # Q/K/V and FFN Linears act on the whole flattened sequence (N*d), not per token
    softmax_over_queries: bool = True  # softmax normalises over the query axis (columns) instead of the key axis (rows)
    scale_after_softmax: bool = True  # 1/sqrt(d) multiplies the softmax output instead of the scores before it
    no_output_projection: bool = True  # head h only sees features h*d:(h+1)*d; heads are concatenated with no output Linear
    einsum_unsplit_heads: bool = False  # the einsum version never split heads: one head over the full hidden size


@dataclass
class ViTConfig:
    """A Vision Transformer for small square images."""

    kind: str = "vit"  # constant discriminator used by model_config_from_dict; always "vit"
    image_size: int = 64  # input images are (B, 3, image_size, image_size)
    patch_size: int = 16  # side of one patch; the token grid is image_size // patch_size per side
    in_channels: int = 3  # colour channels of the input images
    num_classes: int = 5  # number of output logits
    hidden_dim: int = 256  # token width D
    depth: int = 6  # number of encoder blocks
    num_heads: int = 8  # attention heads per block; hidden_dim must be divisible by it
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * hidden_dim
    attention: str = "fused"  # attention implementation: "loop", "einsum" or "fused" (same numbers, different code)
    dropout: float = 0.0  # dropout on embeddings, attention output projection and MLP
    attention_dropout: float = 0.0  # dropout on the attention weights
    drop_path: float = 0.0  # stochastic depth: maximum residual drop rate, rising linearly from 0 over the blocks
    tokenizer: str = "patch"  # "patch": one Conv2d with kernel=stride=patch_size; "conv_stem": small conv stack, same grid
    stem_width: int = 0  # conv_stem: channels of its first conv, doubling each step up to hidden_dim; 0 = hidden_dim / 2**(steps-1)
    pooling: str = "cls"  # "cls": classify the CLS token; "seq": attention-weighted mean of all tokens (no CLS)
    distillation: bool = False  # DeiT: a distillation token beside CLS learns a teacher's answers; inference averages both heads (CLS pooling)
    homework_bugs: HomeworkBugs | None = None  # not None -> build the homework-faithful encoder with these switches

    @property
    def grid_size(self) -> int:
        """Tokens per side of the patch grid (4 for 64 / 16)."""
        return self.image_size // self.patch_size


@dataclass
class CNNConfig:
    """A convolutional baseline."""

    kind: str = "cnn"  # constant discriminator used by model_config_from_dict; always "cnn"
    arch: str = "hw4"  # "hw4": the course's small HW4 net; "resnet": a small residual network; "resnet9": the ResNet-9 family
    num_classes: int = 5  # number of output logits
    image_size: int = 64  # input images are (B, 3, image_size, image_size)
    in_channels: int = 3  # colour channels of the input images
    width: int = 32  # base channel count of the residual network (doubles at every stage)
    dropout: float = 0.0  # dropout before the final classifier
    stem_stride: int = 1  # residual net: 2 halves the resolution in the first conv (about 4x less compute after it)


ModelConfig = ViTConfig | CNNConfig


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A JSON-safe dict of a model config (nested HomeworkBugs becomes a dict or None)."""
    return asdict(config)


def _known_fields(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """Keep only keys that are fields of `cls`; unknown keys are a clear error."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise VitcoreError(f"unknown {cls.__name__} fields {unknown}; known fields are {sorted(names)}")
    return dict(values)


def model_config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """Rebuild a ViTConfig or CNNConfig from `config_to_dict` output (dispatch on "kind")."""
    kind = values.get("kind", "vit")
    if kind == "vit":
        kwargs = _known_fields(ViTConfig, values)
        bugs = kwargs.get("homework_bugs")
        if isinstance(bugs, dict):
            kwargs["homework_bugs"] = HomeworkBugs(**_known_fields(HomeworkBugs, bugs))
        return ViTConfig(**kwargs)
    if kind == "cnn":
        return CNNConfig(**_known_fields(CNNConfig, values))
    raise VitcoreError(f"unknown model kind {kind!r}; expected 'vit' or 'cnn'")
