#!/usr/bin/env bash
# Set up (idempotent: venv + test tools + Chromium/ffmpeg for the browser test), lint and type check (scripts/lint.sh:
# ruff + mypy, any finding fails the run) and run every test, notebooks included (nbmake, on small subsets).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/lint.sh
scripts/install_e2e_deps.sh
export TF_CPP_MIN_LOG_LEVEL=3
# CI has no writable home guarantee and must never reuse a developer's weights: keep DeepFace's folder in the tree
export DEEPFACE_HOME="${DEEPFACE_HOME:-$PWD/.venv/deepface_home}"
mkdir -p test-output
.venv/bin/python -m pytest tests --nbmake notebooks/ "$@"
