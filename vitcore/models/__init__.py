"""Models: a correct ViT with three attention implementations, the homework's buggy ViT, CNN baselines.

Every model takes float images in [0, 1] of shape (B, 3, S, S) and
`forward(images, return_attention=False)`.
"""

from vitcore.models.attention import ATTENTION_VARIANTS, build_attention
from vitcore.models.attention_einsum import EinsumAttention
from vitcore.models.attention_fused import FusedAttention
from vitcore.models.attention_loop import LoopAttention
from vitcore.models.cnn import HW4CNN, ResidualCNN, build_cnn
from vitcore.models.config import CNNConfig, HomeworkBugs, ViTConfig, config_to_dict, model_config_from_dict
from vitcore.models.factory import build_model, count_parameters
from vitcore.models.homework_vit import HomeworkViT
from vitcore.models.normalize import Normalize
from vitcore.models.vit import ConvStemTokenizer, EncoderBlock, PatchEmbedding, VisionTransformer

__all__ = [
    "ATTENTION_VARIANTS",
    "build_attention",
    "LoopAttention",
    "EinsumAttention",
    "FusedAttention",
    "HW4CNN",
    "ResidualCNN",
    "build_cnn",
    "ViTConfig",
    "CNNConfig",
    "HomeworkBugs",
    "config_to_dict",
    "model_config_from_dict",
    "build_model",
    "count_parameters",
    "HomeworkViT",
    "Normalize",
    "PatchEmbedding",
    "ConvStemTokenizer",
    "EncoderBlock",
    "VisionTransformer",
]
