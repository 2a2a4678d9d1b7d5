#!/usr/bin/env bash
# `make bench`: start PostgreSQL, Redis and moto_server on 127.0.0.1 (as `make test` does), then
# run bench/run.py, which starts gunicorn, workers and a simulated Advance and prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

packages_ensure redis-server postgresql wrk

bench_start bench
.venv/bin/python bench/run.py "$@"
