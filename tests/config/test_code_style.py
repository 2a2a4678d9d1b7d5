"""ruff's lint and format, as configured in pyproject.toml, hold for the whole tree."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import BASE_DIR

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_passes(command):
    result = subprocess.run([str(RUFF), *command], cwd=BASE_DIR, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
