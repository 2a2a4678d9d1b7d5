# advance-sync: `make run` to use it, `make test` to test it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv installs in seconds; a machine without it gets it inside the virtualenv.
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)/bin/uv)

.PHONY: run venv venv-dev test demo bench bench-scale lint requirements

# Python set-up only: a virtualenv with the pinned dependencies (uv inside it for speed).
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q --disable-pip-version-check uv
	$(UV) pip install -q --python $(PY) -r requirements.txt
	@touch $@

venv-dev: $(VENV)/.installed-dev
$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(UV) pip install -q --python $(PY) -r requirements-dev.txt
	@touch $@

run: venv
	$(PY) scripts/run.py

# Installs what the tests need, starts PostgreSQL, Redis and moto_server on 127.0.0.1, runs pytest.
test: venv-dev
	scripts/test.sh $(PYTEST_ARGS)

demo: venv
	$(PY) scripts/demo.py

bench: venv-dev
	scripts/bench.sh

# A million documents and ten million webhook calls (up to 30 minutes): how pages and jobs grow.
bench-scale: venv-dev
	scripts/bench-scale.sh

lint: venv-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# Re-pin after editing requirements/*.in.
requirements: venv
	$(UV) pip compile -q --no-header requirements/base.in -o requirements.txt --python-version 3.11
	$(UV) pip compile -q --no-header requirements/dev.in -o requirements-dev.txt --python-version 3.11

# Take the README's screenshots (docs/screenshots/) again, through the browser tests.
.PHONY: screenshots
screenshots: venv-dev
	DOCS_SCREENSHOTS=1 scripts/test.sh tests/browser/test_readme_screenshots.py tests/browser/test_compare_versions.py -q
