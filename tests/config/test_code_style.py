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


def test_audit_imports_nothing_but_core():
    # Every app records into the audit log: it knows only Django and core, so that any app may import it.
    first_party = {path.parent.name for path in BASE_DIR.glob("*/__init__.py")}
    found = [
        (file, module)
        for file, module in imported_modules("audit")
        if module.split(".")[0] in first_party - {"core", "audit"}
    ]

    assert found == []


def test_sources_imports_nothing_but_core_and_audit_outside_its_admin():
    # Every app builds on sources, so its models, crypto, services and commands know only Django,
    # core and audit (which records their changes); its admin alone composes webhooks' and
    # documents' services on a source's page.
    first_party = {path.parent.name for path in BASE_DIR.glob("*/__init__.py")}
    found = [
        (file, module)
        for file, module in imported_modules("sources")
        if file != "sources/admin.py" and module.split(".")[0] in first_party - {"core", "audit", "sources"}
    ]

    assert found == []


def test_no_app_imports_the_sources_admin():
    # It imports webhooks and documents: an app importing it would import them all (webhooks, documents).
    found = [
        (file, module)
        for folder in ("core", "audit", "webhooks", "documents", "interviews")
        for file, module in imported_modules(folder)
        if module == "sources.admin" or module.startswith("sources.admin.")
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


@pytest.mark.parametrize("folder", ["core", "audit", "sources", "webhooks", "documents", "interviews"])
def test_no_import_goes_round_through_config(folder):
    # config imports the apps (its URLs name their views): an app or core importing config would close a loop.
    found = [(file, module) for file, module in imported_modules(folder) if module.split(".")[0] == "config"]

    assert found == []


def test_core_imports_no_app():
    apps = {path.parent.name for path in BASE_DIR.glob("*/apps.py")} - {"core"}
    found = [(file, module) for file, module in imported_modules("core") if module.split(".")[0] in apps]

    assert found == []


# Private parts of Django, psycopg and the C library that production code once reached into to win
# a benchmark (issue 21): each upgrade of them would have been an investigation. Their supported
# replacements: the ORM or a plain cursor, DATABASES' OPTIONS, MALLOC_ARENA_MAX in the processes'
# environment.
PRIVATE_INTERNALS = {
    "ServerBindingCursor": "a cursor class of Django's backend",
    "health_check_done": "Django's connection health-check flag",
    "make_debug_cursor": "Django's cursor wrapping",
    "validate_thread_sharing": "Django's connection internals",
    "get_related_populators": "Django's queryset iteration",
    "klass_info": "Django's SQL compiler state",
    "results_iter": "Django's SQL compiler",
    "get_db_prep_save": "a field's preparation for the database, passed around by hand",
    ".prepare_threshold =": "psycopg's connection attribute set by hand (OPTIONS sets it)",
    "mallopt": "glibc through ctypes (MALLOC_ARENA_MAX is the environment's)",
    "setswitchinterval": "the interpreter's switch interval, set process-wide from a bootstep",
    "core.prepared": "querysets compiled once and rebuilt by hand",
    "consuming_from": "Celery's task consumer, read to decide where an event is processed",
    "TextAnnouncer": "texts held in a worker's memory by a bootstep (the database holds them now)",
    "syncs_running": "a process-wide count of running syncs (the database says whether any syncs)",
    "._create_session(": "django-storages' session making (boto3.Session from the storage's settings)",
    "._normalize_name(": "django-storages' key making (storages.utils' clean_name and safe_join)",
}
PRODUCTION_FOLDERS = ["config", "core", "audit", "sources", "webhooks", "documents", "interviews"]


def test_production_code_uses_no_private_internals():
    found = [
        (str(path.relative_to(BASE_DIR)), name)
        for folder in PRODUCTION_FOLDERS
        for path in sorted((BASE_DIR / folder).rglob("*.py"))
        if "migrations" not in path.parts
        for name in PRIVATE_INTERNALS
        if name in path.read_text()
    ]

    assert found == []
