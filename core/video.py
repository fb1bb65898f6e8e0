"""Video analysis: read frames, analyse every n-th, write an annotated video and per-frame rows."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.annotate import annotate
from core.errors import ImageError
from core.types import Observation

log = logging.getLogger(__name__)


@dataclass
class VideoResult:
    frames: int
    analysed_frames: int
    fps: float
    rows: list[dict]
    observations: list[Observation]
    output: Path | None


#: The first bytes of image files (PNG, JPEG, GIF, BMP, TIFF; WebP is RIFF....WEBP, AVI is RIFF....AVI).
IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def open_video(path: Path):
    import cv2

    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageError(f"{path}: not a readable video (use MP4/H.264, AVI, MOV, MKV or WebM)")
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):  # OpenCV reads a photo as a one-frame "video": refuse it as one
        capture.release()
        raise ImageError(f"{path}: is a photo, not a video; analyse it as a photo")
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise ImageError(f"{path}: video has no readable frames (corrupt or unsupported codec)")
    # no seek back to 0: with broken container timestamps seeking skips frames; hand the first frame over instead
    return capture, first


#: Video frames larger than this are downscaled right after decoding (analysis, annotation and the output video
#: then work at most at about 1080p: an 8K frame took 24 s). Settings.max_video_frame_pixels, same default.
VIDEO_MAX_FRAME_PIXELS = 1920 * 1080
#: An analysis that runs longer than this stops with a clear error (CPU time per request is bounded).
VIDEO_MAX_ANALYSIS_SECONDS = 900.0


def fit_frame(frame: np.ndarray, max_pixels: int = VIDEO_MAX_FRAME_PIXELS) -> np.ndarray:
    """``frame`` downscaled (aspect kept) so that it has at most ``max_pixels`` pixels."""
    height, width = frame.shape[:2]
    if height * width <= max_pixels:
        return frame
    import cv2

    scale = (max_pixels / float(height * width)) ** 0.5
    return cv2.resize(frame, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)


def sane_fps(reported: float) -> float:
    """The container's frame rate, or 25 when it is broken (the GRID clips report 1875 frames/s)."""
    return reported if 0 < reported <= 240 else 25.0


def read_frames(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of a (short) video in memory, and its frame rate. For tests, benchmarks and the fake camera."""
    import cv2

    capture, frame = open_video(Path(path))
    fps = sane_fps(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    frames = []
    while frame is not None:
        frames.append(frame)
        ok, frame = capture.read()
        if not ok:
            frame = None
    capture.release()
    return frames, fps


def analyze_video(
    engine,
    path: Path,
    out_path: Path | None = None,
    every_n: int = 5,
    source: str = "video",
    start_time: dt.datetime | None = None,
    max_seconds: float | None = None,
    progress=None,
    max_analysis_seconds: float = VIDEO_MAX_ANALYSIS_SECONDS,
    max_frame_pixels: int = VIDEO_MAX_FRAME_PIXELS,
) -> VideoResult:
    """Analyse every ``every_n``-th frame; annotate every frame with the latest result (like the live page).

    Identities are voted, and emotions averaged, over each face's recent analysed frames (:mod:`core.tracking`), as
    on the live page. Limits hold whatever the container claims: the duration is measured while decoding (a stream
    without a frame count stops at ``max_seconds``), frames are downscaled to :data:`VIDEO_MAX_FRAME_PIXELS`, and the
    analysis stops after ``max_analysis_seconds`` of wall time. Each limit raises ImageError; nothing is returned.
    """
    import time

    import cv2

    from core.tracking import FaceTracker

    capture, first = open_video(path)
    fps = sane_fps(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if not 0 < total < 100_000_000:  # raw streams report nothing, or garbage (a negative count from raw H.264)
        total = 0
    if max_seconds is not None and total and total / fps > max_seconds:
        capture.release()
        raise ImageError(f"{path}: video is {total / fps:.0f} s long, over the {max_seconds:.0f} s limit; trim it first")
    start_time = start_time or dt.datetime.now(dt.UTC)
    names = engine.gallery.display_names()
    tracker = FaceTracker.from_settings(engine.settings)
    writer = None
    rows: list[dict] = []
    observations: list[Observation] = []
    latest: list[Observation] = []
    index = analysed = 0
    started = time.monotonic()
    try:
        frame: np.ndarray | None = fit_frame(first, max_frame_pixels)
        while frame is not None:
            if max_seconds is not None and index / fps > max_seconds:
                raise ImageError(f"{path}: video is longer than the {max_seconds:.0f} s limit (measured while "
                                 "decoding); trim it first")
            if time.monotonic() - started > max_analysis_seconds:
                raise ImageError(f"{path}: analysis stopped after {max_analysis_seconds:.0f} s at frame {index}; "
                                 "analyse fewer frames (a higher every-n) or a shorter clip")
            if index % every_n == 0:
                when = start_time + dt.timedelta(seconds=index / fps)
                latest = tracker.update(engine.analyze(frame, source=source, when=when), index / fps)
                analysed += 1
                observations.extend(latest)
                for face_no, obs in enumerate(latest):
                    rows.append({"frame": index, "second": round(index / fps, 3), "face": face_no, **obs.to_record()})
            if out_path is not None:
                if writer is None:
                    out_path.parent.mkdir(parents=True, exist_ok=True)
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
                writer.write(annotate(frame, latest, names))
            index += 1
            if progress:
                progress(index, total)
            ok, frame = capture.read()
            frame = fit_frame(frame, max_frame_pixels) if ok and frame is not None else None
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    log.info("video %s: %d frames, %d analysed, %d face rows", path, index, analysed, len(rows))
    return VideoResult(index, analysed, fps, rows, observations, out_path)


def _h264_with_ffmpeg(path: Path) -> Path | None:
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return None
    target = path.with_name(path.stem + ".h264.mp4")
    result = subprocess.run(
        [ffmpeg, "-y", "-loglevel", "error", "-i", str(path), "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-movflags", "+faststart", str(target)], capture_output=True)
    if result.returncode != 0 or not target.exists():
        log.warning("ffmpeg could not re-encode %s: %s", path, result.stderr.decode(errors="replace")[-300:])
        return None
    return target


def _vp8_with_opencv(path: Path) -> Path | None:
    import cv2

    target = path.with_suffix(".webm")
    capture = cv2.VideoCapture(str(path))
    fps = sane_fps(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    writer = None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"VP80"), fps, (w, h))
                if not writer.isOpened():
                    return None
            writer.write(frame)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return target if target.exists() and target.stat().st_size > 0 else None


def web_playable(path: Path) -> tuple[Path, str, bool]:
    """A copy browsers can play (OpenCV writes mp4v, which they cannot): (file, mime type, playable).

    H.264 through ffmpeg when it is installed (packages.txt installs it on Community Cloud), else VP8/WebM written
    by OpenCV, else the original file (download only).
    """
    path = Path(path)
    h264 = _h264_with_ffmpeg(path)
    if h264 is not None:
        return h264, "video/mp4", True
    webm = _vp8_with_opencv(path)
    if webm is not None:
        return webm, "video/webm", True
    return path, "video/mp4", False
