"""Named, ready-made recipes: a model config plus a training config.

    vit/homework   the seed homework's encoder with all its bugs, trained as the homework did
    vit/classroom  a correct small hybrid ViT (conv-stem tokens, CLS) that trains on a laptop CPU in ~4 minutes
    vit/best       the strongest recipe: conv stem, sequence pooling, stochastic depth, flip/crop + CutMix
    vit/distilled  vit/best's recipe with a DeiT distillation token that learns a finished CNN run's answers (--teacher)
    cnn/hw4        the course's HW4 CNN, trained as in the homework
    cnn/best       a ResNet-9 with AdamW and a one-cycle schedule

Every call builds fresh dataclasses, so callers may modify what they get.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from vitcore.errors import VitcoreError
from vitcore.models.config import CNNConfig, HomeworkBugs, ViTConfig
from vitcore.train.config import TrainConfig

PRESET_NAMES = {"vit": ("homework", "classroom", "best", "distilled"), "cnn": ("hw4", "best")}


COCO5_64 = "coco5-64"  # `measured` key: the homework's 10,000 real COCO photos at 64x64 (see README, Datasets)
EMBEDDED = "embedded"  # `measured` key: the embedded synthetic set of drawn objects (the default with no data)
EMBEDDED_CLASSROOM_VIT = "99.2 % validation accuracy in about 3.5 minutes on a 2-core CPU"  # seed 0; command in the README
EMBEDDED_HW4_CNN = "89.9 % validation accuracy (train 99 %) in about 2 minutes on a 2-core CPU"  # seed 0; command in the README


@dataclass
class Preset:
    """A model + training recipe, with a plain name and sentence for students and the details for the curious."""

    model_config: ViTConfig | CNNConfig  # what to build
    train_config: TrainConfig  # how to train it
    description: str  # the technical details (layers, optimiser, schedule), shown folded under the recipe picker
    title: str = ""  # plain name shown in the recipe picker, e.g. "Small ViT for class (fast)"
    summary: str = ""  # one plain sentence: what it is and when to pick it, with no dataset-specific figure
    measured: dict[str, str] = field(default_factory=dict)  # COCO5_64 / EMBEDDED -> what it reached there (a phrase)

    def with_overrides(self, model: Mapping | None = None, train: Mapping | None = None) -> "Preset":
        """A copy whose model and training configs have the given fields changed (the CLI's flags, the benchmarks'
        --set, the server's VIT_CLASSROOM_TRAIN_OVERRIDES all come through here); an unknown field is a VitcoreError."""
        return dataclasses.replace(
            self,
            model_config=_with_fields(self.model_config, dict(model or {}), "model"),
            train_config=_with_fields(self.train_config, dict(train or {}), "train"),
        )

    def measured_text(self, dataset: str) -> str:
        """What this recipe reached, on `dataset` (COCO5_64 or EMBEDDED) when measured there, else on coco5-64;
        the sentence always names the dataset its figure is for ("" when nothing was measured)."""
        key = dataset if self.measured.get(dataset) else COCO5_64
        if not self.measured.get(key):
            return ""
        where = "the embedded drawings" if key == EMBEDDED else "the homework's photos (coco5-64)"
        return f"Measured on {where}: {self.measured[key]}."


def _with_fields(config, changes: dict, section: str):
    """A copy of the dataclass `config` with `changes` (its own checks run again)."""
    known = {config_field.name for config_field in dataclasses.fields(config)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise VitcoreError(
            f"{type(config).__name__} has no field {', '.join(unknown)} ({section} settings); fields: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(config, **changes) if changes else config


def list_presets(model_kind: str) -> list[str]:
    """Preset names for "vit" or "cnn"."""
    if model_kind not in PRESET_NAMES:
        raise VitcoreError(f"model kind must be one of {sorted(PRESET_NAMES)}, got {model_kind!r}")
    return list(PRESET_NAMES[model_kind])


def get_preset(model_kind: str, name: str, num_classes: int = 5, image_size: int = 64) -> Preset:
    """The recipe `model_kind/name` (e.g. "vit", "classroom") for this many classes and image size."""
    names = list_presets(model_kind)
    if name not in names:
        raise VitcoreError(f"unknown {model_kind} preset {name!r}; choose one of {names}")
    size = {"num_classes": num_classes, "image_size": image_size}
    if model_kind == "vit" and name == "homework":
        return Preset(
            ViTConfig(**size, patch_size=16, hidden_dim=256, depth=6, num_heads=8, mlp_ratio=4.0,
                      attention="loop", homework_bugs=HomeworkBugs()),
            TrainConfig(epochs=10, batch_size=8, optimizer="adam", lr=1e-4, weight_decay=0.0,
                        schedule="constant", augmentation="none", label_smoothing=0.0),
            "The homework's encoder with all of its bugs, trained like the homework (Adam 1e-4, batch 8, 10 epochs).",
            title="The homework's ViT, bugs and all",
            summary="The original homework network with its mistakes left in, to see what they cost: huge and slow "
            "(use a GPU).",
            measured={COCO5_64: "about 50 % after 3 of its 10 epochs on a GPU"},
        )
    if model_kind == "vit" and name == "classroom":
        return Preset(
            ViTConfig(**size, patch_size=16, hidden_dim=160, depth=3, num_heads=5, mlp_ratio=2.0,
                      attention="fused", dropout=0.0, tokenizer="conv_stem", stem_width=32, pooling="cls"),
            TrainConfig(epochs=20, batch_size=128, optimizer="adamw", lr=2e-3, weight_decay=0.05,
                        schedule="onecycle", augmentation="flip_crop", label_smoothing=0.1, grad_clip=1.0,
                        channels_last=True, flip_tta=True),
            "A correct small hybrid ViT: four stride-2 convolutions (32, 64, 128, 160 channels) make the same 4×4 grid "
            "of tokens (plus CLS) that a 16×16 patch cut would; 3 layers of 5 heads, width 160, AdamW with a one-cycle "
            "schedule, flip/crop augmentation, 20 epochs, validation with flip test-time augmentation (the convolutions "
            "run on NHWC images, which makes each training step about 12 % faster). A wider stem with one block fewer "
            "bought 0.8 points for about 13 seconds more a run.",
            title="Classroom ViT (small and fast)",
            summary="A small, correct Vision Transformer that trains on a laptop in a few minutes: the one to start with.",
            measured={
                COCO5_64: "69.9 % validation accuracy (with flip test-time augmentation) in about 4 minutes on a 2-core laptop CPU",
                EMBEDDED: EMBEDDED_CLASSROOM_VIT,
            },
        )
    if model_kind == "vit" and name == "best":
        return Preset(
            ViTConfig(**size, patch_size=16, hidden_dim=192, depth=6, num_heads=6, mlp_ratio=2.0,
                      attention="fused", dropout=0.0, drop_path=0.1, tokenizer="conv_stem", pooling="seq"),
            TrainConfig(epochs=55, batch_size=128, optimizer="adamw", lr=1.5e-3, weight_decay=0.05,
                        schedule="onecycle", augmentation="flip_crop", cutmix_alpha=1.0, label_smoothing=0.1,
                        grad_clip=1.0, flip_tta=True),
            "Conv-stem tokens, sequence pooling and stochastic depth, 55 epochs of flip/crop augmentation with CutMix "
            "(which cut the gap between train and validation accuracy from 10 points to about 4).",
            title="Best ViT (long)",
            summary="The most accurate Vision Transformer here; it needs a long run, so start it before the lesson.",
            measured={COCO5_64: "71.6 % validation accuracy with the mirror images (71.2 % without; 71.4 % over three "
                      "seeds without), 21 to 40 minutes on a 2-core CPU"},
        )
    if model_kind == "vit" and name == "distilled":
        return Preset(
            ViTConfig(**size, patch_size=16, hidden_dim=192, depth=6, num_heads=6, mlp_ratio=2.0,
                      attention="fused", dropout=0.0, drop_path=0.1, tokenizer="conv_stem", pooling="cls",
                      distillation=True),
            TrainConfig(epochs=55, batch_size=128, optimizer="adamw", lr=1.5e-3, weight_decay=0.05,
                        schedule="onecycle", augmentation="flip_crop", cutmix_alpha=1.0, label_smoothing=0.1,
                        grad_clip=1.0, flip_tta=True),
            "The best ViT's recipe with a CLS token and a second, distillation token (DeiT, Touvron et al. 2021): the "
            "CLS head learns the labels, the distillation head learns a finished CNN run's answer on every augmented "
            "batch; the answer is the mean of both heads. Pick the teacher (a CNN trained on the same data) first.",
            title="ViT taught by a CNN (DeiT, long)",
            summary="A Vision Transformer that also learns from a trained CNN's answers: the CNN lends it its "
            "convolutional habits. Train a CNN first, then pick it as the teacher.",
            measured={COCO5_64: "72.8 % validation accuracy with the mirror images (72.7 % without), seed 0, taught by a "
                      "74.9 % CNN best run; 37 minutes on a 2-core CPU after the teacher's 25"},
        )
    if model_kind == "cnn" and name == "hw4":
        return Preset(
            CNNConfig(**size, arch="hw4"),
            TrainConfig(epochs=10, batch_size=16, optimizer="adam", lr=1e-3, weight_decay=0.0,
                        schedule="constant", augmentation="none", label_smoothing=0.0),
            "The course's HW4 CNN trained like the homework (Adam 1e-3, batch 16, 10 epochs).",
            title="The homework's CNN",
            summary="The small convolutional network of the course's homework 4, trained the same way: the baseline "
            "the ViT has to beat.",
            measured={
                COCO5_64: "59.0 % validation accuracy (train 97 %: heavy overfitting) in about 2.5 minutes on a 2-core CPU",
                EMBEDDED: EMBEDDED_HW4_CNN,
            },
        )
    return Preset(  # cnn/best
        CNNConfig(**size, arch="resnet9"),
        TrainConfig(epochs=20, batch_size=128, optimizer="adamw", lr=4e-3, weight_decay=5e-4, schedule="onecycle",
                    warmup_epochs=5, augmentation="flip_crop", crop_padding=6, crop_per_batch=True, label_smoothing=0.1,
                    channels_last=True, flip_tta=True, amp="native"),
        "A ResNet-9 (stride-2 stem, residual pairs at 64, 128 and 256 channels, global max pool; 1.9M weights), AdamW "
        "with a one-cycle schedule peaking at 4e-3 after 5 of its 20 epochs, flips and crops from a 6-pixel reflected "
        "border (one crop offset per batch) and label smoothing; validation adds each picture's mirror image. Where "
        "the processor has bf16 instructions (a GPU, or a CPU with AVX512-BF16 or AMX) it trains in bf16, about twice "
        "as fast on a CPU.",
        title="Best CNN (long)",
        summary="A deeper convolutional network with a better training recipe; start it well before the lesson.",
        measured={COCO5_64: "74.9 % validation accuracy with the mirror images (74.6 % without), seed 0, in 24 minutes "
                  "on a 2-core CPU with bf16 instructions (about twice that without them)"},
    )
