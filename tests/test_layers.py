"""The house in order (issue 20): rl_core's import layers as pyproject.toml declares them, and no
module grown past a size one can read top to bottom."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 550  # "no file over ~500 lines": a little slack, so a fix is not a split


def test_every_import_runs_down_the_declared_layers():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "lint-imports is missing: pip install -e '.[test]' brings import-linter"
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "rl_core in layers KEPT" in result.stdout and "never imports Streamlit KEPT" in result.stdout


def test_no_module_of_rl_core_is_longer_than_a_read():
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "rl_core").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these along their seams: {long}"
