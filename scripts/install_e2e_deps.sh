#!/usr/bin/env bash
# Dependencies of the browser end-to-end tests (tests/e2e): Debian's Chromium, ffmpeg (fake-camera .y4m file),
# and Playwright for Python. Idempotent: installs only what is missing.
# Never runs `playwright install` (it downloads its own browser, which fails offline); the tests drive /usr/bin/chromium.
# Usage: scripts/install_e2e_deps.sh [PYTHON]   (default: .venv/bin/python, else python3)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${1:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

PLAYWRIGHT_PIN="playwright==1.65.2"
PYTEST_PLAYWRIGHT_PIN="pytest-playwright==0.10.0"

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
if (( ${#missing[@]} )); then
  echo "installing with apt-get: ${missing[*]}"
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "chromium and ffmpeg present: $(command -v chromium) $(command -v ffmpeg)"
fi

if ! "$PYTHON" -c "import playwright, pytest_playwright" >/dev/null 2>&1; then
  echo "installing $PLAYWRIGHT_PIN $PYTEST_PLAYWRIGHT_PIN"
  "$PYTHON" -m pip install --quiet "$PLAYWRIGHT_PIN" "$PYTEST_PLAYWRIGHT_PIN"
else
  echo "playwright present: $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"), m.version("pytest-playwright"))')"
fi

chromium --version
ffmpeg -version | head -1
