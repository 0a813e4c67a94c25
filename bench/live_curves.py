"""What the Train page's live view costs the server per refresh, with and without sharing between watchers.

Every open Train tab redraws its live view every 1.5 s. Per redraw the server reads the watched run's
files (metrics.jsonl, iterations.jsonl, status, config), builds two plotly figures, and Streamlit
serialises each figure to JSON for that tab. `app.live_curves.shared_live_curves` does the reading and
building once per second per run for every watcher; the serialising stays per tab.

This script writes a run folder the size of a classroom run (12 epochs x 59 steps, written the way the
engine writes it), then times, in this process, the median of --repeats calls of:
- build: read the files + build both figures, the way the shared cache does it while a run trains: its
  IterationTail parses only the steps appended since the last refresh (--new-steps per call);
- build, full read: the same, parsing the whole iterations.jsonl every time (what it did before the tail);
- serialise: plotly's to_json of both figures (what st.plotly_chart still does in every tab);
and reports the server CPU one second of N watchers costs: unshared N x (build + serialise) / 1.5,
shared (build + N x serialise) / 1.5.

Run:  .venv/bin/python bench/live_curves.py [--watchers 30] [--epochs 12 --steps-per-epoch 59] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench`, `app` and `vitcore` import

from bench.common import cpu_name, log, median, print_json_line, print_table  # noqa: E402


def write_classroom_run(root: Path, epochs: int, steps_per_epoch: int, seed: int = 0):
    """A finished run folder with per-step and per-epoch records like the engine's."""
    from vitcore.runs.store import RunStore

    rng = random.Random(seed)
    run = RunStore(root).create_run("vit-classroom", {"kind": "vit"}, {"epochs": epochs}, list("abcde"), "bench", "bench")
    run.append_iterations([
        {"type": "iteration", "global_step": epoch * steps_per_epoch + step, "epoch": epoch + 1, "step": step + 1,
         "steps_per_epoch": steps_per_epoch, "loss": 1.6 - 0.05 * epoch + rng.random() * 0.1,
         "running_acc": 0.3 + 0.03 * epoch + rng.random() * 0.05}
        for epoch in range(epochs) for step in range(steps_per_epoch)
    ])
    for epoch in range(1, epochs + 1):
        run.append_metrics({"type": "epoch", "epoch": epoch, "train_loss": 1.5 - 0.05 * epoch, "train_acc": 0.4 + 0.03 * epoch,
                            "val_loss": 1.5 - 0.04 * epoch, "val_acc": 0.4 + 0.025 * epoch, "seconds": 18.0})
    run.set_status("finished", "done")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=30, help="tabs watching the same run")
    parser.add_argument("--epochs", type=int, default=12, help="epochs in the run folder (the classroom recipe: 12)")
    parser.add_argument("--steps-per-epoch", type=int, default=59, help="steps per epoch (7,500 images / batch 128 = 59)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls of each part (the median is reported)")
    parser.add_argument("--new-steps", type=int, default=10, help="steps appended between two refreshes (1.5 s of CPU training)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a 2-epoch run, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps_per_epoch, args.repeats = 2, 10, 3

    import plotly.io
    import plotly.tools

    from app.live_curves import REFRESH_S, build_live_curves
    from vitcore.runs.iteration_tail import IterationTail

    with tempfile.TemporaryDirectory(prefix="live-curves-") as temp:
        run = write_classroom_run(Path(temp), args.epochs, args.steps_per_epoch)
        tail = IterationTail(run.iterations_path)  # the shared cache keeps one per run
        next_step = [args.epochs * args.steps_per_epoch]  # the training run goes on: global step of the next record

        def train_a_little():
            """Append --new-steps records, as a run training between two refreshes would."""
            first = next_step[0]
            run.append_iterations([
                {"type": "iteration", "global_step": step, "epoch": args.epochs, "step": args.steps_per_epoch,
                 "steps_per_epoch": args.steps_per_epoch, "loss": 1.0, "running_acc": 0.5}
                for step in range(first, first + args.new_steps)
            ])
            next_step[0] += args.new_steps

        def build(incremental: bool = True):
            curves = build_live_curves(run, None, tail if incremental else None)  # what the shared cache runs once a second
            return curves.iteration_figure, curves.epoch_figure

        def serialise(figures):
            for figure in figures:  # what st.plotly_chart does with a figure
                plotly.io.to_json(plotly.tools.return_figure_from_figure_or_data(figure, validate_figure=True), validate=False)

        figures = build()  # warm-up (imports, first pandas calls); the tail reads the whole file once here
        serialise(figures)
        build_s, full_read_s, serialise_s = [], [], []
        for _ in range(args.repeats):
            train_a_little()
            started = time.perf_counter()
            figures = build()
            build_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            build(incremental=False)
            full_read_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            serialise(figures)
            serialise_s.append(time.perf_counter() - started)
    build_ms, serialise_ms = median(build_s) * 1000, median(serialise_s) * 1000
    full_read_ms = median(full_read_s) * 1000
    unshared = args.watchers * (build_ms + serialise_ms) / 1000 / REFRESH_S  # CPU-s per second
    shared = (build_ms + args.watchers * serialise_ms) / 1000 / REFRESH_S
    log(f"[live_curves] {args.epochs} epochs x {args.steps_per_epoch} steps, {args.watchers} watchers")
    print_table(
        f"Train page live view, per refresh (cpu: {cpu_name()})",
        ["build ms", "build ms, full read", "serialise ms", "watchers", "unshared CPU-s/s", "shared CPU-s/s"],
        [[round(build_ms, 1), round(full_read_ms, 1), round(serialise_ms, 1), args.watchers, round(unshared, 2), round(shared, 2)]],
    )
    print_json_line({
        "bench": "live_curves", "quick": args.quick, "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch,
        "points": args.epochs * args.steps_per_epoch, "watchers": args.watchers, "refresh_s": REFRESH_S,
        "new_steps_per_refresh": args.new_steps, "build_ms": round(build_ms, 2),
        "build_full_read_ms": round(full_read_ms, 2), "serialise_ms": round(serialise_ms, 2),
        "unshared_cpu_s_per_s": round(unshared, 3), "shared_cpu_s_per_s": round(shared, 3), "cpu": cpu_name(),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
