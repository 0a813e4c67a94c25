"""MixUp and CutMix (vitcore.train.mixing): the mixed images, their soft labels, the loss, and fit with them on."""

import math

import pytest
import torch
import torch.nn as nn

from vitcore.train.config import TrainConfig
from vitcore.train.engine import fit
from vitcore.train.mixing import build_batch_mixer

from tests.test_engine import fresh_model, make_colour_data, quick_config

NUM_CLASSES = 5


def distinct_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Five random float images, one per class, so every soft label names which images were mixed."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(NUM_CLASSES, 3, 16, 16, generator=generator)  # (B, 3, S, S)
    return images, torch.arange(NUM_CLASSES)  # labels (B,) = 0..4


def test_no_mixer_when_both_strengths_are_zero():
    assert build_batch_mixer(0.0, 0.0, NUM_CLASSES) is None


def test_mixup_blends_each_image_with_its_partner_by_the_label_weights():
    torch.manual_seed(0)
    images, labels = distinct_batch()
    mixed, soft_labels = build_batch_mixer(0.4, 0.0, NUM_CLASSES)(images, labels)
    assert soft_labels.shape == (NUM_CLASSES, NUM_CLASSES)
    assert torch.allclose(soft_labels.sum(dim=1), torch.ones(NUM_CLASSES))
    for index in range(NUM_CLASSES):
        weights = soft_labels[index]
        partner = [int(c) for c in torch.nonzero(weights).flatten() if int(c) != index]
        assert len(partner) == 1, weights  # exactly two images were blended
        expected = weights[index] * images[index] + weights[partner[0]] * images[partner[0]]  # (3, S, S)
        assert torch.allclose(mixed[index], expected, atol=1e-6)
    assert not torch.allclose(mixed, images)


def test_cutmix_pastes_a_box_whose_area_is_the_partner_label_weight():
    torch.manual_seed(3)
    images, labels = distinct_batch()
    mixed, soft_labels = build_batch_mixer(0.0, 1.0, NUM_CLASSES)(images, labels)
    assert torch.allclose(soft_labels.sum(dim=1), torch.ones(NUM_CLASSES))
    pixels = images.shape[-1] * images.shape[-2]
    for index in range(NUM_CLASSES):
        own = (mixed[index] == images[index]).all(dim=0)  # (S, S) pixels kept from this image
        others = ~own
        assert math.isclose(float(soft_labels[index, index]), own.sum().item() / pixels, abs_tol=1e-6)
        if others.any():  # the pasted pixels all come from one partner image
            partner = int(torch.argmax(soft_labels[index] - torch.eye(NUM_CLASSES)[index]))
            assert torch.equal(mixed[index][:, others], images[partner][:, others])
            rows, cols = torch.nonzero(others, as_tuple=True)
            box_area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert int(others.sum()) == int(box_area)  # one rectangle


def test_soft_label_loss_equals_the_weighted_loss_of_the_two_labels_with_smoothing():
    torch.manual_seed(1)
    images, labels = distinct_batch()
    _, soft_labels = build_batch_mixer(0.4, 0.0, NUM_CLASSES)(images, labels)
    logits = torch.randn(NUM_CLASSES, NUM_CLASSES)
    loss_function = nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none")
    by_class = torch.stack([loss_function(logits, torch.full((NUM_CLASSES,), c)) for c in range(NUM_CLASSES)], dim=1)
    expected = (soft_labels * by_class).sum(dim=1)  # (B,) weighted sum of the per-label losses
    assert torch.allclose(loss_function(logits, soft_labels), expected, atol=1e-5)


def test_both_on_picks_one_of_the_two_per_batch():
    images, labels = distinct_batch()
    mixer = build_batch_mixer(0.4, 1.0, NUM_CLASSES)
    kinds = set()
    for seed in range(20):
        torch.manual_seed(seed)
        mixed, soft_labels = mixer(images, labels)
        own_exact = (mixed[0] == images[0]).all(dim=0).float().mean().item()  # CutMix keeps pixels exactly
        kinds.add("cutmix" if own_exact > 0 else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_the_same_seed_mixes_the_same_way():
    images, labels = distinct_batch()
    mixer = build_batch_mixer(0.4, 1.0, NUM_CLASSES)
    torch.manual_seed(7)
    first = mixer(images, labels)
    torch.manual_seed(7)
    second = mixer(images, labels)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_fit_trains_with_cutmix_and_mixup_and_is_deterministic():
    data = make_colour_data()
    config = quick_config(epochs=2, mixup_alpha=0.4, cutmix_alpha=1.0, label_smoothing=0.1)
    first = fit(fresh_model(), data, config)
    second = fit(fresh_model(), data, config)
    assert first.status == "finished", first.message
    assert all(math.isfinite(h["train_loss"]) for h in first.history)
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    unmixed = fit(fresh_model(), data, quick_config(epochs=2, label_smoothing=0.1))
    assert first.history[-1]["train_loss"] > unmixed.history[-1]["train_loss"]  # soft targets: the loss cannot fall as far


def test_negative_cutmix_strength_is_refused():
    with pytest.raises(ValueError, match="cutmix_alpha"):
        TrainConfig(cutmix_alpha=-0.1)
