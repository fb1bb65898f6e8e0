"""Command line: ``python -m core COMMAND ...``. Human output by default, ``--json`` for programs.

Every expected failure (bad file, no face, unknown worker, missing weights, bad config) prints one line
``error: <what is wrong>`` on stderr and exits non-zero; stored data is left unchanged.
"""

from __future__ import annotations

import argparse
import getpass
import inspect
import json
import logging
import sys
from pathlib import Path

from core.errors import ConfigError, FaceDashError, ImageError, NoFaceError

log = logging.getLogger("core.cli")

EXIT_PARTIAL = 1  # some inputs failed (e.g. one of several images had no face)


# ---------------------------------------------------------------------------------------------- helpers
def _settings(args):
    from core.config import load_settings

    overrides = {}
    for flag, key in (("data_dir", "data_dir"), ("gallery", "gallery_dir"), ("detector", "detector"),
                      ("model", "recognition_model"), ("emotion_backend", "emotion_backend"),
                      ("threshold", "identity_threshold"), ("metric", "distance_metric"), ("store", "store_uri")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    purpose = getattr(args, "emotion_purpose", None)
    if purpose:
        overrides.update(emotion_enabled=True, emotion_purpose=purpose)
    return load_settings(**overrides)


def _engine(args, settings=None):
    from core.engine import FaceEngine
    from core.runtime import import_tensorflow_quietly

    if not getattr(args, "verbose", False):
        import_tensorflow_quietly()

    engine = FaceEngine(settings or _settings(args))
    report = engine.backend_report()
    log.info("detector=%s recognition=%s (%s) emotion=%s", report.detector, report.recognition.name,
             report.recognition.reason, report.as_dict()["emotion_backend"])
    return engine


def _progress(total: int, desc: str, enabled: bool = True):
    from tqdm import tqdm

    # total 0 = not known yet (the callback sets it); a single item needs no bar
    bar = tqdm(total=total or None, desc=desc, unit="item", file=sys.stderr, disable=not enabled or total == 1,
               leave=False)

    def update(done: int, total_now: int) -> None:
        if total_now and bar.total != total_now:
            bar.total = total_now
        bar.n = done
        bar.refresh()

    update.close = bar.close  # type: ignore[attr-defined]
    return update


def _emit(args, payload, human: str) -> None:
    if args.json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    elif human:
        sys.stdout.write(human + "\n")


def _face_line(rec: dict, names: dict[str, str]) -> str:
    who = names.get(rec["worker"], rec["worker"]) if rec["worker"] else (
        "unknown (ambiguous)" if rec.get("ambiguous") else "unknown")
    if rec["distance"] is None:
        line = f"  face at {rec['box']}: unknown (no worker enrolled yet)"
    else:
        line = f"  face at {rec['box']}: {who} (distance {rec['distance']}, threshold {rec['threshold']})"
    if rec.get("emotion"):
        line += f", emotion {rec['emotion']['label']} ({rec['valence']})"
    return line


# ---------------------------------------------------------------------------------------------- commands
def cmd_enroll(args) -> int:
    from core.gallery import Consent
    from core.images import read_bytes
    from core.privacy import audit

    settings = _settings(args)
    if not args.consent or not args.consent.strip():
        raise FaceDashError("--consent TEXT is required: what the worker agreed to, and for what purpose")
    photos = []
    verdicts_missing = []
    for path in args.photos:
        try:
            photos.append((str(path), read_bytes(path, settings.max_upload_mb * 1_000_000)))
        except ImageError as exc:
            verdicts_missing.append({"photo": str(path), "accepted": False, "reason": str(exc).removeprefix(f"{path}: ")})
    if not photos:
        reasons = "; ".join(f"{v['photo']}: {v['reason']}" for v in verdicts_missing)
        raise FaceDashError(f"no usable photo for worker {args.worker!r} ({reasons})")
    engine = _engine(args, settings)
    consent = Consent(text=args.consent, given_by=args.consent_by or args.worker, recorded_by=args.actor)
    report = engine.enroll(args.worker, photos, consent, name=args.name)
    audit(settings, "enroll", args.actor, worker=args.worker, photos_accepted=len(report.accepted),
          consent_purpose=args.consent)
    verdicts = verdicts_missing + [v.as_dict() for v in report.verdicts]
    lines = [f"enrolled {args.worker}: {len(report.accepted)} photo(s) accepted, "
             f"{len(verdicts) - len(report.accepted)} rejected"]
    lines += [f"  {'ok  ' if v['accepted'] else 'REJ '} {v['photo']}: {v['reason']}" for v in verdicts]
    _emit(args, {"worker": args.worker, "accepted": len(report.accepted), "verdicts": verdicts,
                 "recognition_model": engine.embedder.name}, "\n".join(lines))
    return 0


def _analyze_images(args, engine, paths):
    from core.images import load_image

    names = engine.gallery.display_names()
    results, failed = [], 0
    bar = _progress(len(paths), "images", enabled=not args.quiet)
    for n, path in enumerate(paths):
        entry: dict = {"image": str(path)}
        try:
            image = load_image(path, engine.settings.max_image_pixels, engine.settings.max_upload_mb * 1_000_000)
            observations = engine.analyze(image, source="cli")
            entry["faces"] = [o.to_record() for o in observations]
            if not observations:
                raise NoFaceError(f"{path}: no face found")
            entry["_observations"] = observations
            entry["_image"] = image
        except (ImageError, NoFaceError) as exc:
            entry.setdefault("faces", [])
            entry["error"] = str(exc)
            sys.stderr.write(f"error: {exc}\n")
            failed += 1
        results.append(entry)
        bar(n + 1, len(paths))
    bar.close()
    return results, failed, names


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def cmd_identify(args) -> int:
    engine = _engine(args)
    results, failed, names = _analyze_images(args, engine, args.images)
    human = []
    for entry in results:
        if "error" in entry:
            continue  # already reported on stderr
        human.append(f"{entry['image']}: {len(entry['faces'])} face(s)")
        human += [_face_line(rec, names) for rec in entry["faces"]]
    for entry in results:
        for rec in entry["faces"]:
            rec.pop("emotion", None), rec.pop("valence", None)
    _emit(args, [_public(e) for e in results], "\n".join(human))
    return EXIT_PARTIAL if failed else 0


def cmd_analyze(args) -> int:
    from core.annotate import annotate
    from core.images import is_video_path

    engine = _engine(args)
    if not engine.emotion_enabled:
        sys.stderr.write("note: emotion analysis is disabled; pass --emotion-purpose medical|safety to enable it "
                         "for that declared purpose\n")
    if is_video_path(args.input):
        return _analyze_video(args, engine)
    results, failed, names = _analyze_images(args, engine, [args.input])
    entry = results[0]
    if failed:
        if args.json:
            _emit(args, _public(entry), "")
        return EXIT_PARTIAL
    if args.out:
        import cv2

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(out), annotate(entry["_image"], entry["_observations"], names)):
            raise FaceDashError(f"{out}: cannot write the annotated image (use a .jpg or .png name in a writable folder)")
        entry["annotated"] = str(out)
    human = [f"{entry['image']}: {len(entry['faces'])} face(s)"] + [_face_line(r, names) for r in entry["faces"]]
    _emit(args, _public(entry), "\n".join(human))
    return 0


