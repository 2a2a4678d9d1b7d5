"""ruff's lint and format, as configured in pyproject.toml, hold for the whole tree; the apps'
imports keep their boundaries."""

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import BASE_DIR

RUFF = Path(sys.executable).parent / "ruff"


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_passes(command):
    result = subprocess.run([str(RUFF), *command], cwd=BASE_DIR, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def imported_modules(folder: str) -> Iterator[tuple[str, str]]:
    """(file, module) for every import in the folder's Python files, at any depth (lazy ones too)."""
    for path in sorted((BASE_DIR / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                yield from ((str(path.relative_to(BASE_DIR)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield str(path.relative_to(BASE_DIR)), node.module
                yield from ((str(path.relative_to(BASE_DIR)), f"{node.module}.{alias.name}") for alias in node.names)


def test_webhooks_imports_nothing_from_documents_or_interviews():
    # Intake knows nothing of what the other apps do with an event: they plug in through its registries.
    found = [
        (file, module)
        for file, module in imported_modules("webhooks")
        if module.split(".")[0] in ("documents", "interviews")
    ]

    assert found == []


def test_config_imports_no_app_models():
    # config wires the apps together (settings, URLs): it may name their views, never reach into their data.
    apps = {path.parent.name for path in BASE_DIR.glob("*/apps.py")}
    found = [
        (file, module)
        for file, module in imported_modules("config")
        if module.split(".")[0] in apps and re.search(r"\.models(\.|$)", module)
    ]

    assert found == []


@pytest.mark.parametrize("folder", ["core", "webhooks", "documents", "interviews"])
def test_no_import_goes_round_through_config(folder):
    # config imports the apps (its URLs name their views): an app or core importing config would close a loop.
    found = [(file, module) for file, module in imported_modules(folder) if module.split(".")[0] == "config"]

    assert found == []


def test_core_imports_no_app():
    apps = {path.parent.name for path in BASE_DIR.glob("*/apps.py")} - {"core"}
    found = [(file, module) for file, module in imported_modules("core") if module.split(".")[0] in apps]

    assert found == []
