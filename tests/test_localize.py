"""Localization scores: the pointing game and energy inside object masks, chance, and the sanity-check controls."""

import numpy as np
import torch

from vitcore.data.synthetic import generate_synthetic
from vitcore.explain.localization import energy_inside, pointing_hit
from vitcore.explain.localize import flagged_methods, localization_table, randomize_last_layers, score
from vitcore.models.factory import build_model
from vitcore.presets import get_preset
from vitcore.train.engine import fit


def test_pointing_and_energy_on_hand_made_maps():
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:4, 2:4] = True  # 4 of 64 pixels
    on_object = np.zeros((8, 8))
    on_object[3, 3] = 1.0
    assert pointing_hit(on_object, mask) and energy_inside(on_object, mask) == 1.0
    flat = np.full((8, 8), 1 / 64)
    assert pointing_hit(flat, mask)  # a flat map's maximum is everywhere, the object included
    assert energy_inside(flat, mask) == 4 / 64  # a flat map scores the chance level
    elsewhere = np.zeros((8, 8))
    elsewhere[7, 7] = 1.0
    assert not pointing_hit(elsewhere, mask) and energy_inside(elsewhere, mask) == 0.0


def test_randomizing_the_last_layers_changes_only_them():
    torch.manual_seed(0)
    model = build_model(get_preset("cnn", "hw4").model_config)
    randomized = randomize_last_layers(model, seed=1)
    changed = [name for (name, before), after in zip(model.state_dict().items(), randomized.state_dict().values())
               if not torch.equal(before, after)]
    assert changed and all(name.startswith("classifier.") for name in changed)  # the last third: the fully connected part
    assert randomize_last_layers(model, seed=1).state_dict()["classifier.4.weight"].equal(randomized.state_dict()["classifier.4.weight"])


def test_grad_cam_of_a_trained_cnn_beats_chance_and_its_randomized_copy_does_not():
    data = generate_synthetic(train_per_class=300, val_per_class=20, seed=0)
    preset = get_preset("cnn", "hw4")
    torch.manual_seed(0)
    model = build_model(preset.model_config)
    config = preset.train_config.__class__(**{**preset.train_config.__dict__, "epochs": 2, "device": "cpu"})
    assert fit(model, data, config).status == "finished"
    rows = localization_table(model, preset.model_config, data.val, ("gradcam",))
    trained, untrained, randomized = rows
    assert [row.model_state for row in rows] == ["trained", "untrained", "last layers randomized"]
    assert trained.pictures == 100 and abs(trained.chance - float(data.val.masks.float().mean())) < 1e-6
    assert trained.energy_inside > trained.chance + 0.08  # clearly on the object
    assert trained.pointing_game > trained.chance + 0.2
    assert randomized.energy_inside < trained.energy_inside - 0.05  # the sanity check: randomized weights score lower
    assert flagged_methods(rows) == (set() if untrained.energy_inside < trained.energy_inside else {"gradcam"})
    again = score(model, data.val, "gradcam", limit=10)
    assert again.pictures == 10
