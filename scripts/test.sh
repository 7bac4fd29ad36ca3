#!/usr/bin/env bash
# The README's test command: install, start PostgreSQL and Redis, run every test (unit + integration).
# Extra arguments go to pytest (e.g. scripts/test.sh -k history).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1
# the UI test drives Debian's headless Chromium (Playwright's own browser downloads are not reachable)
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || { echo "could not install chromium" >&2; exit 1; }
  else
    echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 1
  fi
fi
export AI_SCHEDULER_REQUIRE_BROWSER=1
# the RL dispatcher's tests need torch (the dev group installs the CPU wheel): fail, never skip, without it
export AI_SCHEDULER_REQUIRE_TORCH=1
services=$(bash scripts/services.sh start) || { echo "could not start PostgreSQL/Redis" >&2; exit 1; }
eval "$services"
trap 'bash scripts/services.sh stop' EXIT
export AI_SCHEDULER_REQUIRE_POSTGRES=1
uv run --frozen pytest "$@"
rc=$?
# pytest exits 5 when it collected no test: that is a failure here
if [ "$rc" -eq 5 ]; then rc=1; fi
exit "$rc"
