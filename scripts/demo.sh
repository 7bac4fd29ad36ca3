#!/usr/bin/env bash
# The README's main command: install, start Airflow 3 with this executor, run an example DAG, report.
# --ui keeps Airflow up afterwards (api-server on 127.0.0.1:8080), prints the URL and the login; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec uv run --frozen python -m airflow_ai_scheduler.demo "$@"
