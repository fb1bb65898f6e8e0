"""``timeline`` sub-commands: export, stats, erase, retain, compact.

core/cli.py wires them with :func:`add_timeline_commands`; until then (and in tests) :func:`main` runs them::

    python -m core.timeline.cli timeline export --worker w-01 --format csv --out w-01.csv --since 2025-01-01
    python -m core.timeline.cli timeline stats --json
    python -m core.timeline.cli timeline erase --worker w-01 --actor hr-admin
    python -m core.timeline.cli timeline retain

Each handler is ``handler(args, settings) -> int`` (exit code); ``args.json`` prints one JSON document to stdout.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Any

from core.errors import FaceDashError, UnknownWorkerError
from core.timeline import TimelineArgumentError, TimelineStore, enforce_retention, to_utc

logger = logging.getLogger(__name__)


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (containers)
        return "unknown"


def _emit(args, payload: dict, text: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")
    sys.stdout.flush()


def cmd_export(args, settings) -> int:
    """Write one worker's rows (optionally in [--since, --until)) as CSV or parquet."""
    from core.privacy import audit

    since, until = to_utc(args.since, "--since"), to_utc(args.until, "--until")
    if since is not None and until is not None and since >= until:
        raise TimelineArgumentError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    if args.out is None and (args.format == "parquet" or getattr(args, "json", False)):
        raise TimelineArgumentError(f"--out FILE is required for --format {args.format}"
                                    + (" with --json" if getattr(args, "json", False) else ""))
    with TimelineStore.from_settings(settings) as store:
        frame = store.read(worker=args.worker, start=since, end=until)
        if frame.empty and store.count(worker=args.worker) == 0:
            raise UnknownWorkerError(f"worker {args.worker!r} has no rows in the timeline store {store.uri}")
        problems = list(store.last_read_problems)
    if args.out is None:
        frame.to_csv(sys.stdout, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        sys.stdout.flush()
    else:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if args.format == "csv":
                frame.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            else:
                frame.to_parquet(out, index=False)
        except OSError as exc:
            raise TimelineArgumentError(f"cannot write {out}: {exc}") from None
    audit(settings, "timeline_export", getattr(args, "actor", None) or _default_actor(), subject=args.worker, rows=len(frame),
          format=args.format, since=since, until=until)
    if args.out is not None:
        _emit(args, {"worker_id": args.worker, "rows": len(frame), "format": args.format, "out": str(args.out),
                     "problems": problems},
              f"exported {len(frame)} rows of {args.worker} to {args.out}")
    for p in problems:
        logger.warning("skipped unreadable file: %s", p)
    return 0


def cmd_stats(args, settings) -> int:
    with TimelineStore.from_settings(settings) as store:
        stats = store.stats()
    lines = [f"{key:>14}: {value}" for key, value in stats.items() if key != "corrupt_files"]
    lines.append(f"{'corrupt_files':>14}: {len(stats['corrupt_files'])}"
                 + "".join(f"\n{'':>16}{p}" for p in stats["corrupt_files"]))
    _emit(args, stats, "\n".join(lines))
    return 0


def cmd_erase(args, settings) -> int:
    from core.privacy import erase_worker

    summary = erase_worker(settings, args.worker, getattr(args, "actor", None) or _default_actor())
    text = (f"erased worker {summary['worker_id']}: {summary['rows_deleted']} rows deleted, "
            f"{summary['files_rewritten']} files rewritten, gallery entry "
            f"{'removed' if summary['gallery_removed'] else 'not present'}")
    if summary["unreadable_files"]:
        text += "\nWARNING: these files could not be checked and may still hold rows of this worker:\n  " + \
            "\n  ".join(summary["unreadable_files"])
    _emit(args, summary, text)
    return 0 if not summary["unreadable_files"] else 1


def cmd_retain(args, settings) -> int:
    from core.privacy import audit

    days = args.days if args.days is not None else settings.retention_days
    with TimelineStore.from_settings(settings) as store:
        deleted = enforce_retention(store, days)
    actor = getattr(args, "actor", None) or _default_actor()
    audit(settings, "retention", actor, retention_days=days, rows_deleted=deleted)
    _emit(args, {"retention_days": days, "rows_deleted": deleted},
          f"retention {days} days: {deleted} rows deleted")
    return 0


def cmd_compact(args, settings) -> int:
    with TimelineStore.from_settings(settings) as store:
        summary = store.compact()
    _emit(args, summary, f"compacted {summary['partitions']} partitions: "
                         f"{summary['files_before']} -> {summary['files_after']} files")
    return 0


def add_timeline_commands(subparsers, common_parent: argparse.ArgumentParser | None) -> argparse.ArgumentParser:
    """Add ``timeline {export,stats,erase,retain,compact}`` to ``subparsers``; returns the ``timeline`` parser.

    ``common_parent`` (e.g. holding ``--json``) is attached to every leaf command, so options may follow the
    command name (``timeline stats --json``).
    """
    parents = [common_parent] if common_parent is not None else []
    inherited = {opt for a in (common_parent._actions if common_parent is not None else ()) for opt in a.option_strings}

    def add_actor(p: argparse.ArgumentParser, help_text: str) -> None:
        if "--actor" not in inherited:  # core/cli.py's common parent already has --actor
            p.add_argument("--actor", help=help_text)

    timeline = subparsers.add_parser(
        "timeline", help="emotion-timeline store: export, stats, erase, retain, compact",
        description="Manage the emotion-timeline store (see docs/timeline.md).",
    )
    sub = timeline.add_subparsers(dest="timeline_command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("export", parents=parents, help="export one worker's rows as CSV or parquet")
    p.add_argument("--worker", required=True, help="worker id")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--out", help="output file (CSV goes to stdout when omitted)")
    p.add_argument("--since", help="first time included (ISO 8601; naive = UTC)")
    p.add_argument("--until", help="first time excluded (ISO 8601; naive = UTC)")
    add_actor(p, "who exports (audit log); default: the login name")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stats", parents=parents, help="rows, files, partitions, workers, time range")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("erase", parents=parents,
                       help="delete every row of a worker and their gallery entry (audit-logged)")
    p.add_argument("--worker", required=True, help="worker id")
    add_actor(p, "who requests the erasure (audit log); default: the login name")
    p.set_defaults(func=cmd_erase)

    p = sub.add_parser("retain", parents=parents, help="delete rows older than the retention period")
    p.add_argument("--days", type=int, help="override FACEDASH_RETENTION_DAYS")
    add_actor(p, "who runs it (audit log); default: the login name")
    p.set_defaults(func=cmd_retain)

    p = sub.add_parser("compact", parents=parents, help="merge small files (normally automatic)")
    p.set_defaults(func=cmd_compact)
    return timeline


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON to stdout")
    common.add_argument("--data-dir", help="override FACEDASH_DATA_DIR")
    common.add_argument("--store", help="override FACEDASH_STORE_URI (folder or fsspec URI)")
    parser = argparse.ArgumentParser(prog="python -m core.timeline.cli")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    add_timeline_commands(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (core/cli.py provides the real one)."""
    from core.config import load_settings

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        overrides: dict[str, Any] = {}
        if getattr(args, "data_dir", None):
            overrides["data_dir"] = Path(args.data_dir)
        if getattr(args, "store", None):
            overrides["store_uri"] = args.store
        settings = load_settings(**overrides)
        return int(args.func(args, settings))
    except FaceDashError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
