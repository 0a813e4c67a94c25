"""Check the protocol-level load client against real browsers: bench/classroom_load.py beside bench/load.py.

Both benchmarks start the same server (the same settings, a ViT training inside it), open Attention in N tabs,
pick the same finished ViT run and upload the same drawn 1024x768 photos at one moment; both time the upload
to the overlay image downloaded and decoded. They run one after the other, never at once.

Their raw latencies differ on purpose: bench/load.py's N Chromium tabs run on the same cores as the server
and spend CPU drawing every answer, which the students' own machines do in a class. So the comparison is
made on the server's work: if the wire client measures the server right, a Chromium round should take the
wire client's time plus the time the browsers' CPU work needs on this machine's cores,

    predicted Chromium p95 = wire p95 + Chromium CPU seconds in the upload phase / cores,

and the check passes (`validated`) when every N's predicted p95 is within --tolerance (25 %) of the measured
one. The raw ratio is printed as well.

Run from the repository root:
    .venv/bin/python bench/wire_vs_chromium.py --users 5 10

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.common import cpu_name, log, parse_last_json_line, print_json_line, print_table  # noqa: E402

DEFAULT_USERS = (5, 10)  # the N values the check runs at
TOLERANCE = 0.25  # the predicted Chromium p95 may differ from the measured one by this fraction


def compare(wire: dict, chromium: dict, cores: int, tolerance: float = TOLERANCE) -> list[dict]:
    """One row per N found in both records: measured p95s, the browsers' CPU, the prediction and its error."""
    wire_rounds = {entry["users"]: entry for entry in wire["rounds"]}
    rows = []
    for entry in chromium["rounds"]:
        count = entry.get("sessions")
        mine = wire_rounds.get(count)
        phase = entry.get("upload_phase_cpu_s") or {}
        if mine is None or mine.get("overlay_p95_s") is None or entry.get("overlay_p95_s") is None or "chromium" not in phase:
            continue
        predicted = mine["overlay_p95_s"] + phase["chromium"] / cores
        measured = entry["overlay_p95_s"]
        error = (predicted - measured) / measured
        rows.append({
            "users": count,
            "wire_p95_s": round(mine["overlay_p95_s"], 3),
            "chromium_p95_s": round(measured, 3),
            "chromium_cpu_s": round(phase["chromium"], 2),
            "server_cpu_s_wire": (mine.get("upload_phase") or {}).get("server_cpu_s"),
            "server_cpu_s_chromium": round(phase.get("server", 0.0), 2),
            "predicted_chromium_p95_s": round(predicted, 3),
            "prediction_error": round(error, 3),
            "raw_ratio": round(mine["overlay_p95_s"] / measured, 3),
            "within_tolerance": abs(error) <= tolerance,
            "errors": mine["errors"] + entry["errors"],
        })
    return rows


def run_benchmark(arguments: list[str]) -> dict:
    """Run one benchmark script to the end; its JSON record."""
    log(f"[wire-vs-chromium] {' '.join(arguments)}")
    finished = subprocess.run([sys.executable, *arguments], cwd=REPO_ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{arguments[0]} failed:\n{finished.stderr[-3000:]}")
    return parse_last_json_line(finished.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=list(DEFAULT_USERS), help="N values, one round each")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="allowed relative error of the prediction")
    args = parser.parse_args(argv)
    counts = [str(count) for count in args.users]
    wire = run_benchmark(["bench/classroom_load.py", "--users", *counts, "--watchers", "0", "--photos", "drawn"])
    chromium = run_benchmark(["bench/load.py", "--sessions", *counts])
    cores = os.cpu_count() or 1
    rows = compare(wire, chromium, cores, args.tolerance)
    print_table(
        f"Wire client against Chromium tabs, a ViT training in the server ({cpu_name()}, {cores} cores)",
        ["N", "wire p95 s", "Chromium p95 s", "Chromium CPU s", f"predicted = wire + CPU/{cores}", "error", "raw ratio"],
        [[row["users"], row["wire_p95_s"], row["chromium_p95_s"], row["chromium_cpu_s"], row["predicted_chromium_p95_s"],
          f"{row['prediction_error']:+.0%}", row["raw_ratio"]] for row in rows],
    )
    validated = bool(rows) and len(rows) == len(args.users) and all(row["within_tolerance"] and row["errors"] == 0 for row in rows)
    print_json_line({"bench": "wire_vs_chromium", "users": args.users, "cores": cores, "tolerance": args.tolerance,
                     "rows": rows, "validated": validated, "cpu": cpu_name()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
