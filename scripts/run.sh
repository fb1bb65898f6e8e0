#!/usr/bin/env bash
# Set up (idempotent) and start the dashboard on http://localhost:8501 with the embedded defaults:
# local data folder ./data, offline models (OpenCV Haar + Dlib + fer). No servers to install.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/streamlit run streamlit_app.py --server.headless "${HEADLESS:-true}" --browser.gatherUsageStats false "$@"
