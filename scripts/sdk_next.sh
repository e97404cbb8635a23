#!/usr/bin/env bash
# The suite against singer-sdk's newest pre-release (or newer release), to learn before users
# do what its next release breaks. Installs into .venv-sdk-next what `make install` installs,
# as pinned in constraints.txt except singer-sdk, then that SDK over it; runs the tests for at
# most SDK_NEXT_TIMEOUT seconds and prints what failed. Always exits 0: a report, not a gate.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv-sdk-next
limit=${SDK_NEXT_TIMEOUT:-1500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -iv '^singer-sdk==' constraints.txt >"$work/constraints.txt"

say() { echo "sdk-next: $*" >&2; }
if ! VENV=$venv CONSTRAINTS="$work/constraints.txt" scripts/install.sh 2>"$work/install.log"; then
  say "could not install the tap's set (tail of the log below); nothing tested"
  tail -n 20 "$work/install.log" >&2
  exit 0
fi
# The tap asks for singer-sdk~=0.54.x: pip installs the newer one anyway, with a warning.
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --pre --upgrade \
    'singer-sdk[msgspec,testing]' >"$work/sdk.log" 2>&1; then
  say "could not install the newest singer-sdk (tail of the log below); nothing tested"
  tail -n 20 "$work/sdk.log" >&2
  exit 0
fi
sdk=$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("singer-sdk"))')
say "running the tests with singer-sdk $sdk (at most ${limit} s)"
# In a session of its own, so that what tests started (sandboxes, taps) goes with it.
setsid timeout --kill-after=30 "$limit" "$venv/bin/python" -m pytest -v -p no:cacheprovider \
  -rfE --maxfail=25 >"$work/pytest.log" 2>&1 &
session=$!
wait "$session"
code=$?
kill -KILL -- "-$session" 2>/dev/null
failed=$(grep -E '^(FAILED|ERROR) ' "$work/pytest.log")
if [[ $code == 0 ]]; then
  say "singer-sdk $sdk: every test passed"
elif [[ $code == 124 || $code == 137 ]]; then
  say "singer-sdk $sdk: stopped after ${limit} s; failed so far:"
  grep -E ' (FAILED|ERROR) +\[' "$work/pytest.log" | sed 's/ *\[ *[0-9]*%\]$//' | cut -c1-200 >&2
else
  # In words, not pytest's closing line: this report must not read as the build's own result.
  counts=$(tail -n 1 "$work/pytest.log" | grep -oE '[0-9]+ (failed|passed|error)' | tr '\n' ' ')
  say "with singer-sdk $sdk these tests would break (counts: ${counts:-unknown}):"
  [[ -n $failed ]] && echo "$failed" | cut -c1-200 >&2
  [[ -z $failed ]] && tail -n 15 "$work/pytest.log" >&2
fi
exit 0