def _analyze_video(args, engine) -> int:
    from core.video import analyze_video

    out = Path(args.out) if args.out else None
    bar = _progress(0, "frames", enabled=not args.quiet)
    result = analyze_video(engine, Path(args.input), out, every_n=args.every, max_seconds=engine.settings.max_video_seconds,
                           progress=bar)
    bar.close()
    payload = {"video": str(args.input), "frames": result.frames, "analysed_frames": result.analysed_frames,
               "fps": result.fps, "rows": result.rows}
    if out is not None:
        import pandas as pd

        rows_path = out.with_suffix(".csv")
        pd.json_normalize(result.rows).to_csv(rows_path, index=False)
        payload.update(annotated=str(out), rows_file=str(rows_path))
    workers = sorted({r["worker"] or "unknown" for r in result.rows})
    human = (f"{args.input}: {result.frames} frames, {result.analysed_frames} analysed, {len(result.rows)} face rows; "
             f"seen: {', '.join(workers) or 'nobody'}" + (f"\nannotated video: {out}" if out else ""))
    _emit(args, payload, human)
    return 0


def cmd_emotion(args) -> int:
    from core.emotions import create_emotion_model, resolve_emotion_backend
    from core.engine import prepare_weights
    from core.images import load_image
    from core.runtime import import_tensorflow_quietly

    settings = _settings(args)
    if not args.verbose:
        import_tensorflow_quietly()
    choice = resolve_emotion_backend(settings.emotion_backend)
    model = create_emotion_model(choice.name, prepare_weights(settings))
    crops, entries, failed = [], [], 0
    for path in args.images:
        try:
            crops.append(load_image(path, settings.max_image_pixels))
            entries.append({"image": str(path)})
        except ImageError as exc:
            sys.stderr.write(f"error: {exc}\n")
            failed += 1
    results = model.predict(crops)
    for entry, result in zip(entries, results):
        entry.update(emotion={"label": result.label, "scores": {k: round(v, 6) for k, v in result.as_dict().items()},
                              "model": result.model}, valence=result.valence)
    human = "\n".join(f"{e['image']}: {e['emotion']['label']} ({e['valence']})" for e in entries)
    _emit(args, entries, human)
    return EXIT_PARTIAL if failed else 0


