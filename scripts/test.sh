#!/usr/bin/env bash
# `make test`: install what the tests need, start PostgreSQL, Redis and moto_server on 127.0.0.1,
# run the whole pytest suite against them, stop them. Exits non-zero on any failure, and when no
# test ran at all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

packages_ensure redis-server postgresql docker-compose
# Browser tests (tests/browser) drive Debian's chromium through Playwright; never `playwright install`.
packages_ensure chromium

workdir=$(mktemp -d /tmp/advance-sync-test.XXXXXX)
chmod 755 "$workdir"
trap 'services_stop "$workdir"; rm -rf "$workdir"' EXIT

services_start "$workdir"

export DJANGO_SETTINGS_MODULE=config.settings.test
export VAR_DIR="$workdir/var" DOCUMENT_SPOOL_DIR="$workdir/spool"
# Prometheus multiprocess mode, as deployed: the test process and the Celery workers it starts
# count into one directory, so the metrics tests see what a worker counted.
export PROMETHEUS_MULTIPROC_DIR="$workdir/metrics"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "No test ran: that is a failure." >&2
  exit 1
fi
exit "$status"
