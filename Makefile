# Quick start: `make run` (dashboard) and `make test` (lint, type check, all tests). Both set themselves up on a fresh
# machine. `make lint` runs only ruff and mypy (after `make setup`). `make soak`: the live page for 60 min in Chromium.
.PHONY: run test lint setup api bench soak
run:
	scripts/run.sh
test:
	scripts/test.sh
lint:
	scripts/lint.sh
setup:
	scripts/setup.sh --dev
api:
	scripts/setup.sh && .venv/bin/python -m core serve
bench:
	.venv/bin/python benchmarks/bench_engine.py && .venv/bin/python benchmarks/bench_timeline.py && .venv/bin/python benchmarks/bench_live.py && .venv/bin/python benchmarks/bench_tracking.py && .venv/bin/python benchmarks/bench_signin.py
	.venv/bin/python benchmarks/bench_detectors.py
soak:
	scripts/setup.sh --dev && scripts/install_e2e_deps.sh
	TF_CPP_MIN_LOG_LEVEL=3 DEEPFACE_HOME="$${DEEPFACE_HOME:-$$PWD/.venv/deepface_home}" FACEDASH_SOAK_SECONDS=3600 FACEDASH_SOAK_OUT=benchmarks/results/soak_live.json .venv/bin/python -m pytest tests/e2e/test_live_soak.py -x -q
