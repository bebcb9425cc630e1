"""The package and the app run on Python 3.10 (ZeroGPU's Python, the README front matter's
``python_version``): vermin finds nothing in them that needs a newer Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARGET = "3.10"


def _vermin(*paths: Path | str) -> subprocess.CompletedProcess:
    """vermin over ``paths``: exit status 0 when nothing needs a Python newer than TARGET."""
    try:
        import vermin  # noqa: F401
    except ImportError:
        pytest.fail("vermin is not installed: pip install -r requirements-dev.txt")
    run_vermin = "import sys, vermin; sys.exit(vermin.main())"  # its console script, in this Python
    command = [sys.executable, "-c", run_vermin, f"-t={TARGET}-", "--violations", "--no-tips", "--eval-annotations"]
    args = [*command, *map(str, paths)]
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_vermin_sees_what_needs_python_3_11(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("import tomllib\nfrom typing import Self\n\n\ndef f(x: Self) -> None:\n    pass\n")
    out = _vermin(newer)
    assert out.returncode != 0 and "tomllib" in out.stdout and "3.11" in out.stdout, out.stdout


def test_nothing_in_the_package_and_the_app_needs_a_python_newer_than_3_10():
    out = _vermin(REPO / "humansplat", REPO / "app.py")
    assert out.returncode == 0, f"vermin found code that needs a Python newer than {TARGET}:\n{out.stdout}{out.stderr}"
    assert "Target versions not met" not in out.stdout


def test_the_space_asks_for_python_3_10():
    front = (REPO / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert f'python_version: "{TARGET}"' in front
