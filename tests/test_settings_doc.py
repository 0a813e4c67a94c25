"""docs/settings.md lists exactly the VIT_CLASSROOM_* variables the code reads, and every .streamlit setting."""

import re
import subprocess
import tomllib

from app.services.paths import REPO_ROOT

SETTINGS_DOC = REPO_ROOT / "docs" / "settings.md"
VARIABLE = re.compile(r"VIT_CLASSROOM_[A-Z0-9_]+")
SELF = "tests/test_settings_doc.py"  # this file names no variable of its own, but keep it out of the scan anyway


def tracked_code_files() -> list:
    """The project's own code and scripts, as git tracks them (Python files and .ci/run)."""
    listed = subprocess.run(["git", "ls-files", "*.py", ".ci/run"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [REPO_ROOT / name for name in listed.stdout.split() if name != SELF]


def variables_in_code() -> set[str]:
    return {name for path in tracked_code_files() for name in VARIABLE.findall(path.read_text(encoding="utf-8"))}


def table_rows(heading: str) -> list[str]:
    """The first cell of every row of the table under `## heading` in docs/settings.md."""
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| name") and "---" not in line]
    return [row.split("|")[1].strip().strip("`") for row in rows if not row.startswith("| key")]


def test_every_variable_the_code_reads_is_documented_and_nothing_more():
    documented = set(table_rows("Environment variables"))
    in_code = variables_in_code()
    assert len(in_code) >= 13  # the scan found the code (13 variables when this test was written)
    assert in_code - documented == set(), f"read by the code but missing from docs/settings.md: {sorted(in_code - documented)}"
    assert documented - in_code == set(), f"in docs/settings.md but never read by the code: {sorted(documented - in_code)}"


def test_every_streamlit_setting_is_documented():
    with open(REPO_ROOT / ".streamlit" / "config.toml", "rb") as handle:
        config = tomllib.load(handle)
    documented = table_rows("Streamlit's settings: `.streamlit/config.toml`")
    keys = [f"{section}.{key}" for section, values in config.items() for key in values]
    missing = [key for key in keys if key not in documented and f"{key.split('.')[0]}.*" not in documented]
    assert keys and not missing, f"settings in .streamlit/config.toml missing from docs/settings.md: {missing}"
    assert all(entry in keys or entry.endswith(".*") for entry in documented), documented
