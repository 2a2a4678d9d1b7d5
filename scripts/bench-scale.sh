#!/usr/bin/env bash
# `make bench-scale`: start PostgreSQL, Redis and moto_server on 127.0.0.1 (as `make bench` does), then
# run bench/scale.py, which seeds ten years of documents and two of webhook calls and prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

packages_ensure redis-server postgresql wrk

workdir=$(mktemp -d /tmp/advance-sync-bench-scale.XXXXXX)
chmod 755 "$workdir"
trap 'services_stop "$workdir"; rm -rf "$workdir"' EXIT

services_start "$workdir"

export DJANGO_SETTINGS_MODULE=config.settings.bench
export VAR_DIR="$workdir/var" DOCUMENT_SPOOL_DIR="$workdir/spool"
export DJANGO_SECRET_KEY="bench-$(head -c 24 /dev/urandom | base64)"
export DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_PROXY_SSL_HEADER=off
# The processes' environment as the README's Processes section tells operators to set it.
export MALLOC_ARENA_MAX=2
.venv/bin/python bench/scale.py "$@"
