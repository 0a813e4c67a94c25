"""Attention extraction, rollout and localization scoring, on hand-made maps and the real ViT."""

import numpy as np
import pytest
import torch

from vitcore.errors import VitcoreError
from vitcore.explain.attention_maps import (
    CLS_MODE_CLS_ROW,
    CLS_MODE_MEAN_RECEIVED,
    extract_attention,
    maps_from_attentions,
)
from vitcore.explain.localization import attention_mass_on_mask, localization_score, mask_area_fraction
from vitcore.explain.rollout import attention_rollout
from vitcore.models.config import ViTConfig
from vitcore.models.vit import VisionTransformer


def random_attention(layers: int, heads: int, tokens: int, seed: int = 0) -> torch.Tensor:
    """(L, H, N, N) row-stochastic attention with random, non-uniform rows."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(layers, heads, tokens, tokens, generator=generator) * 2.0  # (L, H, N, N)
    return scores.softmax(dim=-1)


def cls_looks_at_one_patch(layers: int, heads: int, grid: int, patch: int) -> np.ndarray:
    """(L, H, N, N): every token reads itself, except CLS which reads only patch `patch`."""
    tokens = 1 + grid * grid
    attention = np.tile(np.eye(tokens), (layers, heads, 1, 1))  # (L, H, N, N)
    attention[:, :, 0, :] = 0.0
    attention[:, :, 0, 1 + patch] = 1.0
    return attention


def small_vit(attention: str = "fused", pooling: str = "cls", depth: int = 2, num_heads: int = 4) -> VisionTransformer:
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_dim=32, depth=depth, num_heads=num_heads, num_classes=3,
        attention=attention, pooling=pooling,
    )  # fmt: skip
    return VisionTransformer(config)


# ---------- rollout ----------


@pytest.mark.parametrize("num_prefix_tokens", [0, 1])
def test_rollout_of_identity_attention_is_uniform(num_prefix_tokens):
    grid = 3
    tokens = num_prefix_tokens + grid * grid
    identity = [torch.eye(tokens).expand(2, tokens, tokens) for _ in range(4)]  # 4 layers of (H, N, N)
    rollout = attention_rollout(identity, num_prefix_tokens)
    assert rollout.shape == (grid, grid)
    np.testing.assert_allclose(rollout, np.full((grid, grid), 1 / grid**2), atol=1e-12)


def test_rollout_of_uniform_attention_with_cls_is_uniform():
    tokens = 1 + 16
    uniform = np.full((3, 2, tokens, tokens), 1 / tokens)  # (L, H, N, N)
    np.testing.assert_allclose(attention_rollout(uniform, 1), np.full((4, 4), 1 / 16), atol=1e-12)


@pytest.mark.parametrize("head_fusion", ["mean", "max", "min"])
def test_rollout_peaks_where_cls_looks(head_fusion):
    attention = cls_looks_at_one_patch(layers=3, heads=2, grid=4, patch=5)
    rollout = attention_rollout(attention, num_prefix_tokens=1, head_fusion=head_fusion)
    assert np.unravel_index(rollout.argmax(), rollout.shape) == (1, 1)  # patch 5 = row 1, column 1 of a 4x4 grid
    assert rollout.sum() == pytest.approx(1.0)
    assert rollout[1, 1] == pytest.approx(1.0)  # patches only read themselves, so all mass flows to patch 5


def test_rollout_matches_the_written_recipe():
    """Independent re-computation of A' = 0.5*mean_heads(A) + 0.5*I, rows renormalised, R = A'_L ... A'_1."""
    attention = random_attention(layers=3, heads=4, tokens=17).double()  # (L, H, N, N)
    joint = torch.eye(17, dtype=torch.float64)
    for layer in attention:
        step = 0.5 * layer.mean(0) + 0.5 * torch.eye(17, dtype=torch.float64)
        joint = (step / step.sum(-1, keepdim=True)) @ joint
    expected = joint[0, 1:] / joint[0, 1:].sum()
    np.testing.assert_allclose(attention_rollout(list(attention), 1), expected.reshape(4, 4).numpy(), atol=1e-12)


