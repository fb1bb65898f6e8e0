"""Administration commands: workers (list, rename, erase), timeline (export, stats, retain, compact), info,
setup-weights, serve."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from core.cli.common import actor_from, emit, load_engine
from core.errors import ConfigError
from core.services import timeline, workers

log = logging.getLogger("core.cli")


def cmd_workers_list(args, settings) -> int:
    found = workers.list_workers(settings, actor_from(args))
    emit(args, [{"worker_id": w.worker_id, "name": w.name, "photo_count": w.photo_count, "enrolled_at": w.enrolled_at}
                for w in found],
         "\n".join(f"{w.worker_id}\t{w.name}\t{w.photo_count} photo(s)\tenrolled {w.enrolled_at}" for w in found)
         or "no workers enrolled")
    return 0


def cmd_workers_rename(args, settings) -> int:
    name = workers.rename(settings, actor_from(args), args.worker, args.new_name)
    emit(args, {"worker": args.worker, "name": name}, f"renamed {args.worker} to {name!r}")
    return 0


def cmd_workers_erase(args, settings) -> int:
    result = workers.erase(settings, actor_from(args), args.worker)
    text = (f"erased {result.worker_id}: gallery entry {'removed' if result.gallery_removed else 'not present'}, "
            f"{result.rows_deleted} timeline row(s) deleted, {result.files_rewritten} file(s) rewritten")
    if result.unreadable_files:
        text += ("\nWARNING: these files could not be checked and may still hold rows of this worker:\n  "
                 + "\n  ".join(result.unreadable_files))
    emit(args, result.as_dict(), text)
    return 1 if result.unreadable_files else 0


def cmd_timeline_export(args, settings) -> int:
    if args.out is None and (args.format == "parquet" or args.json):
        raise ConfigError(f"--out FILE is required for --format {args.format}" + (" with --json" if args.json else ""))
    export = timeline.export_worker(settings, actor_from(args), args.worker, args.since, args.until, args.format)
    frame = export.frame
    if args.out is None:
        frame.to_csv(sys.stdout, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        sys.stdout.flush()
        return 0
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.format == "csv":
            frame.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        else:
            frame.to_parquet(out, index=False)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    emit(args, {"worker_id": args.worker, "rows": len(frame), "format": args.format, "out": str(out),
                "problems": export.problems}, f"exported {len(frame)} rows of {args.worker} to {out}")
    return 0


def cmd_timeline_stats(args, settings) -> int:
    stats = timeline.timeline_stats(settings)
    lines = [f"{key:>14}: {value}" for key, value in stats.items() if key != "corrupt_files"]
    lines.append(f"{'corrupt_files':>14}: {len(stats['corrupt_files'])}"
                 + "".join(f"\n{'':>16}{p}" for p in stats["corrupt_files"]))
    emit(args, stats, "\n".join(lines))
    return 0


def cmd_timeline_retain(args, settings) -> int:
    days = args.days if args.days is not None else settings.retention_days
    deleted = timeline.apply_retention(settings, actor_from(args), days)
    emit(args, {"retention_days": days, "rows_deleted": deleted}, f"retention {days} days: {deleted} rows deleted")
    return 0


def cmd_timeline_compact(args, settings) -> int:
    summary = timeline.compact(settings, actor_from(args))
    emit(args, summary, f"compacted {summary['partitions']} partitions: "
                        f"{summary['files_before']} -> {summary['files_after']} files")
    return 0


def cmd_info(args, settings) -> int:
    from core.detectors import DETECTORS
    from core.embedders import EMBEDDERS
    from core.emotions import EMOTION_BACKENDS

    engine = load_engine(args, settings)
    payload = {"settings": json.loads(settings.model_dump_json()), "backends": engine.backend_report().as_dict(),
               "registries": {"detectors": DETECTORS.describe(), "recognition": EMBEDDERS.describe(),
                              "emotion": EMOTION_BACKENDS.describe()},
               "workers": len(engine.gallery)}
    human = "\n".join(f"{k}: {v}" for k, v in payload["backends"].items()) + f"\nworkers: {payload['workers']}"
    emit(args, payload, human)
    return 0


def cmd_setup_weights(args, settings) -> int:
    from core.engine import prepare_weights
    from core.weights import DLIB_FILES, DOWNLOADED_FILES, has_weights

    weights_dir = prepare_weights(settings)
    status = {name: has_weights(weights_dir, name) for name in list(DLIB_FILES) + list(DOWNLOADED_FILES)}
    emit(args, {"weights_dir": str(weights_dir), "present": status},
         f"weights folder {weights_dir}\n" + "\n".join(f"  {'present' if ok else 'missing'}  {n}"
                                                       for n, ok in status.items()))
    return 0


def cmd_serve(args, settings) -> int:
    from core.api import serve
    from core.auth.api_keys import ApiKeyStore

    if not any(k.state() == "active" for k in ApiKeyStore.from_settings(settings).keys()) and settings.api_key is None:
        log.warning("no active API key: every /v1 request will be refused (401); create one with "
                    "`python -m core keys create --name NAME --scopes identify`")
    serve(args.host, args.port, settings)
    return 0
