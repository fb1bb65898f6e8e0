#!/usr/bin/env bash
# Lint (ruff) and type check (mypy), both configured in pyproject.toml; fails on any finding.
# Run by `make lint` and, before pytest, by `make test`. The tools come from requirements-dev.txt (scripts/setup.sh --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/ruff ] || [ ! -x .venv/bin/mypy ]; then
  echo "lint: ruff/mypy are not installed in .venv; run scripts/setup.sh --dev (make setup)" >&2
  exit 1
fi
.venv/bin/ruff check core dashboard pages tests benchmarks streamlit_app.py
.venv/bin/mypy  # files, strictness and the cache (.mypy_cache) as pyproject.toml sets them