def test_rollout_layer_order_matters():
    attention = random_attention(layers=3, heads=2, tokens=10)
    forward = attention_rollout(attention, 1)
    backward = attention_rollout(attention.flip(0), 1)
    assert not np.allclose(forward, backward)


def test_discard_ratio_sharpens_and_keeps_sum():
    attention = random_attention(layers=2, heads=2, tokens=17, seed=3)
    plain = attention_rollout(attention, 1)
    pruned = attention_rollout(attention, 1, discard_ratio=0.9)
    assert pruned.sum() == pytest.approx(1.0)
    assert pruned.max() > plain.max()


def test_rollout_rejects_bad_arguments():
    attention = random_attention(layers=1, heads=1, tokens=17)
    with pytest.raises(VitcoreError):
        attention_rollout(attention, 1, head_fusion="median")
    with pytest.raises(VitcoreError):
        attention_rollout(attention, 1, discard_ratio=1.0)
    with pytest.raises(VitcoreError):
        attention_rollout(attention, 0)  # 17 tokens with no prefix is not a square grid
    with pytest.raises(VitcoreError):
        attention_rollout([], 1)


# ---------- AttentionMaps from hand-made attention ----------


@pytest.mark.parametrize("layers, heads", [(1, 1), (3, 2), (5, 4)])
def test_maps_shapes_and_cls_rows_sum_to_one(layers, heads):
    attention = random_attention(layers, heads, tokens=17)
    maps = maps_from_attentions(list(attention), num_prefix_tokens=1)
    assert maps.full.shape == (layers, heads, 17, 17)
    assert maps.cls_to_patch.shape == (layers, heads, 4, 4)
    assert maps.rollout.shape == (4, 4)
    assert (maps.num_layers, maps.num_heads, maps.grid_size) == (layers, heads, 4)
    assert maps.cls_mode == CLS_MODE_CLS_ROW
    np.testing.assert_allclose(maps.cls_to_patch.sum(axis=(-2, -1)), 1.0, atol=1e-5)
    # The map is the CLS row over the patch columns, renormalised.
    row = attention[-1, 0, 0, 1:].numpy()
    np.testing.assert_allclose(maps.cls_to_patch[-1, 0].ravel(), row / row.sum(), atol=1e-6)
    np.testing.assert_allclose(maps.layer_mean(-1), maps.cls_to_patch[-1].mean(0), atol=1e-7)


def test_maps_without_cls_use_mean_received_attention():
    attention = random_attention(layers=2, heads=3, tokens=16)
    maps = maps_from_attentions(list(attention), num_prefix_tokens=0)
    assert maps.cls_mode == CLS_MODE_MEAN_RECEIVED
    expected = attention[1, 2].mean(dim=0).numpy()  # column mean = attention each patch receives
    np.testing.assert_allclose(maps.cls_to_patch[1, 2].ravel(), expected / expected.sum(), atol=1e-6)
    np.testing.assert_allclose(maps.cls_to_patch.sum(axis=(-2, -1)), 1.0, atol=1e-5)


def test_cls_to_patch_peaks_on_the_patch_cls_reads():
    maps = maps_from_attentions(cls_looks_at_one_patch(2, 3, 4, patch=11), num_prefix_tokens=1)
    assert np.unravel_index(maps.cls_to_patch[0, 2].argmax(), (4, 4)) == (2, 3)


# ---------- real ViT ----------