def cmd_calibrate(args) -> int:
    from core.calibrate import calibrate, calibrate_open_set
    from core.openset import is_open_set_layout

    if not 0 < args.target_far < 1:
        raise ConfigError(f"--target-far must be between 0 and 1 (exclusive), got {args.target_far}")
    engine = _engine(args)
    bar = _progress(0, "photos", enabled=not args.quiet)
    if is_open_set_layout(Path(args.labelled)):
        if args.enroll < 1:
            raise ConfigError(f"--enroll must be at least 1, got {args.enroll}")
        result = calibrate_open_set(Path(args.labelled), engine, args.target_far, args.enroll, bar, args.cache_dir)
        bar.close()
        if not args.dry_run:
            engine.gallery.save_calibration(result["model"], result["metric"], result)
        held, cal = result["heldout"], result["calibration"]
        lines = [f"{result['model']} / {result['metric']} / {result['template']}: {result['people']} people "
                 f"({result['enroll_photos']} enrollment photos each), {result['strangers']} strangers, "
                 f"{result['photos_without_face']} of {result['photos']} photos without a face found",
                 f"{'part':<12} {'rank-1':>7} {'DIR@1%':>7} {'DIR@0.1%':>8} {'FAR at t':>8}"]
        for part, r in (("calibration", cal), ("held-out", held)):
            lines.append(f"{part:<12} {r['rank1']:>7.2%} {r['dir_at_far_0.01']:>7.2%} {r['dir_at_far_0.001']:>8.2%} "
                         f"{r['at_threshold']['far']:>8.2%}")
        lines.append(f"chosen threshold {result['threshold']:.4f}, ambiguity margin {result['margin']:.4f} "
                     f"(FAR <= {result['target_far']:.2%} on the calibration part)"
                     + ("" if args.dry_run else f"; saved to {engine.gallery.calibration_path}"))
        _emit(args, result, "\n".join(lines))
        return 0
    result = calibrate(Path(args.labelled), engine, target_far=args.target_far, progress=bar)
    bar.close()
    if not args.dry_run:
        engine.gallery.save_calibration(result["model"], result["metric"], result)
    lines = [f"{result['model']} / {result['metric']}: {result['photos']} photos of {result['people']} people; 1:N "
             f"leave-one-out ({result['genuine_pairs']} genuine, {result['impostor_pairs']} impostor nearest distances)",
             f"{'threshold':>10} {'FAR':>8} {'FRR':>8}"]
    lines += [f"{r['threshold']:>10.4f} {r['far']:>8.2%} {r['frr']:>8.2%}" for r in result["table"]]
    lines.append(f"chosen threshold {result['threshold']:.4f} (FAR {result['far']:.2%} <= {result['target_far']:.2%}, "
                 f"FRR {result['frr']:.2%}); pairwise ROC AUC {result['pairwise']['auc']:.4f}, "
                 f"EER {result['pairwise']['eer']:.2%}"
                 + ("" if args.dry_run else f"; saved to {engine.gallery.calibration_path}"))
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_workers(args) -> int:
    from core.gallery import Gallery
    from core.privacy import audit, erase_worker

    settings = _settings(args)
    gallery = Gallery(settings.gallery_path)
    if args.action == "list":
        workers = gallery.workers()
        _emit(args, [w.__dict__ for w in workers],
              "\n".join(f"{w.worker_id}\t{w.name}\t{w.photo_count} photo(s)\tenrolled {w.enrolled_at}" for w in workers)
              or "no workers enrolled")
    elif args.action == "rename":
        gallery.rename(args.worker, args.new_name)
        audit(settings, "rename", args.actor, worker=args.worker)
        _emit(args, {"worker": args.worker, "name": args.new_name}, f"renamed {args.worker} to {args.new_name!r}")
    elif args.action == "erase":
        summary = erase_worker(settings, args.worker, actor=args.actor)
        _emit(args, summary, f"erased {args.worker}: gallery entry removed={summary.get('gallery_removed')}, "
                             f"{summary.get('rows_deleted', 0)} timeline row(s) deleted")
    return 0


