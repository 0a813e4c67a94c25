"""CPU throughput of the ViT's three attention variants against a torch.nn.TransformerEncoder reference.

What is measured (images per second, batch 64 by default):
- train step = forward + cross-entropy + backward + AdamW step (model in train mode);
- inference  = forward under torch.inference_mode() (model in eval mode).

Models: vitcore's VisionTransformer with attention "loop", "einsum" and "fused",
and a REFERENCE built from torch.nn.TransformerEncoder(nn.TransformerEncoderLayer(
d_model, nhead, dim_feedforward=mlp_ratio*d, activation="gelu", batch_first=True,
norm_first=True, dropout=0)) with the same normalisation, tokenizer, CLS token,
position embedding, final LayerNorm and head. All dropout is switched off in every
model so they all do the same arithmetic. One difference is by design: with CLS
pooling, vitcore's fused path runs the last block for the CLS token's row only
(the head reads nothing else), giving the same logits with less work; the
reference, like every nn.TransformerEncoder, computes every token's row.

Protocol: everything runs in ONE process. After `--warmup` steps per model, the
models take turns: `--rounds` rounds, each round runs `--steps` steps of every
model (the starting model rotates every round). A model's rate is the median
over rounds, and its ratio is that median divided by the reference's median
(> 1 means faster than the reference). Alternating keeps slow drifts of a shared
machine (other processes, CPU frequency) from favouring one model.

Run:  .venv/bin/python bench/throughput.py [--threads 2] [--preset classroom] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench` and `vitcore` import

from bench.common import cpu_name, log, median, print_json_line, print_table, time_call  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from vitcore.models.attention import ATTENTION_VARIANTS  # noqa: E402
from vitcore.models.config import ViTConfig  # noqa: E402
from vitcore.models.factory import build_model, count_parameters  # noqa: E402
from vitcore.models.normalize import Normalize  # noqa: E402
from vitcore.models.vit import ConvStemTokenizer, PatchEmbedding, SequencePooling  # noqa: E402

REFERENCE_NAME = "reference"  # key of the nn.TransformerEncoder model in every result dict
VARIANT_NAMES = tuple(ATTENTION_VARIANTS)  # vitcore attention variants benchmarked by default (the registry's keys)


@dataclasses.dataclass
class BenchSettings:
    """How the measurement is run."""

    batch_size: int = 64  # images per step
    threads: int = 2  # torch.set_num_threads value
    warmup_steps: int = 3  # untimed steps per model before the timed rounds (per phase)
    rounds: int = 5  # timed rounds; every round runs every model once
    steps_per_round: int = 3  # steps per model per round (one timing covers them all)
    seed: int = 0  # seed for weights and the synthetic batch


class ReferenceViT(nn.Module):
    """The same ViT, but its encoder is PyTorch's own nn.TransformerEncoder (pre-LN, GELU, no dropout)."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        dim = config.hidden_dim
        grid_size = config.image_size // config.patch_size  # tokens per side
        self.num_prefix_tokens = 1 if config.pooling == "cls" else 0  # CLS token count
        self.normalize = Normalize(config.in_channels)
        tokenizer_class = PatchEmbedding if config.tokenizer == "patch" else ConvStemTokenizer
        self.tokenizer = tokenizer_class(config.in_channels, dim, config.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if self.num_prefix_tokens else None  # (1, 1, D)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix_tokens + grid_size**2, dim))  # (1, N, D)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=config.num_heads,
            dim_feedforward=int(dim * config.mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        # The final LayerNorm is the encoder's `norm`, like VisionTransformer.norm.
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=config.depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False
        )
        self.pool = SequencePooling(dim) if config.pooling == "seq" else None
        self.head = nn.Linear(dim, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, S, S) float in [0, 1] -> logits (B, classes)."""
        tokens = self.tokenizer(self.normalize(images))  # (B, g*g, D)
        if self.cls_token is not None:
            cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
            tokens = torch.cat([cls, tokens], dim=1)  # (B, N, D)
        x = self.encoder(tokens + self.pos_embed)  # (B, N, D), final LayerNorm included
        pooled = x[:, 0] if self.pool is None else self.pool(x)  # (B, D)
        return self.head(pooled)  # (B, num_classes)


def homework_size_config() -> ViTConfig:
    """The homework ViT: hidden 256, depth 6, 8 heads, MLP ratio 4, 16x16 patches of 64x64 images, 5 classes."""
    return ViTConfig(image_size=64, patch_size=16, num_classes=5, hidden_dim=256, depth=6, num_heads=8, mlp_ratio=4.0)


def quick_config() -> ViTConfig:
    """A tiny ViT for the smoke test (seconds, not minutes)."""
    return ViTConfig(image_size=32, patch_size=16, num_classes=5, hidden_dim=32, depth=1, num_heads=2, mlp_ratio=2.0)


def preset_config(name: str) -> ViTConfig:
    """The model config of a named ViT preset from vitcore.presets."""
    try:
        from vitcore.presets import get_preset
    except ImportError as error:
        raise SystemExit(f"--preset needs vitcore/presets.py, which could not be imported ({error}).") from None
    config = get_preset("vit", name).model_config
    if not isinstance(config, ViTConfig):
        raise SystemExit(f"preset {name!r} is not a ViT preset.")
    return config


def benchmark_config(config: ViTConfig, attention: str) -> ViTConfig:
    """`config` with the given attention variant, no homework bugs and every dropout off (same arithmetic as the reference)."""
    return dataclasses.replace(
        config, attention=attention, dropout=0.0, attention_dropout=0.0, drop_path=0.0, homework_bugs=None
    )


def build_models(config: ViTConfig, variants: list[str], seed: int) -> dict[str, nn.Module]:
    """One VisionTransformer per variant plus the reference, each built from the same seed."""
    models: dict[str, nn.Module] = {}
    for variant in variants:
        torch.manual_seed(seed)
        models[variant] = build_model(benchmark_config(config, variant))
    torch.manual_seed(seed)
    models[REFERENCE_NAME] = ReferenceViT(benchmark_config(config, "fused"))
    return models


def make_train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """A closure running one forward + cross-entropy + backward + AdamW step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)  # (B, classes)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        optimizer.step()

    return step


