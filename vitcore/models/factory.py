"""Build any model from its config, and count parameters."""

from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models.cnn import build_cnn
from vitcore.models.config import CNNConfig, ViTConfig, config_to_dict, model_config_from_dict
from vitcore.models.homework_vit import HomeworkViT
from vitcore.models.vit import VisionTransformer

__all__ = ["build_model", "count_parameters", "config_to_dict", "model_config_from_dict"]


def build_model(config: ViTConfig | CNNConfig) -> nn.Module:
    """VisionTransformer, HomeworkViT (when config.homework_bugs is set) or a CNN.

    Build on a device with `with torch.device(device): build_model(cfg)`, or
    call `.to(device)` afterwards. The meta device builds without memory.
    """
    if isinstance(config, ViTConfig):
        return HomeworkViT(config) if config.homework_bugs is not None else VisionTransformer(config)
    if isinstance(config, CNNConfig):
        return build_cnn(config)
    raise VitcoreError(f"expected a ViTConfig or CNNConfig, got {type(config).__name__}")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (works on the meta device too)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
