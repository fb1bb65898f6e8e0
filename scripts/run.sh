#!/usr/bin/env bash
# Set up (idempotent) and start the dashboard on http://localhost:8501 with the embedded defaults:
# local data folder ./data, offline models (OpenCV Haar + Dlib + fer). No servers to install.
# With no account yet it prints a one-time link that creates the first admin (docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
port=8501
prev=""
for arg in "$@"; do
  case "$arg" in --server.port=*) port="${arg#*=}" ;; esac
  [ "$prev" = "--server.port" ] && port="$arg"
  prev="$arg"
done
.venv/bin/python -m core users setup-link --url "${FACEDASH_PUBLIC_URL:-http://localhost:$port}" \
  | grep -v "^accounts exist already" || true
exec .venv/bin/streamlit run streamlit_app.py --server.headless "${HEADLESS:-true}" --browser.gatherUsageStats false "$@"
