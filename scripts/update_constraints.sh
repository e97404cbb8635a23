#!/usr/bin/env bash
# Refresh constraints.txt: install the tap with its test tools, Meltano and the example auth
# plugin (and the sandbox) into a fresh temporary venv WITHOUT the old constraints (so every package takes its
# newest allowed release), and write what was installed. Run the tests on it before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,dagster]' 'meltano==4.4.*' -e sandbox \
  $(for plugin in plugins/*/; do [[ -f "$plugin/pyproject.toml" ]] && echo "-e $plugin"; done)
{
  echo "# The tested set of versions, installed by scripts/install.sh with -c (make install)."
  echo "# Made by scripts/update_constraints.sh (make constraints) with $("$venv/bin/python" -V)."
  "$venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check | LC_ALL=C sort -f
} >constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages)" >&2
