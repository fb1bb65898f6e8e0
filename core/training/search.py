"""Small Bayesian search (optuna TPE) over learning rate and weight decay on a training subset.

Each trial trains the default architecture for ``epochs`` short epochs on a stratified ``subset`` of the
training split with the full recipe (augmentation, class weights, label smoothing, warm-up + cosine over the
trial's epochs) and scores it by its best PublicTest accuracy. It is a coarse screen for the main run's
learning rate and weight decay, not a substitute for full-length training: short runs favour fast starters.

    python -m core.training.search --trials 8 --epochs 2 --subset 0.2     # writes core/models/checkpoints/search.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from core.training.train import DEFAULT_CHECKPOINT_DIR, Recipe, _atomic_write, train

log = logging.getLogger(__name__)

SEARCH_SPACE = {"lr": (0.005, 0.2), "weight_decay": (1e-5, 2e-3)}  # both log-uniform (SGD Nesterov)


def search(trials: int = 8, epochs: int = 2, subset: float = 0.2, seed: int = 0, threads: int | None = None,
           precision: str = "auto", data_path: Path | None = None, base: Recipe | None = None,
           out: Path | None = DEFAULT_CHECKPOINT_DIR / "search.json", max_minutes: float | None = None) -> dict:
    """Run the study; results are (re)written to ``out`` after every trial. ``max_minutes`` bounds the wall time."""
    try:
        import optuna
    except ImportError:
        raise RuntimeError("the search needs optuna: pip install optuna==5.0.0") from None
    import keras

    base = base or Recipe()
    rows: list[dict] = []

    settings = {"trials": trials, "epochs": epochs, "subset": subset, "seed": seed, "space": SEARCH_SPACE,
                "sampler": "optuna TPE", "optuna": optuna.__version__, "max_minutes": max_minutes}

    def write(best: dict | None) -> dict:
        result = {"best": best, "trials": rows, "settings": settings}
        if out is not None:
            _atomic_write(Path(out), json.dumps(result, indent=1).encode())
        return result

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", *SEARCH_SPACE["lr"], log=True)
        wd = trial.suggest_float("weight_decay", *SEARCH_SPACE["weight_decay"], log=True)
        recipe = dataclasses.replace(base, lr=lr, weight_decay=wd, epochs=epochs, subset=subset, seed=seed,
                                     warmup_epochs=min(base.warmup_epochs, epochs / 4))
        keras.backend.clear_session()
        started = time.monotonic()
        state = train(recipe, checkpoint_dir=None, threads=threads, precision=precision, data_path=data_path)
        row = {"trial": trial.number, "lr": lr, "weight_decay": wd, "best_public_accuracy": state["best"],
               "seconds": round(time.monotonic() - started, 1)}
        rows.append(row)
        top = max(rows, key=lambda r: r["best_public_accuracy"])
        write({"lr": top["lr"], "weight_decay": top["weight_decay"], "best_public_accuracy": top["best_public_accuracy"]})
        log.info("trial %d: lr %.4g wd %.3g -> PublicTest %.4f (%.0f s)", trial.number, lr, wd, state["best"],
                 row["seconds"])
        return state["best"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(4, trials)))
    study.optimize(objective, n_trials=trials, timeout=None if max_minutes is None else max_minutes * 60)
    result = write({**study.best_params, "best_public_accuracy": study.best_value})
    log.info("search results (%d trials) written to %s", len(rows), out)
    return result


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m core.training.search", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--precision", default="auto")
    p.add_argument("--max-minutes", type=float, default=None, help="stop starting new trials after this")
    p.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT_DIR / "search.json")
    args = p.parse_args(argv)
    result = search(args.trials, args.epochs, args.subset, args.seed, args.threads, args.precision, out=args.out,
                    max_minutes=args.max_minutes)
    log.info("best: %s", result["best"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
