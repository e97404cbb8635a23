#!/usr/bin/env bash
# Create .venv and install the tap with its test tools, Meltano, the sandbox (its own
# distribution, sandbox/) and the example auth plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}  # another folder for another set (scripts/sdk_next.sh)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pip_install() {
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" >&2
    echo "install failed: pip install $*" >&2
    exit 1
  fi
}
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
pip_install --upgrade pip
# constraints.txt pins the tested versions (refresh: make constraints); CONSTRAINTS= skips it.
constraints=(); [[ -n "${CONSTRAINTS-constraints.txt}" ]] && constraints=(-c "${CONSTRAINTS-constraints.txt}")
pip_install "${constraints[@]}" -e '.[test,dagster]' 'meltano==4.4.*'
pip_install "${constraints[@]}" -e sandbox
for plugin in plugins/*/; do
  [[ -f "$plugin/pyproject.toml" ]] && pip_install "${constraints[@]}" -e "$plugin"
done
# Editable installs get no bytecode, and where Python writes none (PYTHONDONTWRITEBYTECODE,
# usual in containers) every run compiled the tap again: 0.14 s of a small sync's 0.8 s CPU.
"$VENV/bin/python" -m compileall -q -j 0 tap_pipedrive sandbox/tap_pipedrive_sandbox \
  plugins/*/tap_pipedrive_* >/dev/null
"$VENV/bin/tap-pipedrive" --version >/dev/null
echo "installed into $VENV" >&2
