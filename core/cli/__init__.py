"""Command line: ``python -m core COMMAND ...``. Human output by default, ``--json`` for programs.

Every command parses its options, calls a service (core/services/) and formats the result; every handler is
``handler(args, settings) -> exit code``. Every expected failure (bad file, no face, unknown worker, missing
weights, bad config) prints one line ``error: <what is wrong>`` on stderr and exits non-zero; stored data is left
unchanged.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from core.cli import admin, check, faces, users
from core.cli.common import settings_from
from core.errors import FaceDashError


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers without a passwd entry)
        return "unknown"


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def _common_options() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the sub-command must not be reset by the sub-parser's own default
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    common.add_argument("--data-dir", type=Path, help="data folder (default ./data or FACEDASH_DATA_DIR)")
    common.add_argument("--gallery", type=Path, help="gallery folder (default <data-dir>/gallery)")
    common.add_argument("--store", help="timeline store folder or URI (default <data-dir>/timeline)")
    common.add_argument("--detector", help="face detector: opencv, mtcnn, dlib")
    common.add_argument("--model", help="recognition model: auto, Dlib, Facenet512, ArcFace, VGG-Face, SFace")
    common.add_argument("--metric", choices=["cosine", "euclidean", "euclidean_l2"])
    common.add_argument("--threshold", type=float, help="identity distance threshold (overrides calibration)")
    common.add_argument("--emotion-backend", help="emotion backend: auto, fer, deepface, own")
    common.add_argument("--emotion-purpose", choices=["medical", "safety"],
                        help="enable emotion analysis for this declared purpose (off otherwise; EU AI Act Art. 5(1)(f))")
    common.add_argument("--actor", help="who performs the action (audit log; default: the login name)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return common


def _face_commands(sub, common) -> None:
    p = sub.add_parser("enroll", parents=[common], help="enroll a worker from several photos (consent required)")
    p.add_argument("--worker", required=True, help="worker id (letters, digits, _ - .)")
    p.add_argument("--name", help="display name (default: the id)")
    p.add_argument("--consent", required=True, help="consent text: what the worker agreed to and for what purpose")
    p.add_argument("--consent-by", help="who gave consent (default: the worker id)")
    p.add_argument("photos", nargs="+", type=Path)
    p.set_defaults(func=faces.cmd_enroll)

    p = sub.add_parser("identify", parents=[common], help="who is in each image (or unknown)")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(func=faces.cmd_identify)

    p = sub.add_parser("analyze", parents=[common], help="identity + emotion per face in an image or video")
    p.add_argument("input", type=Path)
    p.add_argument("--out", type=Path, help="annotated image (.jpg/.png), or annotated video (.mp4/.avi) + rows .csv")
    p.add_argument("--every", type=int, default=5, help="video: analyse every n-th frame (1-300)")
    p.add_argument("--save", action="store_true",
                   help="store the enrolled workers' observations in the timeline (unknown faces are never stored)")
    p.set_defaults(func=faces.cmd_analyze)

    p = sub.add_parser("emotion", parents=[common], help="emotion of already-cropped face images (model evaluation)")
    p.add_argument("--aligned", action="store_true", required=True, help="inputs are aligned face crops (no detection)")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(func=faces.cmd_emotion)

    p = sub.add_parser("calibrate", parents=[common], help="FAR/FRR on labelled photos; choose and save the threshold")
    p.add_argument("labelled", type=Path, help="folder of <person>/<photos>, or of people/<person>/<photos> + "
                   "strangers/<photos> (open-set calibration, e.g. ../shared/data/faces/lfw-dev)")
    p.add_argument("--target-far", type=float, default=0.01, help="highest acceptable false-accept rate")
    p.add_argument("--enroll", type=int, default=2, help="open-set layout: enrollment photos per person")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="open-set layout: keep the photos' vectors here to re-run quickly (biometric data of the "
                        "people in the folder: only for research sets; default: nothing is kept)")
    p.add_argument("--dry-run", action="store_true", help="print, do not save to the gallery")
    p.set_defaults(func=faces.cmd_calibrate)


def _admin_commands(sub, common) -> None:
    p = sub.add_parser("workers", parents=[common], help="list, rename or erase enrolled workers")
    wsub = p.add_subparsers(dest="action", required=True)
    wsub.add_parser("list", parents=[common]).set_defaults(func=admin.cmd_workers_list)
    w = wsub.add_parser("rename", parents=[common])
    w.add_argument("--worker", required=True)
    w.add_argument("--new-name", required=True)
    w.set_defaults(func=admin.cmd_workers_rename)
    w = wsub.add_parser("erase", parents=[common],
                        help="remove every trace: gallery entry, photos, embeddings, consent record, timeline rows")
    w.add_argument("--worker", required=True)
    w.set_defaults(func=admin.cmd_workers_erase)

    p = sub.add_parser("timeline", parents=[common], help="emotion-timeline store: export, stats, retain, compact",
                       description="Manage the emotion-timeline store (see docs/timeline.md). Erasure of a worker is "
                       "`workers erase` (it removes the gallery entry too).")
    tsub = p.add_subparsers(dest="timeline_command", required=True)
    t = tsub.add_parser("export", parents=[common], help="export one worker's rows as CSV or parquet (audited)")
    t.add_argument("--worker", required=True, help="worker id")
    t.add_argument("--format", choices=("csv", "parquet"), default="csv")
    t.add_argument("--out", help="output file (CSV goes to stdout when omitted)")
    t.add_argument("--since", help="first time included (ISO 8601; naive = UTC)")
    t.add_argument("--until", help="first time excluded (ISO 8601; naive = UTC)")
    t.set_defaults(func=admin.cmd_timeline_export)
    tsub.add_parser("stats", parents=[common], help="rows, files, partitions, workers, time range").set_defaults(
        func=admin.cmd_timeline_stats)
    t = tsub.add_parser("retain", parents=[common], help="delete rows older than the retention period")
    t.add_argument("--days", type=int, help="override FACEDASH_RETENTION_DAYS")
    t.set_defaults(func=admin.cmd_timeline_retain)
    tsub.add_parser("compact", parents=[common], help="merge small files (normally automatic)").set_defaults(
        func=admin.cmd_timeline_compact)

    sub.add_parser("info", parents=[common], help="backends in use and why").set_defaults(func=admin.cmd_info)
    p = sub.add_parser("serve", parents=[common], help="HTTP API for programs (see core/api.py)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.set_defaults(func=admin.cmd_serve)
    sub.add_parser("setup-weights", parents=[common],
                   help="provision offline weights; show which are present").set_defaults(func=admin.cmd_setup_weights)
    p = sub.add_parser("check", parents=[common], help="read back every stored file; --repair fixes what it can",
                       description="Check the stored files (settings, gallery, embeddings, calibration, audit log, "
                       "timeline) and report each problem with its repair (see docs/maintenance.md).")
    p.add_argument("--repair", action="store_true", help="move corrupt settings/calibration aside, rebuild corrupt "
                   "embeddings from the kept photos (audited; never gallery.json, the audit log or timeline files)")
    p.set_defaults(func=check.cmd_check, load_settings=check.settings_for_check)  # runs with a corrupt settings.json


class _Parser(argparse.ArgumentParser):
    """Fills the common options' defaults after parsing. (``set_defaults`` on the top parser would change the
    *shared* option objects' defaults, so every sub-command reset an option given before it: ``--actor hr
    workers erase ...`` was audited as the login name.)"""

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        for key, value in {"json": False, "quiet": False, "verbose": False}.items():
            if not hasattr(parsed, key):
                setattr(parsed, key, value)
        if not hasattr(parsed, "actor"):
            parsed.actor = _login_name()
        return parsed, rest


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(prog="python -m core", description="Face & emotion engine", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=argparse.ArgumentParser)
    _face_commands(sub, common)
    _admin_commands(sub, common)
    users.add_commands(sub, common)
    return parser


def configure_logging(verbose: bool) -> None:
    # warnings only by default: stderr stays readable (one "error:" line per problem); -v shows the backend choices
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s", force=True)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not verbose:
        logging.getLogger("deepface").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    # argparse turns "--opt=--" into an empty list instead of refusing it (found by the CLI fuzzer)
    empty = sorted(key for key, value in vars(args).items() if isinstance(value, list) and not value)
    if empty:
        parser.error(f"argument --{empty[0].replace('_', '-')}: expected a value")
    try:
        return int(args.func(args, getattr(args, "load_settings", settings_from)(args)) or 0)
    except FaceDashError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except PermissionError as exc:
        sys.stderr.write(f"error: permission denied: {exc.filename or exc}\n")
        return 4
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
