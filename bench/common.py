"""Helpers shared by the benchmark scripts in bench/.

Every benchmark prints a human-readable table and then exactly ONE JSON line
on stdout (the last line), so a person can read the result and a script can
parse it (`json.loads(stdout.strip().splitlines()[-1])`). Progress messages go
to stderr so they never mix with the JSON line.

The scripts are run as files (`python bench/throughput.py`), so this module
also puts the repository root on `sys.path` to make `import vitcore` work
without installing the package.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding vitcore/ and bench/


def ensure_repo_on_path() -> None:
    """Make `import vitcore` work when a bench script is run directly from any folder."""
    repo = str(REPO_ROOT)
    if repo not in sys.path:
        sys.path.insert(0, repo)


def log(message: str) -> None:
    """A progress line on stderr (stdout is reserved for the table and the JSON line)."""
    print(message, file=sys.stderr, flush=True)


def time_call(function: Callable[[], Any]) -> float:
    """Wall-clock seconds taken by one call of `function` (perf_counter)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    """Median of a non-empty list of numbers."""
    return float(statistics.median(values))


def cpu_name() -> str:
    """A readable CPU description: /proc/cpuinfo "model name" on Linux, else platform.processor()."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def peak_rss_mb() -> float:
    """Peak resident set size of THIS process so far, in MiB (resource.getrusage).

    Linux reports ru_maxrss in KiB, macOS in bytes. The value never goes down,
    so measure each phase in its own process when phases must be compared.
    """
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024
    return max_rss / divisor


def default_data_root() -> Path | None:
    """The folder named by VIT_CLASSROOM_DATA, else `<repo>/../shared/data`, if it exists."""
    from_env = os.environ.get("VIT_CLASSROOM_DATA")
    if from_env and Path(from_env).is_dir():
        return Path(from_env)
    fallback = REPO_ROOT.parent / "shared" / "data"
    return fallback if fallback.is_dir() else None


def dataset_root_from_arg(data_arg: str | None) -> Path | None:
    """The folder a benchmark's --data names (None: 'synthetic', the embedded set), else $VIT_CLASSROOM_DATA/coco5-64.

    Raises ValueError with a one-line message when there is no such folder.
    """
    from vitcore.data.sources import is_synthetic_source

    if data_arg is not None:
        data_root = None if is_synthetic_source(data_arg) else Path(data_arg)
    else:
        shared = default_data_root()
        data_root = shared / "coco5-64" if shared is not None else None
        if data_root is None or not data_root.is_dir():
            raise ValueError("no dataset: pass --data FOLDER (or --data synthetic) or set VIT_CLASSROOM_DATA")
    if data_root is not None and not data_root.is_dir():
        raise ValueError(f"dataset folder does not exist: {data_root}")
    return data_root


def load_bench_data(data_arg: str | None, cache_dir: Path | None = None):
    """(data, data_root) for a benchmark's --data (see dataset_root_from_arg; data_root None = the embedded set).

    A missing folder prints its one-line error and exits with status 2.
    """
    from vitcore.data.sources import load_dataset

    try:
        data_root = dataset_root_from_arg(data_arg)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    log(f"loading {data_root or 'the embedded synthetic dataset'}")
    return load_dataset(None if data_root is None else str(data_root), cache_dir=cache_dir), data_root


def quick_or_bench_data(data_arg: str | None, quick: bool, quick_val_per_class: int = 4):
    """(data, source name): a small embedded set (40 training pictures per class) for --quick, else load_bench_data."""
    if quick:
        from vitcore.data.synthetic import generate_synthetic

        return generate_synthetic(train_per_class=40, val_per_class=quick_val_per_class, seed=0), "synthetic (quick)"
    data, data_root = load_bench_data(data_arg)
    return data, (data_root.name if data_root is not None else "synthetic")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned columns; floats are shown with 2 decimals."""

    def cell(value: Any) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    text_rows = [[cell(value) for value in row] for row in rows]
    widths = [max(len(str(header)), *(len(row[i]) for row in text_rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(str(header).rjust(width) for header, width in zip(headers, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.rjust(width) for value, width in zip(row, widths)) for row in text_rows]
    return "\n".join(lines)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a titled table on stdout."""
    print(title)
    print(format_table(headers, rows))
    print(flush=True)


def print_json_line(record: dict[str, Any]) -> None:
    """Print the result as ONE compact JSON line on stdout; call it last."""
    print(json.dumps(record, sort_keys=False, separators=(",", ":")), flush=True)


def parse_last_json_line(stdout: str) -> dict[str, Any]:
    """The JSON object on the last non-empty stdout line of a benchmark (used by the smoke test)."""
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("the benchmark printed nothing on stdout")
    return json.loads(lines[-1])
