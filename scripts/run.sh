#!/usr/bin/env bash
# The main job, end to end: install, then `meltano run tap-pipedrive target-duckdb`.
# With no Pipedrive credentials in the environment it starts the built-in sandbox, points the
# tap at it, and stops it afterwards. Set TAP_PIPEDRIVE_COMPANY_DOMAIN + TAP_PIPEDRIVE_API_TOKEN
# (or TAP_PIPEDRIVE_API_URL) to run against a real account instead.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${TARGET:-target-duckdb}
RECORDS=${SANDBOX_RECORDS:-2000}
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false

scripts/install.sh

if [[ -z "${TAP_PIPEDRIVE_COMPANY_DOMAIN:-}${TAP_PIPEDRIVE_API_URL:-}" ]]; then
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  .venv/bin/tap-pipedrive sandbox --port "$port" --records "$RECORDS" &
  sandbox_pid=$!
  trap 'kill "$sandbox_pid" 2>/dev/null || true; wait "$sandbox_pid" 2>/dev/null || true' EXIT
  export TAP_PIPEDRIVE_API_URL="http://127.0.0.1:$port"
  export TAP_PIPEDRIVE_API_TOKEN=sandbox-api-token
  export TAP_PIPEDRIVE_AUTH_METHOD=basic
  .venv/bin/python scripts/wait_for_url.py "$TAP_PIPEDRIVE_API_URL"
  echo "Using the built-in sandbox at $TAP_PIPEDRIVE_API_URL ($RECORDS deals)" >&2
fi

mkdir -p output
.venv/bin/meltano install
# Before and after: what this run read and changed (a rerun is incremental: it says so).
.venv/bin/python scripts/report.py snapshot "$TARGET"
# Its log (stderr) also goes to output/last-run.log, for the report; stdout stays as it is.
{ .venv/bin/meltano run tap-pipedrive "$TARGET" 2>&1 1>&3 | tee output/last-run.log >&2; } 3>&1
.venv/bin/python scripts/report.py report "$TARGET" output/last-run.log
