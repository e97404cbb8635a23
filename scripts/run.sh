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
.venv/bin/meltano run tap-pipedrive "$TARGET"
report_python=.venv/bin/python
[[ "$TARGET" == target-duckdb ]] && report_python=.meltano/loaders/target-duckdb/venv/bin/python
"$report_python" scripts/report.py "$TARGET"
