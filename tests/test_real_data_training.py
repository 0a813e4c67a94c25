"""One epoch of the classroom ViT and the HW4 CNN on the real homework data beats chance."""

from dataclasses import replace

import pytest
import torch

from vitcore.data.folder import load_folder_dataset
from vitcore.models.factory import build_model
from vitcore.presets import get_preset
from vitcore.train.engine import fit

CHANCE = 0.2  # five balanced classes


@pytest.fixture(scope="module")
def coco5_data(coco5_root, tmp_path_factory):
    return load_folder_dataset(coco5_root, image_size=64, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.real_data
@pytest.mark.parametrize("model_kind, preset_name", [("vit", "classroom"), ("cnn", "hw4")])
def test_one_epoch_beats_chance(coco5_data, model_kind, preset_name):
    assert len(coco5_data.train) == 7500 and len(coco5_data.val) == 2500
    torch.set_num_threads(2)  # restored by the autouse fixture in conftest.py
    preset = get_preset(model_kind, preset_name, num_classes=len(coco5_data.class_names))
    train_config = replace(preset.train_config, epochs=1, device="cpu", seed=0)
    epochs_seen = []
    result = fit(
        build_model(preset.model_config),
        coco5_data,
        train_config,
        on_event=lambda event: epochs_seen.append(event) if event["type"] == "epoch" else None,
    )
    assert result.status == "finished", result.message
    assert len(epochs_seen) == 1
    val_acc = epochs_seen[0]["val_acc"]
    print(f"{model_kind}/{preset_name}: one epoch val acc {val_acc:.3f}")
    assert val_acc > CHANCE + 0.05
