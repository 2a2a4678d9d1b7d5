#!/usr/bin/env bash
# `make test`: install what the tests need, start PostgreSQL, Redis and moto_server on 127.0.0.1,
# run the whole pytest suite against them, stop them. Exits non-zero on any failure, and when no
# test ran at all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

packages_ensure redis-server postgresql docker-compose

workdir=$(mktemp -d /tmp/advance-sync-test.XXXXXX)
chmod 755 "$workdir"
trap 'services_stop "$workdir"; rm -rf "$workdir"' EXIT

services_start "$workdir"

export DJANGO_SETTINGS_MODULE=config.settings.test
export VAR_DIR="$workdir/var"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "No test ran: that is a failure." >&2
  exit 1
fi
exit "$status"
