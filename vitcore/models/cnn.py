"""Convolutional baselines: the course's HW4 network and a small residual network.

Both take float images in [0, 1] (B, 3, S, S) and return logits. They have
no attention, so `forward(..., return_attention=True)` is a clear error.
"""

import torch
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models.config import CNN_ARCH_CHOICES, CNNConfig
from vitcore.models.normalize import Normalize


def _refuse_attention(return_attention: bool) -> None:
    if return_attention:
        raise VitcoreError("CNN models have no attention maps; return_attention=True is only for ViTs")


class HW4CNN(nn.Module):
    """The HW4 net: two conv-ReLU-maxpool stages, then fc(32*S/4*S/4 -> 64) - ReLU - fc(64 -> classes)."""

    def __init__(self, config: CNNConfig):
        super().__init__()
        if config.image_size % 4 != 0:
            raise VitcoreError(f"the HW4 CNN needs an image size divisible by 4, got {config.image_size}")
        self.config = config  # the CNNConfig this model was built from
        self.normalize = Normalize(config.in_channels)
        self.features = nn.Sequential(
            nn.Conv2d(config.in_channels, 16, kernel_size=3, padding=1),  # (B, 16, S, S)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (B, 16, S/2, S/2)
            nn.Conv2d(16, 32, kernel_size=3, padding=1),  # (B, 32, S/2, S/2)
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # (B, 32, S/4, S/4)
        )
        side = config.image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 32*S/4*S/4)
            nn.Linear(32 * side * side, 64),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(64, config.num_classes),
        )

    def forward(self, images: torch.Tensor, return_attention: bool = False) -> torch.Tensor:
        _refuse_attention(return_attention)
        return self.classifier(self.features(self.normalize(images)))  # (B, num_classes)


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus a (projected) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            # 1x1 conv so the shortcut has the same shape as the residual branch.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))  # (B, C_out, S', S')
        return self.relu(residual + self.shortcut(x))  # (B, C_out, S', S')


class ResidualCNN(nn.Module):
    """A ResNet-10-style net: stem, four stages of one basic block (widths w, 2w, 4w, 8w), avg pool, fc."""

    def __init__(self, config: CNNConfig, blocks_per_stage: tuple[int, ...] = (1, 1, 1, 1)):
        super().__init__()
        self.config = config  # the CNNConfig this model was built from
        width = config.width
        self.normalize = Normalize(config.in_channels)
        if config.stem_stride not in (1, 2):
            raise VitcoreError(f"stem_stride must be 1 or 2, got {config.stem_stride}")
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, width, 3, stride=config.stem_stride, padding=1, bias=False),  # (B, w, S/s, S/s)
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        channels = width
        for index, count in enumerate(blocks_per_stage):
            out_channels = width * 2**index
            stride = 1 if index == 0 else 2  # halve the resolution from the second stage on
            for block in range(count):
                stages.append(BasicBlock(channels, out_channels, stride if block == 0 else 1))
                channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(channels, config.num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor, return_attention: bool = False) -> torch.Tensor:
        _refuse_attention(return_attention)
        features = self.stages(self.stem(self.normalize(images)))  # (B, 8w, S/(8s), S/(8s)), s = stem_stride
        pooled = self.pool(features).flatten(1)  # (B, 8w)
        return self.fc(self.dropout(pooled))  # (B, num_classes)


def conv_bn_gelu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, GELU: the unit every ResNet-9 stage is made of."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.GELU(),
    )


class ResidualPair(nn.Module):
    """x + unit(unit(x)): two conv-BN-GELU units with a shortcut around them (same width, same resolution)."""

    def __init__(self, channels: int):
        super().__init__()
        self.units = nn.Sequential(conv_bn_gelu(channels, channels), conv_bn_gelu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.units(x)  # (B, C, H, W)


class ResNet9(nn.Module):
    """The ResNet-9 / airbench family: a stride-2 stem, three widths each with a residual pair, global max pool, one Linear.

    For a 64x64 picture: stem 64 ch at 32x32; pair; 128 ch, max pool to 16x16; pair; 256 ch, max pool to 8x8;
    pair; the strongest response of each of the 256 channels; a linear classifier. About 1.9M weights.
    """

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config  # the CNNConfig this model was built from
        self.normalize = Normalize(config.in_channels)
        self.stages = nn.Sequential(
            conv_bn_gelu(config.in_channels, 64, stride=2),  # (B, 64, S/2, S/2)
            ResidualPair(64),
            conv_bn_gelu(64, 128), nn.MaxPool2d(2),  # (B, 128, S/4, S/4)
            ResidualPair(128),
            conv_bn_gelu(128, 256), nn.MaxPool2d(2),  # (B, 256, S/8, S/8)
            ResidualPair(256),
        )
        self.pool = nn.AdaptiveMaxPool2d(1)  # global MAX pool: "is the pattern anywhere?"
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(256, config.num_classes)

    def forward(self, images: torch.Tensor, return_attention: bool = False) -> torch.Tensor:
        _refuse_attention(return_attention)
        features = self.stages(self.normalize(images))  # (B, 256, S/8, S/8)
        return self.fc(self.dropout(self.pool(features).flatten(1)))  # (B, num_classes)


def build_cnn(config: CNNConfig) -> nn.Module:
    """HW4CNN for arch="hw4", ResidualCNN for arch="resnet", ResNet9 for arch="resnet9"."""
    if config.arch == "hw4":
        return HW4CNN(config)
    if config.arch == "resnet":
        return ResidualCNN(config)
    if config.arch == "resnet9":
        return ResNet9(config)
    raise VitcoreError(f"unknown CNN architecture {config.arch!r}; choose one of {list(CNN_ARCH_CHOICES)}")
