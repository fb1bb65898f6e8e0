"""Evaluation of every model on real labelled data, written as JSON for the dashboard's evaluation page.

Command line (full run = ``--subset 0``, the default; ``python -m core.evaluation`` runs :func:`main`)::

    python -m core.evaluation emotion [--subset N] [--out DIR] [--backends fer,own]
    python -m core.evaluation identity [--subset N] [--out DIR] [--models Dlib,VGG-Face]

A subset run writes to a temporary folder unless ``--out`` is given, so it never overwrites the committed full-run
results in ``Settings.evaluation_dir``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from core.config import Settings, load_settings
from core.errors import FaceDashError
from core.evaluation.common import DEFAULT_TARGET_FAR
from core.evaluation.emotion import evaluate_emotion
from core.evaluation.identity import evaluate_identity

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.evaluation", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("what", choices=("emotion", "identity"))
    parser.add_argument("--subset", type=int, default=0,
                        help="emotion: number of faces; identity: train photos per person (0 = full run, the default)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: Settings.evaluation_dir for a full run, a temporary folder for a subset)")
    parser.add_argument("--backends", help="emotion backends, comma-separated (default: all registered)")
    parser.add_argument("--models", help="recognition models, comma-separated (default: all registered)")
    parser.add_argument("--target-far", type=float, default=DEFAULT_TARGET_FAR)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _output_folder(args: argparse.Namespace, settings: Settings) -> Path:
    if args.out is not None:
        return args.out
    if args.subset:  # never overwrite the committed full-run results with a subset run
        out = Path(tempfile.mkdtemp(prefix=f"facedash-eval-{args.what}-"))
        log.info("subset run: writing to %s (pass --out to choose; %s is left alone)", out, settings.evaluation_dir)
        return out
    return settings.evaluation_dir


def run(args: argparse.Namespace) -> int:
    """Run the parsed command -> exit status (0, 3 when nothing could be evaluated); raises FaceDashError."""
    settings = load_settings()
    out = _output_folder(args, settings)
    written: list[Path]
    if args.what == "emotion":
        emotion = evaluate_emotion(args.backends.split(",") if args.backends else None, args.subset, out, settings,
                                   progress=not args.no_progress)
        for name, info in emotion.summary["backends"].items():
            log.info("%-9s %s", name, f"accuracy {info['accuracy']:.4f}" if info["available"] else info["reason"])
        ok, written = bool(emotion.results), emotion.written
    else:
        identity = evaluate_identity(args.models.split(",") if args.models else None, args.subset, out, settings,
                                     target_far=args.target_far, progress=not args.no_progress)
        ok, written = identity.result is not None, identity.written
    for path in written:
        log.info("written: %s", path)
    return 0 if ok else 3


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except FaceDashError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
