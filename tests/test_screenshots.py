"""docs/make_screenshots.py writes one real, non-blank PNG under 300 kB for every page (tiny run budget)."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from bench.browser_support import REPO_ROOT, chromium_or_skip

EXPECTED = {"home.png", "data.png", "train.png", "attention.png", "inside-the-vit.png", "compare.png", "attention-lab.png",
            "attention-time-lapse.png"}


def test_the_screenshot_script_writes_every_page(tmp_path):
    chromium_or_skip("the screenshot script")
    out = tmp_path / "images"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "make_screenshots.py"), "--out", str(out),
         "--per-class", "12", "--epochs", "1", "--max-batches", "2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(record["files"]) == EXPECTED == {path.name for path in out.iterdir()}
    for path in out.iterdir():
        size = path.stat().st_size
        assert 10_000 < size < 300_000 and record["files"][path.name] == size, (path.name, size)
        with Image.open(path) as picture:
            assert picture.format == "PNG" and picture.width >= 600 and picture.height >= 600
            pixels = np.asarray(picture.convert("L"), dtype=np.float32)  # (H, W) grey levels
        assert pixels.std() > 10, f"{path.name} looks blank (grey-level std {pixels.std():.1f})"
        assert len(np.unique(pixels)) > 20, f"{path.name} has almost no distinct shades"
        assert (pixels < 100).mean() > 0.002, f"{path.name} has no dark text or lines"
