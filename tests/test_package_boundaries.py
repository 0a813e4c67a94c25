"""vitcore is the engine: importing all of it must not pull in Streamlit."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_vitcore_never_imports_streamlit():
    modules = sorted(
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        for path in (REPO_ROOT / "vitcore").rglob("*.py")
        if path.name not in ("__main__.py",)
    )
    assert "vitcore.cli" in modules and "vitcore.train.engine" in modules
    script = "import importlib, sys\n" + "".join(f"importlib.import_module({name!r})\n" for name in modules)
    script += "print('streamlit' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
