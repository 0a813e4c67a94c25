"""Explanation methods for both kinds of model: one (S, S) heat map each, deterministic, the same across variants."""

import numpy as np
import pytest
import torch

from vitcore.errors import VitcoreError
from vitcore.explain.cnn_attribution import last_conv_stage
from vitcore.explain.methods import CNN_METHODS, VIT_METHODS, explain, methods_for
from vitcore.models.config import CNN_ARCH_CHOICES, CNNConfig, HomeworkBugs, ViTConfig
from vitcore.models.factory import build_model


def small_vit(attention: str = "fused", pooling: str = "cls", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=3, num_heads=4,
                                 attention=attention, pooling=pooling)).eval()


def small_cnn(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(CNNConfig(arch=arch, image_size=32, num_classes=5, width=8)).eval()


def picture(seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(seed))  # (1, 3, S, S)


def assert_heat_map(heat: np.ndarray) -> None:
    assert heat.shape == (32, 32) and heat.dtype == np.float32
    assert (heat >= 0).all() and heat.sum() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("method", VIT_METHODS)
@pytest.mark.parametrize("pooling", ["cls", "seq"])
@pytest.mark.parametrize("attention", ["loop", "einsum", "fused"])
def test_vit_methods_give_one_deterministic_map_on_every_variant(attention, pooling, method):
    model = small_vit(attention, pooling)
    first, second = explain(model, picture(), method), explain(model, picture(), method)
    assert_heat_map(first.heat)
    np.testing.assert_array_equal(first.heat, second.heat)
    assert first.target == int(np.argmax(first.probabilities)) and first.method == method
    assert not np.allclose(first.heat, 1 / 32**2)  # not flat


@pytest.mark.parametrize("method", CNN_METHODS)
@pytest.mark.parametrize("arch", CNN_ARCH_CHOICES)
def test_cnn_methods_give_one_deterministic_map_on_every_architecture(arch, method):
    model = small_cnn(arch)
    first, second = explain(model, picture(), method), explain(model, picture(), method)
    assert_heat_map(first.heat)
    np.testing.assert_allclose(first.heat, second.heat, atol=1e-7)
    assert methods_for(model) == CNN_METHODS


@pytest.mark.parametrize("method", VIT_METHODS)
def test_the_three_attention_variants_explain_alike(method):
    """Same weights, three implementations: the same rollout and the same relevance (allclose)."""
    reference = small_vit("loop")
    maps = []
    for attention in ("loop", "einsum", "fused"):
        model = small_vit(attention)
        model.load_state_dict(reference.state_dict())
        maps.append(explain(model, picture(), method, target=2).heat)
    np.testing.assert_allclose(maps[0], maps[1], atol=1e-5)
    np.testing.assert_allclose(maps[0], maps[2], atol=1e-5)


def test_relevance_depends_on_the_class_and_rollout_does_not():
    model = small_vit("einsum")
    rollouts = [explain(model, picture(), "rollout", target=c).heat for c in (0, 3)]
    relevances = [explain(model, picture(), "relevance", target=c).heat for c in (0, 3)]
    np.testing.assert_array_equal(rollouts[0], rollouts[1])
    assert not np.allclose(relevances[0], relevances[1], atol=1e-4)


def manual_grad_cam(model: torch.nn.Module, image: torch.Tensor, target: int) -> torch.Tensor:
    """Grad-CAM written out with a hook: ReLU(sum_k mean(dy/dA_k) A_k) at the last stage."""
    kept = {}

    def keep(module, inputs, output):
        kept["activation"] = output
        output.register_hook(lambda gradient: kept.__setitem__("gradient", gradient.clone()))
        kept["values"] = output.detach().clone()  # before any in-place ReLU after it

    handle = last_conv_stage(model).register_forward_hook(keep)
    try:
        model(image)[0, target].backward()
    finally:
        handle.remove()
    weights = kept["gradient"].mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    return (weights * kept["values"]).sum(dim=1)[0].clamp_min(0)  # (h, w)


@pytest.mark.parametrize("arch", CNN_ARCH_CHOICES)
def test_grad_cam_is_the_textbook_formula(arch):
    from vitcore.explain.cnn_attribution import grad_cam

    model = small_cnn(arch)
    image = picture(4)
    expected = manual_grad_cam(model, image.clone(), target=1)
    model.zero_grad()
    torch.testing.assert_close(grad_cam(model, image, 1), expected.detach(), atol=1e-5, rtol=1e-4)


def test_the_homework_encoder_is_explained_by_rollout_and_refuses_relevance():
    torch.manual_seed(0)
    model = build_model(ViTConfig(image_size=32, patch_size=8, num_classes=5, hidden_dim=32, depth=2, num_heads=4,
                                  homework_bugs=HomeworkBugs())).eval()
    assert methods_for(model) == ("rollout",)
    assert_heat_map(explain(model, picture(), "rollout").heat)
    with pytest.raises(VitcoreError, match="does not explain the homework's encoder"):
        explain(model, picture(), "relevance")


def test_a_method_of_the_other_kind_or_a_bad_class_is_refused_in_one_sentence():
    with pytest.raises(VitcoreError, match="does not explain a CNN"):
        explain(small_cnn("hw4"), picture(), "rollout")
    with pytest.raises(VitcoreError, match="does not explain a ViT"):
        explain(small_vit(), picture(), "gradcam")
    with pytest.raises(VitcoreError, match="class 9 does not exist"):
        explain(small_vit(), picture(), "relevance", target=9)
