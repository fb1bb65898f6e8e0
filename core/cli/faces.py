"""Face commands: enroll, identify, analyze (photo or video, optionally stored), emotion, calibrate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.cli.common import EXIT_PARTIAL, actor_from, emit, face_line, load_engine, progress, warn
from core.errors import ConfigError, FaceDashError, ImageError, NoFaceError
from core.services import analysis, configuration, workers
from core.services.limits import read_file_limited

ANNOTATED_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
ANNOTATED_VIDEO_SUFFIXES = (".mp4", ".avi")


def cmd_enroll(args, settings) -> int:
    actor = actor_from(args)
    photos, unreadable = [], []
    for path in args.photos:
        try:
            photos.append((str(path), read_file_limited(path, settings)))
        except ImageError as exc:
            unreadable.append({"photo": str(path), "accepted": False, "reason": str(exc).removeprefix(f"{path}: ")})
    if not photos:
        reasons = "; ".join(f"{v['photo']}: {v['reason']}" for v in unreadable)
        raise FaceDashError(f"no usable photo for worker {args.worker!r} ({reasons})")
    engine = load_engine(args, settings)
    result = workers.enroll(engine, actor, args.worker, photos, args.consent, args.consent_by or args.worker,
                            name=args.name)
    verdicts = unreadable + [v.as_dict() for v in result.verdicts]
    lines = [f"enrolled {result.worker_id}: {result.accepted} photo(s) accepted, {len(verdicts) - result.accepted} "
             "rejected"]
    lines += [f"  {'ok  ' if v['accepted'] else 'REJ '} {v['photo']}: {v['reason']}" for v in verdicts]
    emit(args, {"worker": result.worker_id, "accepted": result.accepted, "verdicts": verdicts,
                "recognition_model": result.recognition_model}, "\n".join(lines))
    return 0


def _load(settings, path: Path):
    from core.images import decode_image

    return decode_image(read_file_limited(path, settings), str(path), settings.max_image_pixels)


def _each_image(args, settings, paths, run):
    """``run(name, image) -> ImageAnalysis`` for each path; failures are reported and counted, not raised."""
    results, failed = [], 0
    bar = progress(args, len(paths), "images")
    for n, path in enumerate(paths):
        try:
            found = run(str(path), _load(settings, path))
            if not found.observations:
                raise NoFaceError(f"{path}: no face found")
            results.append(found)
        except (ImageError, NoFaceError) as exc:
            results.append(exc)
            warn(str(exc))
            failed += 1
        bar(n + 1, len(paths))
    bar.close()
    return results, failed


def _entry(path, found) -> dict:
    if isinstance(found, Exception):
        return {"image": str(path), "faces": [], "error": str(found)}
    return {"image": str(path), "emotion_enabled": found.emotion_enabled, "faces": found.records()}


def cmd_identify(args, settings) -> int:
    engine = load_engine(args, settings)
    results, failed = _each_image(args, settings, args.images,
                                  lambda name, image: analysis.identify_image(engine, actor_from(args), name, image, "cli"))
    names = engine.gallery.display_names()
    entries = [_entry(p, r) for p, r in zip(args.images, results)]
    human = []
    for entry in entries:
        if "error" not in entry:  # errors were reported on stderr
            human.append(f"{entry['image']}: {len(entry['faces'])} face(s)")
            human += [face_line(rec, names) for rec in entry["faces"]]
    emit(args, entries, "\n".join(human))
    return EXIT_PARTIAL if failed else 0


def _check_out(args, video: bool) -> Path | None:
    if args.out is None:
        return None
    out = Path(args.out)
    allowed = ANNOTATED_VIDEO_SUFFIXES if video else ANNOTATED_IMAGE_SUFFIXES
    if out.suffix.lower() not in allowed:
        raise ConfigError(f"--out {out.name}: the annotated {'video' if video else 'image'} must end in "
                          f"{', '.join(allowed)}")
    return out


def cmd_analyze(args, settings) -> int:
    from core.images import is_video_path

    video = is_video_path(args.input)
    out = _check_out(args, video)  # before any model loads: a wrong name is refused at once
    if video and (isinstance(args.every, bool) or not isinstance(args.every, int) or not 1 <= args.every <= 300):
        raise ConfigError(f"--every must be a whole number from 1 to 300, got {args.every}")
    engine = load_engine(args, settings)
    if not engine.emotion_enabled and not args.quiet:
        sys.stderr.write("note: emotion analysis is disabled; pass --emotion-purpose medical|safety to enable it "
                         "for that declared purpose\n")
    if video:
        return _analyze_video(args, settings, engine, out)
    results, failed = _each_image(args, settings, [args.input],
                                  lambda name, image: analysis.analyze_image(engine, actor_from(args), name, image, "cli"))
    found = results[0]
    entry = _entry(args.input, found)
    if failed:
        if args.json:
            emit(args, entry, "")
        return EXIT_PARTIAL
    names = engine.gallery.display_names()
    if args.save:
        entry.update(_save(args, settings, found.name, found.observations))
    if out is not None:
        _write_annotated(out, found, names)
        entry["annotated"] = str(out)
    human = [f"{entry['image']}: {len(entry['faces'])} face(s)"] + [face_line(r, names) for r in entry["faces"]]
    if args.save:
        human.append(f"stored {entry['stored']} row(s) for enrolled workers ({entry['not_stored_unknown']} unknown "
                     "face(s) not stored)")
    emit(args, entry, "\n".join(human))
    return 0


def _save(args, settings, name: str, observations) -> dict:
    from core.services.timeline import open_store

    with open_store(settings) as store:
        stored = analysis.store_analysis(settings, store, actor_from(args), name, observations, "cli")
    return {"stored": stored.stored, "not_stored_unknown": stored.unknown}


def _write_annotated(out: Path, found, names) -> None:
    import cv2

    from core.annotate import annotate

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(str(out), annotate(found.image, found.observations, names))
    except (OSError, cv2.error):
        ok = False
    if not ok:
        raise FaceDashError(f"{out}: cannot write the annotated image (use a .jpg or .png name in a writable folder)")


def _analyze_video(args, settings, engine, out: Path | None) -> int:
    bar = progress(args, 0, "frames")
    try:
        found = analysis.analyze_video_file(engine, actor_from(args), str(args.input), Path(args.input), "cli",
                                            every_n=args.every, out=out, progress=bar)
    finally:
        bar.close()
    result = found.video
    payload = {"video": str(args.input), "frames": result.frames, "analysed_frames": result.analysed_frames,
               "fps": result.fps, "emotion_enabled": found.emotion_enabled, "rows": result.rows}
    if args.save:
        payload.update(_save(args, settings, found.name, result.observations))
    if out is not None:
        import pandas as pd

        rows_path = out.with_suffix(".csv")
        pd.json_normalize(result.rows).to_csv(rows_path, index=False)
        payload.update(annotated=str(out), rows_file=str(rows_path))
    seen = sorted({r["worker"] or "unknown" for r in result.rows})
    human = (f"{args.input}: {result.frames} frames, {result.analysed_frames} analysed, {len(result.rows)} face rows; "
             f"seen: {', '.join(seen) or 'nobody'}" + (f"\nannotated video: {out}" if out else ""))
    if args.save:
        human += f"\nstored {payload['stored']} row(s) for enrolled workers"
    emit(args, payload, human)
    return 0


def cmd_emotion(args, settings) -> int:
    from core.emotions import create_emotion_model, resolve_emotion_backend
    from core.engine import prepare_weights
    from core.runtime import import_tensorflow_quietly

    if not settings.emotion_active:  # the purpose gate comes before any model or file is read
        analysis.emotions_of_crops(settings, actor_from(args), None, [])
    if not args.verbose:
        import_tensorflow_quietly()
    model = create_emotion_model(resolve_emotion_backend(settings.emotion_backend).name, prepare_weights(settings))
    crops = []
    entries: list[dict[str, Any]] = []
    failed = 0
    for path in args.images:
        try:
            crops.append(_load(settings, path))
            entries.append({"image": str(path)})
        except ImageError as exc:
            warn(str(exc))
            failed += 1
    for entry, result in zip(entries, analysis.emotions_of_crops(settings, actor_from(args), model, crops)):
        entry.update(emotion={"label": result.label, "scores": {k: round(v, 6) for k, v in result.as_dict().items()},
                              "model": result.model}, valence=result.valence)
    emit(args, entries, "\n".join(f"{e['image']}: {e['emotion']['label']} ({e['valence']})" for e in entries))
    return EXIT_PARTIAL if failed else 0


def cmd_calibrate(args, settings) -> int:
    from core.calibrate import calibrate, calibrate_open_set
    from core.openset import is_open_set_layout

    if not 0 < args.target_far < 1:
        raise ConfigError(f"--target-far must be between 0 and 1 (exclusive), got {args.target_far}")
    open_set = is_open_set_layout(Path(args.labelled))
    if open_set and args.enroll < 1:
        raise ConfigError(f"--enroll must be at least 1, got {args.enroll}")
    engine = load_engine(args, settings)
    bar = progress(args, 0, "photos")
    try:
        if open_set:
            result = calibrate_open_set(Path(args.labelled), engine, args.target_far, args.enroll, bar, args.cache_dir)
        else:
            result = calibrate(Path(args.labelled), engine, target_far=args.target_far, progress=bar)
    finally:
        bar.close()
    saved = ""
    if not args.dry_run:
        saved = f"; saved to {configuration.save_calibration(engine, actor_from(args), result)}"
    emit(args, result, "\n".join(_open_set_lines(result) if open_set else _closed_set_lines(result)) + saved)
    return 0


def _open_set_lines(result: dict) -> list[str]:
    held, cal = result["heldout"], result["calibration"]
    lines = [f"{result['model']} / {result['metric']} / {result['template']}: {result['people']} people "
             f"({result['enroll_photos']} enrollment photos each), {result['strangers']} strangers, "
             f"{result['photos_without_face']} of {result['photos']} photos without a face found",
             f"{'part':<12} {'rank-1':>7} {'DIR@1%':>7} {'DIR@0.1%':>8} {'FAR at t':>8}"]
    for part, r in (("calibration", cal), ("held-out", held)):
        lines.append(f"{part:<12} {r['rank1']:>7.2%} {r['dir_at_far_0.01']:>7.2%} {r['dir_at_far_0.001']:>8.2%} "
                     f"{r['at_threshold']['far']:>8.2%}")
    lines.append(f"chosen threshold {result['threshold']:.4f}, ambiguity margin {result['margin']:.4f} "
                 f"(FAR <= {result['target_far']:.2%} on the calibration part)")
    return lines


def _closed_set_lines(result: dict) -> list[str]:
    lines = [f"{result['model']} / {result['metric']}: {result['photos']} photos of {result['people']} people; 1:N "
             f"leave-one-out ({result['genuine_pairs']} genuine, {result['impostor_pairs']} impostor nearest distances)",
             f"{'threshold':>10} {'FAR':>8} {'FRR':>8}"]
    lines += [f"{r['threshold']:>10.4f} {r['far']:>8.2%} {r['frr']:>8.2%}" for r in result["table"]]
    lines.append(f"chosen threshold {result['threshold']:.4f} (FAR {result['far']:.2%} <= {result['target_far']:.2%}, "
                 f"FRR {result['frr']:.2%}); pairwise ROC AUC {result['pairwise']['auc']:.4f}, "
                 f"EER {result['pairwise']['eer']:.2%}")
    return lines