def make_infer_step(model: nn.Module, images: torch.Tensor) -> Callable[[], None]:
    """A closure running one forward pass under torch.inference_mode()."""

    def step() -> None:
        with torch.inference_mode():
            model(images)  # (B, classes)

    return step


def run_alternating(
    steps: dict[str, Callable[[], None]], settings: BenchSettings, phase: str
) -> dict[str, list[float]]:
    """Warm every model up, then time them in rotation; returns images/s of every round per model."""
    names = list(steps)
    for name in names:
        for _ in range(settings.warmup_steps):
            steps[name]()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.rounds):
        shift = round_index % len(names)
        order = names[shift:] + names[:shift]  # a different model goes first every round
        for name in order:
            step = steps[name]
            seconds = time_call(lambda: [step() for _ in range(settings.steps_per_round)])
            rates[name].append(settings.batch_size * settings.steps_per_round / seconds)
        log(f"[{phase}] round {round_index + 1}/{settings.rounds}: "
            + ", ".join(f"{name} {rates[name][-1]:.0f} img/s" for name in names))
    return rates


def measure(config: ViTConfig, variants: list[str], settings: BenchSettings) -> dict:
    """Build the models, time the train and inference phases, and return the result record."""
    torch.set_num_threads(settings.threads)
    models = build_models(config, variants, settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    images = torch.rand(  # (B, 3, S, S) float in [0, 1]
        settings.batch_size, config.in_channels, config.image_size, config.image_size, generator=generator
    )
    labels = torch.randint(0, config.num_classes, (settings.batch_size,), generator=generator)  # (B,)

    for model in models.values():
        model.train()
    train_rates = run_alternating(
        {name: make_train_step(model, images, labels) for name, model in models.items()}, settings, "train"
    )
    for model in models.values():
        model.eval()
    infer_rates = run_alternating(
        {name: make_infer_step(model, images) for name, model in models.items()}, settings, "infer"
    )

    train_img_s = {name: round(median(values), 2) for name, values in train_rates.items()}
    infer_img_s = {name: round(median(values), 2) for name, values in infer_rates.items()}
    return {
        "bench": "throughput",
        "threads": settings.threads,
        "batch": settings.batch_size,
        "train_img_s": train_img_s,
        "infer_img_s": infer_img_s,
        "train_ratio_vs_reference": {
            name: round(rate / train_img_s[REFERENCE_NAME], 3) for name, rate in train_img_s.items()
        },
        "infer_ratio_vs_reference": {
            name: round(rate / infer_img_s[REFERENCE_NAME], 3) for name, rate in infer_img_s.items()
        },
        "train_img_s_min_max": {name: [round(min(v), 2), round(max(v), 2)] for name, v in train_rates.items()},
        "infer_img_s_min_max": {name: [round(min(v), 2), round(max(v), 2)] for name, v in infer_rates.items()},
        "params": {name: count_parameters(model) for name, model in models.items()},
        "rounds": settings.rounds,
        "steps_per_round": settings.steps_per_round,
        "warmup_steps": settings.warmup_steps,
        "model": {
            "image_size": config.image_size,
            "patch_size": config.patch_size,
            "hidden_dim": config.hidden_dim,
            "depth": config.depth,
            "num_heads": config.num_heads,
            "mlp_ratio": config.mlp_ratio,
            "num_classes": config.num_classes,
            "tokenizer": config.tokenizer,
            "pooling": config.pooling,
        },
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_name(),
    }


def print_report(record: dict) -> None:
    """The readable table (one row per model)."""
    model = record["model"]
    title = (
        f"ViT throughput on CPU: hidden {model['hidden_dim']}, depth {model['depth']}, heads {model['num_heads']}, "
        f"mlp x{model['mlp_ratio']}, patch {model['patch_size']} on {model['image_size']}x{model['image_size']}; "
        f"batch {record['batch']}, {record['threads']} threads, median of {record['rounds']} rounds "
        f"x {record['steps_per_round']} steps (torch {record['torch']}, {record['cpu']})"
    )
    rows = []
    for name in record["train_img_s"]:
        train_low, train_high = record["train_img_s_min_max"][name]
        infer_low, infer_high = record["infer_img_s_min_max"][name]
        rows.append([
            name,
            record["params"][name],
            record["train_img_s"][name],
            f"{train_low:.0f}-{train_high:.0f}",
            record["train_ratio_vs_reference"][name],
            record["infer_img_s"][name],
            f"{infer_low:.0f}-{infer_high:.0f}",
            record["infer_ratio_vs_reference"][name],
        ])
    headers = ["model", "params", "train img/s", "range", "x ref", "infer img/s", "range", "x ref"]
    print_table(title, headers, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads value (default 2)")
    parser.add_argument("--batch", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--steps", type=int, default=3, help="steps per model per round (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps per model (default 3)")
    parser.add_argument("--variants", default=",".join(VARIANT_NAMES), help="comma-separated attention variants")
    parser.add_argument("--preset", default=None, help="use vitcore.presets.get_preset('vit', NAME).model_config")
    parser.add_argument("--hidden", type=int, default=None, help="override the hidden width")
    parser.add_argument("--depth", type=int, default=None, help="override the number of encoder blocks")
    parser.add_argument("--heads", type=int, default=None, help="override the number of heads")
    parser.add_argument("--quick", action="store_true", help="tiny model, batch 8, 1 round of 1 step (smoke test)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(variants) - set(VARIANT_NAMES))
    if unknown:
        raise SystemExit(f"unknown attention variants {unknown}; choose from {list(VARIANT_NAMES)}")
    if args.quick:
        config = quick_config()
        settings = BenchSettings(batch_size=8, threads=args.threads, warmup_steps=1, rounds=1, steps_per_round=1)
    else:
        config = preset_config(args.preset) if args.preset else homework_size_config()
        settings = BenchSettings(
            batch_size=args.batch, threads=args.threads, warmup_steps=args.warmup, rounds=args.rounds,
            steps_per_round=args.steps,
        )
    overrides = {"hidden_dim": args.hidden, "depth": args.depth, "num_heads": args.heads}
    config = dataclasses.replace(config, **{key: value for key, value in overrides.items() if value is not None})
    record = measure(config, variants, settings)
    if args.preset and not args.quick:
        record["preset"] = args.preset
    print_report(record)
    print_json_line(record)


if __name__ == "__main__":
    main()
