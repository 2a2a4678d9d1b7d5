"""The documentation keeps up with the code: every environment variable the code reads is in the
configuration reference, the README stays short, every relative link leads somewhere, and the
architecture page's code layout lists the modules that exist, all of them."""

import re
import unicodedata
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DOCS = BASE_DIR / "docs"
README = BASE_DIR / "README.md"
CONFIGURATION = DOCS / "configuration.md"
ARCHITECTURE = DOCS / "architecture.md"

# Where the code that reads the environment lives (tests set variables, they do not define them).
CODE_FOLDERS = ("config", "core", "sources", "webhooks", "documents", "interviews", "scripts", "bench", "advance_sim")
# The folders whose modules the code layout lists.
LAYOUT_FOLDERS = CODE_FOLDERS
NAME = r"([A-Z][A-Z0-9_]*)"
# config/env.py's readers, and the settings' helper that reads a list of networks through them.
READER_CALL = re.compile(rf"\b(?:env_str|env_int|env_float|env_bool|env_list|_networks)\(\s*[\"']{NAME}[\"']")
OS_ENVIRON = re.compile(rf"\bos\.(?:environ(?:\.get|\.setdefault|\.pop)?\s*[\[(]|getenv\()\s*[\"']{NAME}[\"']")
# A command that names its variable once, as a constant, and reads os.environ.get(THE_CONSTANT).
VARIABLE_CONSTANT = re.compile(rf"^[A-Z_]*_VARIABLE\s*=\s*[\"']{NAME}[\"']", re.MULTILINE)
COMPOSE_SUBSTITUTION = re.compile(rf"\$\{{{NAME}")
# The system's own, passed through to a child process, not configuration.
NOT_CONFIGURATION = {"PATH"}

MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def python_files(folders: tuple[str, ...]) -> list[Path]:
    return sorted(path for folder in folders for path in (BASE_DIR / folder).rglob("*.py"))


def variables_read_by_code() -> set[str]:
    names = set()
    for path in [*python_files(CODE_FOLDERS), BASE_DIR / "manage.py"]:
        text = path.read_text()
        for pattern in (READER_CALL, OS_ENVIRON, VARIABLE_CONSTANT):
            names.update(pattern.findall(text))
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    names.update(COMPOSE_SUBSTITUTION.findall(re.sub(r"^\s*#.*$", "", compose, flags=re.MULTILINE)))
    return names - NOT_CONFIGURATION


def variables_documented() -> set[str]:
    return set(re.findall(rf"`{NAME}`", CONFIGURATION.read_text()))


def test_the_variables_are_found_in_every_way_the_code_reads_them():
    # Guards the test below: a regex that found nothing would let any variable go undocumented.
    found = variables_read_by_code()

    assert {
        "DOCUMENT_DOWNLOAD_URL_SECONDS",  # env_int
        "METRICS_ALLOWED_NETWORKS",  # _networks
        "ADVANCE_READ_TIMEOUT",  # env_float
        "GUNICORN_BIND",  # config/gunicorn.py
        "PORT",  # os.environ.get
        "ADVANCE_PRINCIPAL_PASSWORD",  # a constant
        "POSTGRES_PASSWORD",  # docker-compose.yml
        "DJANGO_SECURE_HSTS_PRELOAD",  # production settings
    } <= found
    assert len(found) > 80


def test_every_variable_the_code_reads_is_in_the_configuration_reference():
    missing = sorted(variables_read_by_code() - variables_documented())

    assert missing == [], f"add these to docs/configuration.md, with their defaults: {missing}"


def test_the_readme_is_at_most_300_lines():
    lines = len(README.read_text().splitlines())

    assert lines <= 300, f"README.md has {lines} lines: move the details into docs/"


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings."""
    anchors, seen = set(), {}
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = unicodedata.normalize("NFC", match.group(1).replace("`", "")).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def relative_links(path: Path) -> list[str]:
    links = MARKDOWN_LINK.findall(FENCE.sub("", path.read_text()))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


@pytest.mark.parametrize("document", markdown_files(), ids=lambda path: str(path.relative_to(BASE_DIR)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(document):
    broken = []
    for link in relative_links(document):
        target, _, anchor = link.partition("#")
        path = (document.parent / target).resolve() if target else document
        if not path.exists():
            broken.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in heading_anchors(path):
            broken.append(f"{link}: no such heading")

    assert broken == []


def test_the_docs_link_checker_sees_links_and_anchors():
    # Guards the test above: it must find the README's links to docs/ and read their headings.
    links = relative_links(README)

    assert "docs/configuration.md" in links
    assert "operators-commands" in heading_anchors(DOCS / "operations.md")
    assert "search-issue-13" in heading_anchors(DOCS / "performance.md")


def code_layout_paths() -> set[str]:
    text = ARCHITECTURE.read_text()
    section = re.search(r"^## Code layout$(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert section, "docs/architecture.md has no '## Code layout' section"
    return set(re.findall(r"`(\w[\w./]*(?:\.py|/))`", section.group(1)))


def modules_in_tree() -> set[str]:
    modules = {"manage.py"}
    for path in python_files(LAYOUT_FOLDERS):
        relative = path.relative_to(BASE_DIR)
        if path.name == "__init__.py":
            continue
        if "migrations" in relative.parts:
            modules.add(f"{Path(*relative.parts[: relative.parts.index('migrations') + 1])}/")
            continue
        modules.add(str(relative))
    return modules


def test_every_path_in_the_code_layout_exists():
    missing = sorted(path for path in code_layout_paths() if not (BASE_DIR / path).exists())

    assert missing == [], f"docs/architecture.md lists what is not there: {missing}"


def test_the_code_layout_lists_every_module_and_migrations_package():
    unlisted = sorted(modules_in_tree() - code_layout_paths())

    assert unlisted == [], f"add these to the code layout in docs/architecture.md: {unlisted}"