@pytest.mark.parametrize("pooling", ["cls", "seq"])
def test_extract_on_real_vit_is_identical_for_every_attention_variant(pooling):
    reference = small_vit("fused", pooling=pooling, depth=3, num_heads=4)
    with torch.no_grad():  # make the attention clearly non-uniform
        reference.pos_embed.normal_(0.0, 1.0)
    images = torch.rand(1, 3, 32, 32)
    maps = {}
    for variant in ("loop", "einsum", "fused"):
        model = small_vit(variant, pooling=pooling, depth=3, num_heads=4)
        model.load_state_dict(reference.state_dict())
        maps[variant] = extract_attention(model, images)
    fused = maps["fused"]
    assert fused.full.shape == (3, 4, 16 + fused.num_prefix_tokens, 16 + fused.num_prefix_tokens)
    assert fused.cls_to_patch.shape == (3, 4, 4, 4)
    assert fused.num_prefix_tokens == (1 if pooling == "cls" else 0)
    assert fused.cls_mode == (CLS_MODE_CLS_ROW if pooling == "cls" else CLS_MODE_MEAN_RECEIVED)
    assert fused.rollout.std() > 0  # not a flat map
    for variant in ("loop", "einsum"):
        np.testing.assert_allclose(maps[variant].full, fused.full, atol=1e-5)
        np.testing.assert_allclose(maps[variant].cls_to_patch, fused.cls_to_patch, atol=1e-5)
        np.testing.assert_allclose(maps[variant].rollout, fused.rollout, atol=1e-5)


def test_extract_restores_training_mode_and_accepts_3d_input():
    model = small_vit()
    model.train()
    maps = extract_attention(model, torch.rand(3, 32, 32))
    assert model.training
    assert maps.rollout.sum() == pytest.approx(1.0)
    with pytest.raises(VitcoreError):
        extract_attention(model, torch.rand(2, 3, 32, 32))  # one image only


def test_extract_refuses_models_without_attention():
    cnn = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    with pytest.raises(VitcoreError):
        extract_attention(cnn, torch.rand(1, 3, 32, 32))


# ---------- localization ----------


def test_mass_is_one_when_the_mask_covers_everything():
    heat = np.random.default_rng(0).random((4, 4))
    assert attention_mass_on_mask(heat, np.ones((64, 64), dtype=bool)) == pytest.approx(1.0)
    assert attention_mass_on_mask(heat, np.zeros((64, 64), dtype=bool)) == pytest.approx(0.0)


def test_mass_equals_the_covered_patches_share():
    heat = np.arange(1, 17, dtype=float).reshape(4, 4)  # patch values 1..16, total 136
    mask = np.zeros((64, 64), dtype=bool)
    mask[0:16, 0:16] = True  # patch (0, 0): value 1
    mask[16:32, 32:48] = True  # patch (1, 2): value 7
    mask[48:64, 56:64] = True  # right HALF of patch (3, 3): value 16 / 2
    assert attention_mass_on_mask(heat, mask) == pytest.approx((1 + 7 + 8) / 136)
    assert mask_area_fraction(mask) == pytest.approx((256 + 256 + 128) / 4096)


def test_uniform_heat_scores_exactly_chance():
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[10:40, 5:30] = True  # not aligned with the patches
    score = localization_score(np.ones((4, 4)), mask)
    assert score.mass_on_mask == pytest.approx(score.chance_level)
    assert score.lift == pytest.approx(1.0)


def test_focused_heat_beats_chance():
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 16:48] = True  # the four centre patches
    heat = np.full((4, 4), 0.01)
    heat[1:3, 1:3] = 1.0
    score = localization_score(heat, mask)
    assert score.chance_level == pytest.approx(0.25)
    assert score.mass_on_mask > 0.9
    assert score.lift > 3.5


def test_localization_rejects_empty_heat_and_bad_mask():
    with pytest.raises(VitcoreError):
        attention_mass_on_mask(np.zeros((4, 4)), np.ones((64, 64), dtype=bool))
    with pytest.raises(VitcoreError):
        attention_mass_on_mask(np.ones((4, 4)), np.ones(64, dtype=bool))
