# Starting and stopping the real services on 127.0.0.1 for tests and benchmarks.
# Source this file; services_start DIR exports DATABASE_URL, REDIS_URL and the S3 settings.
# Every server is stopped by the PID recorded when it started, never by name.

packages_ensure() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "Missing Debian packages: ${missing[*]} (install them, or run as root to have them installed)." >&2
    return 1
  fi
  echo "Installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

as_postgres() {
  # initdb refuses to run as root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

services_start() {
  local dir=$1
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$dir/pg" "$dir/redis" "$dir/var"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pg"

  PG_PORT=$(free_port)
  as_postgres "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U postgres --no-sync >"$dir/pg/initdb.log"
  as_postgres "$pg_bin/pg_ctl" -D "$dir/pg/data" -w -l "$dir/pg/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $dir/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  export PG_BIN=$pg_bin PG_DATA="$dir/pg/data"

  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
    --dir "$dir/redis" --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log"

  S3_PORT=$(free_port)
  .venv/bin/moto_server -H 127.0.0.1 -p "$S3_PORT" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"

  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/advance"
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  export REDIS_PORT REDIS_DIR="$dir/redis"
  export AWS_STORAGE_BUCKET_NAME=advance-test
  export AWS_S3_ENDPOINT_URL="http://127.0.0.1:$S3_PORT"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_S3_REGION_NAME=us-east-1
  export S3_PORT MOTO_PID_FILE="$dir/moto.pid"

  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break
    sleep 0.1
  done
  "$pg_bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE advance" >/dev/null
}

services_stop() {
  local dir=$1
  [ -f "$dir/moto.pid" ] && kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
  [ -f "$dir/redis/redis.pid" ] && kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
  if [ -n "${PG_BIN:-}" ] && [ -d "$dir/pg/data" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}

bench_start() {
  # A benchmark's services and environment: a work directory of its own (gone at exit), the
  # services on 127.0.0.1, the bench settings and the processes' environment as the README's
  # Processes section tells operators to set it.
  workdir=$(mktemp -d "/tmp/advance-sync-$1.XXXXXX")
  chmod 755 "$workdir"
  trap 'services_stop "$workdir"; rm -rf "$workdir"' EXIT
  services_start "$workdir"
  export DJANGO_SETTINGS_MODULE=config.settings.bench
  export VAR_DIR="$workdir/var" DOCUMENT_SPOOL_DIR="$workdir/spool"
  export DJANGO_SECRET_KEY="bench-$(head -c 24 /dev/urandom | base64)"
  export DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_PROXY_SSL_HEADER=off
  export MALLOC_ARENA_MAX=2
}
