"""CNN baselines: shapes, parameter counts, no attention, and they can learn."""

import pytest
import torch
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models import HW4CNN, CNNConfig, ResidualCNN, build_model, count_parameters


def test_hw4_cnn_shape_and_exact_parameter_count():
    model = build_model(CNNConfig(arch="hw4"))
    assert isinstance(model, HW4CNN)
    # conv 3->16 k3, conv 16->32 k3, fc 32*16*16->64, fc 64->5 (weights + biases)
    expected = (3 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 16 * 16 * 64 + 64) + (64 * 5 + 5)
    assert count_parameters(model) == expected
    assert model(torch.rand(4, 3, 64, 64)).shape == (4, 5)


def test_hw4_cnn_follows_image_size():
    model = build_model(CNNConfig(arch="hw4", image_size=32, num_classes=3))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(VitcoreError, match="divisible by 4"):
        build_model(CNNConfig(arch="hw4", image_size=30))


def test_residual_cnn_shape_and_size():
    model = build_model(CNNConfig(arch="resnet", width=32))
    assert isinstance(model, ResidualCNN)
    count = count_parameters(model)
    assert 1.0e6 < count < 2.0e6
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5)
    narrow = build_model(CNNConfig(arch="resnet", width=16))
    assert count_parameters(narrow) < count / 3  # parameters grow ~quadratically with width


def test_stride_two_stem_halves_every_feature_map_and_keeps_the_parameters():
    images = torch.rand(2, 3, 64, 64)
    shapes = {}
    for stride in (1, 2):
        model = build_model(CNNConfig(arch="resnet", width=8, stem_stride=stride))
        shapes[stride] = (model.stem(images).shape, model.stages(model.stem(images)).shape, count_parameters(model))
        assert model(images).shape == (2, 5)
    assert shapes[1][0] == (2, 8, 64, 64) and shapes[2][0] == (2, 8, 32, 32)  # (B, w, S/s, S/s)
    assert shapes[1][1] == (2, 64, 8, 8) and shapes[2][1] == (2, 64, 4, 4)  # (B, 8w, S/(8s), S/(8s))
    assert shapes[1][2] == shapes[2][2]  # a stride changes no weight shape
    with pytest.raises(VitcoreError, match="stem_stride"):
        build_model(CNNConfig(arch="resnet", stem_stride=3))


@pytest.mark.parametrize("arch", ["hw4", "resnet"])
def test_cnns_refuse_return_attention(arch):
    model = build_model(CNNConfig(arch=arch, width=8))
    with pytest.raises(ValueError, match="no attention"):
        model(torch.rand(1, 3, 64, 64), return_attention=True)


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(VitcoreError, match="unknown CNN architecture"):
        build_model(CNNConfig(arch="vgg"))


@pytest.mark.parametrize("arch, width", [("hw4", 32), ("resnet", 8)])
def test_cnns_overfit_sixteen_images(arch, width):
    torch.manual_seed(0)
    model = build_model(CNNConfig(arch=arch, width=width, image_size=32))  # 32 px keeps the CPU test fast
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(16, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 5, (16,), generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(10):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_resnet9_is_the_airbench_shape_with_about_1_9m_weights():
    model = build_model(CNNConfig(arch="resnet9"))
    assert 1_800_000 < sum(p.numel() for p in model.parameters()) < 2_000_000
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 5)
    assert isinstance(model.pool, torch.nn.AdaptiveMaxPool2d)  # global MAX pool
    features = model.stages(model.normalize(torch.rand(1, 3, 64, 64)))
    assert features.shape == (1, 256, 8, 8)  # stride-2 stem and two max pools: 64 -> 8
