"""The correct VisionTransformer: shapes, options, validation, config round trip, learning."""

import json

import pytest
import torch
from torch import nn

from vitcore.errors import VitcoreError
from vitcore.models import (
    CNNConfig,
    HomeworkBugs,
    HomeworkViT,
    ViTConfig,
    VisionTransformer,
    build_model,
    config_to_dict,
    count_parameters,
    model_config_from_dict,
)
from vitcore.models.vit import ConvStemTokenizer, PatchEmbedding


SMALL = dict(hidden_dim=64, depth=2, num_heads=4)


def _analytic_vit_parameters(cfg: ViTConfig) -> int:
    """Parameter count of the patch/CLS ViT, computed by hand from the architecture."""
    D, N = cfg.hidden_dim, cfg.grid_size**2 + 1
    hidden = int(D * cfg.mlp_ratio)
    patch = cfg.in_channels * D * cfg.patch_size**2 + D
    per_block = (D * 3 * D + 3 * D) + (D * D + D) + (D * hidden + hidden) + (hidden * D + D) + 2 * 2 * D
    return patch + D + N * D + cfg.depth * per_block + 2 * D + (D * cfg.num_classes + cfg.num_classes)


def test_default_vit_has_the_homework_shape_and_size():
    cfg = ViTConfig()
    model = build_model(cfg)
    assert isinstance(model, VisionTransformer)
    assert model.grid_size == 4 and model.num_prefix_tokens == 1
    assert model.config is cfg
    assert isinstance(model.tokenizer, PatchEmbedding)
    count = count_parameters(model)
    assert count == _analytic_vit_parameters(cfg)
    assert 4.5e6 < count < 5.2e6
    logits = model(torch.rand(3, 3, 64, 64))
    assert logits.shape == (3, 5)


def test_conv_stem_with_sequence_pooling():
    cfg = ViTConfig(tokenizer="conv_stem", pooling="seq", **SMALL)
    model = build_model(cfg).eval()
    assert isinstance(model.tokenizer, ConvStemTokenizer)
    assert model.num_prefix_tokens == 0 and model.cls_token is None
    assert model.pos_embed.shape == (1, 16, 64)
    logits, attention = model(torch.rand(2, 3, 64, 64), return_attention=True)
    assert logits.shape == (2, 5)
    assert len(attention) == 2 and all(w.shape == (2, 4, 16, 16) for w in attention)
    tokens = model.tokenizer(torch.rand(2, 3, 64, 64))
    assert tokens.shape == (2, 16, 64)


def test_conv_stem_width_sets_its_first_conv_and_doubles_up_to_the_token_width():
    def stem_widths(model):
        return [layer.out_channels for layer in model.tokenizer.stem if isinstance(layer, torch.nn.Conv2d)]

    default = build_model(ViTConfig(tokenizer="conv_stem", hidden_dim=160, num_heads=5, depth=1))
    assert stem_widths(default) == [20, 40, 80, 160]
    wide = build_model(ViTConfig(tokenizer="conv_stem", hidden_dim=160, num_heads=5, depth=1, stem_width=48))
    assert stem_widths(wide) == [48, 96, 160, 160]  # doubling, capped at the token width
    assert count_parameters(wide) > count_parameters(default)
    tokens = wide.tokenizer(torch.rand(2, 3, 64, 64))
    assert tokens.shape == (2, 16, 160)  # the same 4x4 grid of tokens
    with pytest.raises(VitcoreError, match="stem_width"):
        build_model(ViTConfig(tokenizer="conv_stem", stem_width=-1, **SMALL))


def test_sequence_pooling_weights_every_token():
    """With seq pooling the logits depend on every token; with CLS pooling too, but through attention."""
    model = build_model(ViTConfig(pooling="seq", **SMALL)).eval()
    x = torch.randn(2, 16, 64)
    pooled = model.pool(x)
    weights = model.pool.score(x).softmax(dim=1)
    torch.testing.assert_close(pooled, (weights * x).sum(1))
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 1))


