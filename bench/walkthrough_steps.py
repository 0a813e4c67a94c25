"""What a step change of the "Inside the ViT" page costs the server, for the classroom ViT on this CPU.

A finished classroom-size ViT run (real architecture, freshly initialised weights) is written to a temporary
runs folder; the page is then driven with Streamlit's AppTest (the page's real script, run in this process):
it opens on a validation picture, and Next is pressed through all seven steps, --rounds times. Reported:
- first open: the page's first run for a picture, which also computes the walkthrough (walk_through);
- step change: one press of Next (the walkthrough comes from the shared cache), median and max over all presses.
Target: a step change costs at most 300 ms of server time.

Run:  .venv/bin/python bench/walkthrough_steps.py [--rounds 3] [--quick]
Output: a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, so `bench`, `app` and `vitcore` import

from bench.common import REPO_ROOT, cpu_name, log, median, print_json_line, print_table  # noqa: E402

TARGET_MS = 300.0  # the budget for one step change
STEPS = 7  # steps of the walkthrough


def write_classroom_run(root: Path) -> str:
    """A finished run of the classroom ViT (5 classes, 64 px) with real, untrained weights."""
    import torch

    from vitcore.models.config import config_to_dict
    from vitcore.models.factory import build_model
    from vitcore.presets import get_preset
    from vitcore.runs.store import RunStore

    torch.manual_seed(0)
    model_config = get_preset("vit", "classroom").model_config
    model = build_model(model_config)
    classes = ["airplane", "bus", "cat", "dog", "pizza"]
    config = config_to_dict(model_config)
    run = RunStore(root).create_run("vit-classroom", config, {"epochs": 1}, classes, "synthetic-bench", "bench")
    run.save_checkpoint({"model": model.state_dict(), "model_config": config, "class_names": classes})
    run.append_metrics({"type": "epoch", "epoch": 1, "train_loss": 1.6, "train_acc": 0.2, "val_loss": 1.6, "val_acc": 0.2, "seconds": 1.0})
    run.set_status("finished", "bench")
    return run.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="times the seven steps are walked (each on a new picture)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one round")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="walkthrough-bench-") as temp:
        os.environ.update({
            "VIT_CLASSROOM_RUNS": str(Path(temp) / "runs"), "VIT_CLASSROOM_CACHE": str(Path(temp) / "cache"),
            "VIT_CLASSROOM_SYNTH_PER_CLASS": "12", "VIT_CLASSROOM_DEVICE": "cpu",
        })
        run_id = write_classroom_run(Path(temp) / "runs")
        from streamlit.testing.v1 import AppTest

        app = AppTest.from_file(str(REPO_ROOT / "app" / "Home.py"), default_timeout=300).run()
        app.switch_page("views/inside_vit.py").run()  # warm-up: imports, the dataset, the model
        first_open_ms, step_ms = [], []
        for round_index in range(rounds):
            started = time.perf_counter()
            app.number_input(key="inside_picture").set_value(round_index + 1).run()  # a new picture: walk_through runs
            first_open_ms.append((time.perf_counter() - started) * 1000)
            for _ in range(STEPS - 1):
                started = time.perf_counter()
                app.button(key="inside_next").click().run()
                step_ms.append((time.perf_counter() - started) * 1000)
                if app.exception or app.error:
                    raise SystemExit(f"the page failed: {[item.value for item in app.exception or app.error]}")
            app.selectbox(key="inside_step").set_value("1 · The picture and its patches").run()
            log(f"[walkthrough_steps] round {round_index + 1}: first open {first_open_ms[-1]:.0f} ms, "
                f"steps {', '.join(f'{value:.0f}' for value in step_ms[-(STEPS - 1):])} ms")
    record = {
        "bench": "walkthrough_steps", "quick": args.quick, "run": run_id, "rounds": rounds,
        "first_open_ms_median": round(median(first_open_ms), 1), "step_change_ms_median": round(median(step_ms), 1),
        "step_change_ms_max": round(max(step_ms), 1), "target_ms": TARGET_MS, "target_met": max(step_ms) <= TARGET_MS,
        "cpu": cpu_name(),
    }
    print_table(
        f"Inside the ViT, classroom ViT, server time per page run (cpu: {cpu_name()})",
        ["first open ms (median)", "step change ms (median)", "step change ms (max)", "target ms"],
        [[record["first_open_ms_median"], record["step_change_ms_median"], record["step_change_ms_max"], TARGET_MS]],
    )
    print_json_line(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
