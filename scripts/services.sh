#!/usr/bin/env bash
# Start/stop the servers the integration tests use, installing them from Debian packages if missing:
#   scripts/services.sh start|stop|status   (PostgreSQL on 127.0.0.1:$AI_SCHEDULER_PG_PORT, Redis on $AI_SCHEDULER_REDIS_PORT)
# Works as root in a container without systemd. Prints the URLs to export on start.
set -euo pipefail
PG_PORT="${AI_SCHEDULER_PG_PORT:-55432}"
REDIS_PORT="${AI_SCHEDULER_REDIS_PORT:-56379}"
STATE="${AI_SCHEDULER_SERVICES_DIR:-/tmp/ai-scheduler-services}"
PGDATA="$STATE/pg"

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "services.sh: need root to apt-get install $*" >&2; return 1; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$d" ]; then apt_install postgresql; d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1); fi
  echo "$d"
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_pg() {
  local bin; bin=$(pg_bin)
  mkdir -p "$STATE"; chmod 755 "$STATE"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA"
    as_pg "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_pg "$bin/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
      -o "-p $PG_PORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  fi
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname='airflow'" | grep -q 1 \
    || as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE ROLE airflow LOGIN SUPERUSER PASSWORD 'airflow'"
  as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='airflow'" | grep -q 1 \
    || as_pg "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE airflow OWNER airflow"
}

stop_pg() {
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$bin" ] && [ -d "$PGDATA" ] && as_pg "$bin/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  mkdir -p "$STATE/redis"
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || \
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --dir "$STATE/redis" \
      --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" --save "" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "services.sh: redis did not start" >&2; return 1
}

stop_redis() { command -v redis-cli >/dev/null 2>&1 && redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }

case "${1:-status}" in
  start)
    start_pg; start_redis
    echo "export AI_SCHEDULER_TEST_POSTGRES_URL=postgresql+psycopg2://airflow:airflow@127.0.0.1:$PG_PORT/airflow"
    echo "export AI_SCHEDULER_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" ;;
  stop) stop_redis; stop_pg ;;
  status)
    pg_isready -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null || echo "postgres: down"
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null || echo "redis: down" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
