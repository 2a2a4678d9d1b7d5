#!/usr/bin/env bash
# `make bench-scale`: start PostgreSQL, Redis and moto_server on 127.0.0.1 (as `make bench` does), then
# run bench/scale.py, which seeds ten years of documents and two of webhook calls and prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

packages_ensure redis-server postgresql wrk

bench_start bench-scale
.venv/bin/python bench/scale.py "$@"