def cmd_info(args) -> int:
    from core.detectors import DETECTORS
    from core.embedders import EMBEDDERS
    from core.emotions import EMOTION_BACKENDS

    settings = _settings(args)
    engine = _engine(args, settings)
    payload = {"settings": json.loads(settings.model_dump_json()), "backends": engine.backend_report().as_dict(),
               "registries": {"detectors": DETECTORS.describe(), "recognition": EMBEDDERS.describe(),
                              "emotion": EMOTION_BACKENDS.describe()},
               "workers": len(engine.gallery)}
    human = "\n".join(f"{k}: {v}" for k, v in payload["backends"].items()) + f"\nworkers: {payload['workers']}"
    _emit(args, payload, human)
    return 0


def cmd_setup_weights(args) -> int:
    from core.engine import prepare_weights
    from core.weights import DLIB_FILES, DOWNLOADED_FILES, has_weights

    settings = _settings(args)
    weights_dir = prepare_weights(settings)
    status = {name: has_weights(weights_dir, name) for name in list(DLIB_FILES) + list(DOWNLOADED_FILES)}
    _emit(args, {"weights_dir": str(weights_dir), "present": status},
          f"weights folder {weights_dir}\n" + "\n".join(f"  {'present' if ok else 'missing'}  {n}" for n, ok in status.items()))
    return 0


def cmd_serve(args) -> int:
    from core.api import serve

    settings = _settings(args)
    if args.host not in ("127.0.0.1", "localhost", "::1") and settings.api_key is None:
        log.warning("serving on %s without FACEDASH_API_KEY: anyone who can reach this port can query faces", args.host)
    serve(args.host, args.port, settings)
    return 0


