# Quick start: `make run` (dashboard) and `make test` (lint, type check, all tests). Both set themselves up on a fresh
# machine. `make lint` runs only ruff and mypy (after `make setup`).
.PHONY: run test lint setup api bench
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