def test_other_image_and_patch_sizes():
    model = build_model(ViTConfig(image_size=32, patch_size=8, num_classes=3, **SMALL))
    assert model.grid_size == 4
    _, attention = model(torch.rand(1, 3, 32, 32), return_attention=True)
    assert attention[0].shape == (1, 4, 17, 17)
    model = build_model(ViTConfig(image_size=64, patch_size=8, tokenizer="conv_stem", **SMALL))
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 5)
    assert model.grid_size == 8


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_dim=100, num_heads=8), "divisible by num_heads"),
        (dict(image_size=60, patch_size=16), "divisible by patch_size"),
        (dict(attention="flash"), "unknown attention"),
        (dict(tokenizer="pixels"), "unknown tokenizer"),
        (dict(pooling="mean"), "unknown pooling"),
        (dict(tokenizer="conv_stem", patch_size=12, image_size=48), "power-of-two"),
    ],
)
def test_invalid_configs_raise_clear_errors(overrides, message):
    with pytest.raises(VitcoreError, match=message):
        build_model(ViTConfig(**overrides))


def test_init_is_timm_like():
    model = build_model(ViTConfig())
    qkv = model.blocks[0].attn.qkv
    assert abs(qkv.weight.std().item() - 0.02) < 0.003
    assert torch.count_nonzero(qkv.bias) == 0
    assert abs(model.pos_embed.std().item() - 0.02) < 0.005


def test_drop_path_grows_linearly_and_only_acts_in_training():
    model = build_model(ViTConfig(drop_path=0.3, depth=4, hidden_dim=32, num_heads=2))
    rates = [block.drop_path1.p for block in model.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])
    images = torch.rand(8, 3, 64, 64)
    model.eval()
    torch.testing.assert_close(model(images), model(images))
    model.train()
    torch.manual_seed(1)
    first = model(images)
    torch.manual_seed(2)
    second = model(images)
    assert not torch.allclose(first, second)


def test_gradients_reach_every_parameter():
    model = build_model(ViTConfig(tokenizer="conv_stem", pooling="seq", **SMALL))
    loss = nn.functional.cross_entropy(model(torch.rand(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_tiny_vit_overfits_a_few_images():
    torch.manual_seed(0)
    model = build_model(ViTConfig(**SMALL))
    images = torch.rand(8, 3, 64, 64)
    labels = torch.arange(8) % 5
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "cfg",
    [
        ViTConfig(),
        ViTConfig(attention="loop", tokenizer="conv_stem", pooling="seq", drop_path=0.1),
        ViTConfig(homework_bugs=HomeworkBugs()),
        ViTConfig(homework_bugs=HomeworkBugs(softmax_over_queries=False, einsum_unsplit_heads=True)),
        CNNConfig(),
        CNNConfig(arch="resnet", width=16, dropout=0.2),
    ],
)
def test_config_json_round_trip(cfg):
    as_json = json.dumps(config_to_dict(cfg))
    restored = model_config_from_dict(json.loads(as_json))
    assert restored == cfg
    assert type(restored) is type(cfg)


def test_config_from_dict_rejects_unknown_fields_and_kinds():
    with pytest.raises(VitcoreError, match="unknown ViTConfig fields"):
        model_config_from_dict({"kind": "vit", "hidden": 3})
    with pytest.raises(VitcoreError, match="unknown model kind"):
        model_config_from_dict({"kind": "rnn"})
    with pytest.raises(VitcoreError, match="unknown HomeworkBugs fields"):
        model_config_from_dict({"kind": "vit", "homework_bugs": {"typo": True}})


def test_build_model_dispatch():
    assert isinstance(build_model(ViTConfig(**SMALL)), VisionTransformer)
    assert isinstance(build_model(ViTConfig(homework_bugs=HomeworkBugs(flattened_sequence_layers=False), **SMALL)), HomeworkViT)
    with pytest.raises(VitcoreError, match="ViTConfig or CNNConfig"):
        build_model({"kind": "vit"})


def test_normalize_is_the_first_step():
    model = build_model(ViTConfig(**SMALL))
    assert next(iter(model.children())) is model.normalize
    images = torch.rand(1, 3, 64, 64)
    expected = (images - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(images), expected)
