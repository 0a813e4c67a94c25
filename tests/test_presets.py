"""Presets: every named recipe builds valid configs; the models they describe have sensible sizes."""

import pytest
import torch

from vitcore.models.config import CNNConfig, HomeworkBugs, ViTConfig
from vitcore.models.factory import build_model, count_parameters
from vitcore.presets import Preset, get_preset, list_presets
from vitcore.train.config import TrainConfig


def meta_parameter_count(model_config) -> int:
    with torch.device("meta"):  # no memory: the homework model alone has ~0.5 billion parameters
        return count_parameters(build_model(model_config))


@pytest.mark.parametrize("kind, name", [(k, n) for k in ("vit", "cnn") for n in list_presets(k)])
def test_every_preset_is_complete_and_sized_for_the_data(kind, name):
    preset = get_preset(kind, name, num_classes=7, image_size=64)
    assert isinstance(preset, Preset) and isinstance(preset.train_config, TrainConfig) and preset.description
    assert isinstance(preset.model_config, ViTConfig if kind == "vit" else CNNConfig)
    assert preset.model_config.num_classes == 7 and preset.model_config.image_size == 64
    TrainConfig.from_dict(preset.train_config.to_dict()).validate()
    assert meta_parameter_count(preset.model_config) > 10_000


def test_preset_contents_follow_the_recipes():
    homework = get_preset("vit", "homework")
    assert homework.model_config.homework_bugs == HomeworkBugs()
    assert (homework.model_config.hidden_dim, homework.model_config.depth, homework.model_config.num_heads) == (256, 6, 8)
    hw_train = homework.train_config
    assert (hw_train.optimizer, hw_train.lr, hw_train.batch_size, hw_train.epochs) == ("adam", 1e-4, 8, 10)
    assert hw_train.augmentation == "none" and hw_train.schedule == "constant"

    classroom = get_preset("vit", "classroom")
    assert classroom.model_config.homework_bugs is None and classroom.model_config.attention == "fused"
    assert classroom.model_config.tokenizer == "conv_stem" and classroom.model_config.pooling == "cls"  # CLS maps
    assert classroom.model_config.grid_size == 4  # the same 4x4 token grid the Attention page draws
    assert classroom.train_config.augmentation == "flip_crop" and classroom.train_config.label_smoothing == 0.1
    assert classroom.train_config.schedule == "onecycle"
    assert meta_parameter_count(classroom.model_config) < 5_000_000  # laptop-CPU sized

    best = get_preset("vit", "best")
    assert best.model_config.tokenizer == "conv_stem" and best.model_config.pooling == "seq"
    assert best.model_config.drop_path == 0.1 and best.model_config.grid_size == 4
    assert best.train_config.augmentation == "flip_crop" and best.train_config.epochs > get_preset("vit", "classroom").train_config.epochs
    assert best.train_config.cutmix_alpha > 0  # the ablation's +1.5 points at 55 epochs (README)

    assert get_preset("cnn", "hw4").model_config.arch == "hw4"
    cnn_best = get_preset("cnn", "best")
    assert cnn_best.model_config.arch == "resnet9"  # the airbench family: stride-2 stem, global max pool
    assert cnn_best.train_config.optimizer == "adamw" and cnn_best.train_config.lr == 4e-3
    assert cnn_best.train_config.warmup_epochs == cnn_best.train_config.epochs / 4  # one-cycle, 25 % warm-up
    assert cnn_best.train_config.flip_tta and get_preset("vit", "best").train_config.flip_tta  # TTA on for the best two
    assert not get_preset("cnn", "hw4").train_config.flip_tta and not get_preset("vit", "homework").train_config.flip_tta
    assert cnn_best.train_config.schedule in ("onecycle", "cosine") and cnn_best.train_config.label_smoothing > 0
    assert cnn_best.train_config.amp == "native"  # bf16 only where the processor has bf16 instructions
    assert get_preset("cnn", "hw4").train_config.amp == "auto" and get_preset("vit", "homework").train_config.amp == "auto"


def test_classroom_model_runs_forward_and_presets_are_fresh_copies():
    preset = get_preset("vit", "classroom", num_classes=3, image_size=64)
    model = build_model(preset.model_config).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 3)
    preset.train_config.epochs = 999
    assert get_preset("vit", "classroom").train_config.epochs != 999


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match=r"unknown vit preset 'fast'.*homework.*classroom.*best"):
        get_preset("vit", "fast")
    with pytest.raises(ValueError, match="model kind"):
        get_preset("mlp", "best")
    assert list_presets("cnn") == ["hw4", "best"]