# ---------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the sub-command must not be reset by the sub-parser's own default
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    common.add_argument("--data-dir", type=Path, help="data folder (default ./data or FACEDASH_DATA_DIR)")
    common.add_argument("--gallery", type=Path, help="gallery folder (default <data-dir>/gallery)")
    common.add_argument("--store", help="timeline store folder or URI (default <data-dir>/timeline)")
    common.add_argument("--detector", help="face detector: opencv, mtcnn, dlib")
    common.add_argument("--model", help="recognition model: auto, VGG-Face, Dlib")
    common.add_argument("--metric", choices=["cosine", "euclidean", "euclidean_l2"])
    common.add_argument("--threshold", type=float, help="identity distance threshold (overrides calibration)")
    common.add_argument("--emotion-backend", help="emotion backend: auto, fer, deepface, own")
    common.add_argument("--emotion-purpose", choices=["medical", "safety"],
                        help="enable emotion analysis for this declared purpose (off otherwise; EU AI Act Art. 5(1)(f))")
    common.add_argument("--actor", help="who performs the action (audit log; default: the OS user)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    parser = argparse.ArgumentParser(prog="python -m core", description="Face & emotion engine", parents=[common])
    parser.set_defaults(json=False, quiet=False, verbose=False, actor=getpass.getuser())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enroll", parents=[common], help="enroll a worker from several photos (consent required)")
    p.add_argument("--worker", required=True, help="worker id (letters, digits, _ - .)")
    p.add_argument("--name", help="display name (default: the id)")
    p.add_argument("--consent", required=True, help="consent text: what the worker agreed to and for what purpose")
    p.add_argument("--consent-by", help="who gave consent (default: the worker id)")
    p.add_argument("photos", nargs="+", type=Path)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("identify", parents=[common], help="who is in each image (or unknown)")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("analyze", parents=[common], help="identity + emotion per face in an image or video")
    p.add_argument("input", type=Path)
    p.add_argument("--out", type=Path, help="annotated image, or annotated video (+ per-frame rows as .csv)")
    p.add_argument("--every", type=int, default=5, help="video: analyse every n-th frame")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("emotion", parents=[common], help="emotion of already-cropped face images (model evaluation)")
    p.add_argument("--aligned", action="store_true", required=True, help="inputs are aligned face crops (no detection)")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(func=cmd_emotion)

    p = sub.add_parser("calibrate", parents=[common], help="FAR/FRR on labelled photos; choose and save the threshold")
    p.add_argument("labelled", type=Path, help="folder of <person>/<photos>, or of people/<person>/<photos> + "
                   "strangers/<photos> (open-set calibration, e.g. ../shared/data/faces/lfw-dev)")
    p.add_argument("--target-far", type=float, default=0.01, help="highest acceptable false-accept rate")
    p.add_argument("--enroll", type=int, default=2, help="open-set layout: enrollment photos per person")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="open-set layout: keep the photos' vectors here to re-run quickly (biometric data of the "
                        "people in the folder: only for research sets; default: nothing is kept)")
    p.add_argument("--dry-run", action="store_true", help="print, do not save to the gallery")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("workers", parents=[common], help="list, rename or erase enrolled workers")
    wsub = p.add_subparsers(dest="action", required=True)
    wsub.add_parser("list", parents=[common])
    w = wsub.add_parser("rename", parents=[common])
    w.add_argument("--worker", required=True)
    w.add_argument("--new-name", required=True)
    w = wsub.add_parser("erase", parents=[common], help="remove every trace: gallery entry, photos, embeddings, timeline rows")
    w.add_argument("--worker", required=True)
    p.set_defaults(func=cmd_workers)

    p = sub.add_parser("info", parents=[common], help="backends in use and why")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("serve", parents=[common], help="HTTP API for programs (see core/api.py)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("setup-weights", parents=[common], help="provision offline weights; show which are present")
    p.set_defaults(func=cmd_setup_weights)

    try:
        from core.timeline.cli import add_timeline_commands
    except ImportError:  # pragma: no cover - the timeline package is part of the project
        add_timeline_commands = None
    if add_timeline_commands is not None:
        add_timeline_commands(sub, common)
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
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    try:
        if len(inspect.signature(args.func).parameters) == 2:  # timeline commands take (args, settings)
            return int(args.func(args, _settings(args)) or 0)
        return int(args.func(args) or 0)
    except FaceDashError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    except PermissionError as exc:
        sys.stderr.write(f"error: permission denied: {exc.filename or exc}\n")
        return 4
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
