"""Soak test of the live page: real Chromium, fake camera (a looping real video), real Streamlit server, for minutes.

CI runs 3 minutes (default); `make soak` runs 60 (FACEDASH_SOAK_SECONDS=3600, figures written to
FACEDASH_SOAK_OUT=benchmarks/results/soak_live.json). The clock starts once the first frame has been analysed (model
loading is not a stall). Every ~5 s the test samples the server's status file (FACEDASH_LIVE_STATUS_FILE), the RSS of
the server's process tree (streamlit plus its children, the analysis process among them) and the returned video in the
browser, then asserts:

- memory: RSS grows by less than 50 MB from the end of the warm-up (first 60 s, or a third of a shorter run) to the
  end (median of 3 samples at each end, to damp noise);
- no stalled stream: between every two consecutive samples the frames received and analysed both grew, and the
  browser's returned video advanced;
- rows at the set rate: in every ~30 s window after the warm-up the enrolled worker (always in view) got at least half
  the rows the interval allows, never more, and no analysis or store error happened.

The samples and a summary go to test-output/soak_live.json (always) and to FACEDASH_SOAK_OUT (if set).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import pytest

from tests.e2e.test_live_browser import IFRAME, read_status, sign_in, start_camera, wait_status

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"

SOAK_SECONDS = float(os.environ.get("FACEDASH_SOAK_SECONDS", "180"))
SAMPLE_EVERY_S = 5.0
WARMUP_S = min(60.0, SOAK_SECONDS / 3)
RSS_GROWTH_LIMIT_MB = 50.0
ROW_WINDOW_S = 30.0
#: A window must hold at least this share of the rows the interval allows (see ``check_row_rate``).
ROW_RATE_FLOOR = 0.5
#: The interval the live_app fixture sets (FACEDASH_OBSERVATION_INTERVAL_S); checked against the status file.
INTERVAL_S = 1.0
#: Abort the run early (and fail) once the stream has not moved for this long: no use waiting out a 60-minute soak.
GIVE_UP_STALLED_S = 60.0

#: What the test reads from the returned video: the media clock and the frames Chromium decoded (if it says).
VIDEO_STATE = """v => {
    const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality() : null;
    return {current_time: v.currentTime, frames: q ? q.totalVideoFrames : null, width: v.videoWidth,
            paused: v.paused, ready_state: v.readyState};
}"""


# ---------------------------------------------------------------------------------------------------------------------
# RSS of the server's process tree
# ---------------------------------------------------------------------------------------------------------------------

def _proc_children() -> dict[int, list[int]]:
    """ppid -> child pids, from /proc/*/stat (the fallback when psutil is not installed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may hold spaces: fields after the last ")"
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _proc_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0  # gone, or a kernel thread


def tree_rss(pid: int) -> dict[str, float]:
    """RSS (MB) of ``pid`` and every descendant, summed, plus per process (``pid:name`` -> MB) for the record.

    The sum counts pages shared between the processes more than once (fork): fine for growth, not an absolute figure.
    """
    per: dict[str, float] = {}
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                per[f"{proc.pid}:{proc.name()}"] = proc.memory_info().rss / 2**20
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    else:
        children = _proc_children()
        todo, seen = [pid], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo.extend(children.get(current, []))
            try:
                name = Path(f"/proc/{current}/comm").read_text().strip()
            except OSError:
                continue
            per[f"{current}:{name}"] = _proc_rss_kb(current) / 1024
    return {"total": sum(per.values()), **per}


# ---------------------------------------------------------------------------------------------------------------------
# Checks on the samples (pure functions of the samples: the failure message says which sample broke what)
# ---------------------------------------------------------------------------------------------------------------------

def rss_growth(samples: list[dict], warmup_s: float) -> tuple[float, float, float]:
    """(RSS after warm-up, RSS at the end, growth) in MB: median of the 3 samples from warm-up on vs the last 3."""
    after = [s for s in samples if s["t"] >= warmup_s]
    assert len(after) >= 6, f"too few samples after the {warmup_s:.0f} s warm-up to judge memory: {len(after)}"
    start = statistics.median(s["rss_mb"] for s in after[:3])
    end = statistics.median(s["rss_mb"] for s in after[-3:])
    return start, end, end - start


def stalls(samples: list[dict]) -> list[str]:
    """Pairs of consecutive samples between which the stream did not move (received, analysed, returned video)."""
    found = []
    for a, b in zip(samples, samples[1:], strict=False):
        what = [key for key in ("received", "analysed") if b[key] <= a[key]]
        if a["video_time"] is not None and b["video_time"] is not None and b["video_time"] <= a["video_time"]:
            what.append("video currentTime")
        if a["video_frames"] is not None and b["video_frames"] is not None and b["video_frames"] <= a["video_frames"]:
            what.append("video frames decoded")
        if what:
            found.append(f"t={a['t']:.0f}..{b['t']:.0f} s: {', '.join(what)} did not advance")
    return found


def check_row_rate(samples: list[dict], warmup_s: float, interval_s: float) -> tuple[list[str], list[float]]:
    """Every ~30 s window after the warm-up (sliding, one per sample): problems and the rows per minute seen.

    One worker is in view all the time, so the recorder stores one row per ``interval_s`` at most: a row is due at the
    first analysed frame at least ``interval_s`` after the previous row's frame, so the real period is the interval
    plus up to one analysis period (at 5 analysed frames/s and a 1 s interval: a row every 1.0-1.2 s), and a frame in
    which the face was missed or not yet named (a new track) postpones it further. The floor, half the rows the interval
    allows, is met while at least ~1 frame/s is analysed and named; below that the page does not record "at the set
    rate" in any useful sense. The ceiling is the interval's count plus one (the window's ends fall between rows), plus
    one for the lag between a row and the status file that counts it (written after an analysis, at most 4 times a
    second; the capture-to-result latency varies).
    """
    problems, per_minute = [], []
    after = [s for s in samples if s["t"] >= warmup_s]
    for i, first in enumerate(after):
        last = next((s for s in after[i + 1:] if s["t"] - first["t"] >= ROW_WINDOW_S), None)
        if last is None:
            break
        span = last["t"] - first["t"]
        rows = last["rows_written"] - first["rows_written"]
        per_minute.append(rows * 60 / span)
        allowed = span / interval_s
        if rows < ROW_RATE_FLOOR * allowed:
            problems.append(f"t={first['t']:.0f}..{last['t']:.0f} s: {rows} rows, fewer than "
                            f"{ROW_RATE_FLOOR:.0%} of {allowed:.0f}")
        if rows > allowed + 2:
            problems.append(f"t={first['t']:.0f}..{last['t']:.0f} s: {rows} rows, more than one per {interval_s:g} s")
    return problems, per_minute


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def summarise(samples: list[dict], warmup_s: float, interval_s: float) -> dict:
    after = [s for s in samples if s["t"] >= warmup_s] or samples
    summary: dict = {
        "duration_s": round(samples[-1]["t"], 1) if samples else 0.0,
        "samples": len(samples),
        "warmup_s": warmup_s,
        "interval_s": interval_s,
    }
    if len(after) >= 6:
        start, end, growth = rss_growth(samples, warmup_s)
        summary.update(rss_after_warmup_mb=round(start, 1), rss_end_mb=round(end, 1), rss_growth_mb=round(growth, 1))
    summary["rss_max_mb"] = round(max((s["rss_mb"] for s in samples), default=0.0), 1)
    fps = [s["processing_fps"] for s in after]
    summary.update(
        analysed_fps_min=round(min(fps), 2) if fps else None,
        analysed_fps_median=_median(fps),
        output_fps_min=round(min((s["output_fps"] for s in after), default=0.0), 2),
        output_fps_median=_median(s["output_fps"] for s in after),
        identity_latency_ms_median=_median(s["identity_latency_ms"] for s in after),
        latency_p50_ms_median=_median(s["latency_p50_ms"] for s in after),
        latency_p95_ms_max=round(max((s["latency_p95_ms"] or 0.0 for s in after), default=0.0), 1),
        stage_ms_median={stage: _median(s["stage_ms"].get(stage) for s in after)
                         for stage in sorted({k for s in after for k in s["stage_ms"]})},
    )
    if len(samples) >= 2:
        first, last = samples[0], samples[-1]
        span = last["t"] - first["t"]
        summary["received_per_s"] = round((last["received"] - first["received"]) / span, 2)
        summary["analysed_per_s"] = round((last["analysed"] - first["analysed"]) / span, 2)
        summary["rows_written"] = last["rows_written"]
        summary["dropped"] = last["dropped"]
        if span > warmup_s and len(after) >= 2:
            rows_span = after[-1]["t"] - after[0]["t"]
            summary["rows_per_minute_after_warmup"] = round(
                (after[-1]["rows_written"] - after[0]["rows_written"]) * 60 / rows_span, 1) if rows_span else None
            summary["rows_per_minute_allowed"] = round(60 / interval_s, 1)
        if last["video_time"] is not None and first["video_time"] is not None:
            summary["video_seconds_played"] = round(last["video_time"] - first["video_time"], 1)
        if last["video_frames"] is not None and first["video_frames"] is not None:
            summary["video_fps_in_browser"] = round((last["video_frames"] - first["video_frames"]) / span, 2)
    summary["analysis_errors"] = samples[-1]["analysis_errors"] if samples else None
    summary["store_errors"] = samples[-1]["store_errors"] if samples else None
    return summary


def write_results(result: dict) -> list[Path]:
    """test-output/soak_live.json always; FACEDASH_SOAK_OUT too (relative to the repository root) if set."""
    targets = [OUTPUT / "soak_live.json"]
    extra = os.environ.get("FACEDASH_SOAK_OUT")
    if extra:
        path = Path(extra)
        targets.append(path if path.is_absolute() else ROOT / path)
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    return targets


# ---------------------------------------------------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------------------------------------------------

def _sample(app, video, t: float) -> dict:
    status = read_status(app.status_file)
    rss = tree_rss(app.process.pid)
    try:
        state = video.evaluate(VIDEO_STATE, timeout=10_000)
    except Exception as exc:  # the iframe reloading would show as a stall of the video below
        state = {"error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
    updated = status.get("updated")
    age = None
    if updated:
        age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(updated)).total_seconds()
    return {
        "t": round(t, 2),
        "rss_mb": round(rss.pop("total"), 1),
        "rss_by_process_mb": {name: round(mb, 1) for name, mb in rss.items()},
        "status_age_s": round(age, 2) if age is not None else None,
        "video_time": state.get("current_time"),
        "video_frames": state.get("frames"),
        "video_error": state.get("error"),
        **{key: status.get(key) for key in ("running", "received", "analysed", "dropped", "rows_written",
                                            "analysis_errors", "store_errors", "last_error", "labels", "faces")},
        "processing_fps": status.get("processing_fps", 0.0),
        "output_fps": status.get("output_fps", 0.0),
        "identity_latency_ms": status.get("identity_latency_ms"),
        "latency_p50_ms": status.get("latency_p50_ms"),
        "latency_p95_ms": status.get("latency_p95_ms"),
        "stage_ms": status.get("stage_ms") or {},
    }


@pytest.mark.e2e
@pytest.mark.timeout(int(SOAK_SECONDS) + 900)  # sign-in, model loading, START retries and STOP: 15 min at most
def test_live_page_soak(live_app, chromium_page, enrolled_person):
    _, name = enrolled_person
    page = chromium_page
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)[:300]))

    from core.timeline.store import TimelineStore

    store = TimelineStore(str(live_app.data_dir / "timeline"))
    rows_before = len(store.read())  # the data folder is shared by the session's e2e tests

    # as test_live_browser.py: sign in through the router, open "Live camera", press START
    page.goto(live_app.url + "/")
    sign_in(page, live_app, live_app.user)
    page.get_by_text("Emotion analysis:").wait_for(timeout=120_000)
    page.get_by_role("link", name="Live camera").click()
    page.get_by_role("heading", name="Live camera").wait_for(timeout=120_000)
    camera = page.frame_locator(IFRAME)
    camera.get_by_role("button", name="Start").wait_for(timeout=120_000)
    start_camera(camera, live_app)
    # the clock starts once the models answer (loading them in the analysis process is not a stall)
    status = wait_status(live_app, lambda s: s.get("analysed", 0) > 0 and not s.get("starting"), 240,
                         "the first analysed frame")
    assert status["interval_s"] == INTERVAL_S, f"the live_app fixture should set a {INTERVAL_S:g} s interval"
    video = camera.locator("video").first
    page.wait_for_function("v => v.videoWidth > 0 && v.currentTime > 0", arg=video.element_handle(),
                           timeout=60_000)

    samples: list[dict] = []
    started = time.monotonic()
    aborted = None
    while True:
        t = time.monotonic() - started
        sample = _sample(live_app, video, t)
        samples.append(sample)
        if live_app.process.poll() is not None:
            aborted = f"streamlit exited with {live_app.process.returncode}"
            break
        if not sample["running"]:
            aborted = "the analysis worker stopped"
            break
        moved = [s for s in samples if t - s["t"] <= GIVE_UP_STALLED_S]
        if t >= GIVE_UP_STALLED_S and moved[0]["analysed"] == sample["analysed"]:
            aborted = f"nothing analysed for {GIVE_UP_STALLED_S:.0f} s"
            break
        if t >= SOAK_SECONDS:
            break
        page.wait_for_timeout(SAMPLE_EVERY_S * 1000)  # (not time.sleep: keeps Playwright's dispatcher running)

    summary = summarise(samples, WARMUP_S, INTERVAL_S)
    summary.update(soak_seconds=SOAK_SECONDS, aborted=aborted, page_errors=page_errors[:20],
                   seen_workers=read_status(live_app.status_file).get("seen_workers"),
                   finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    problems: list[str] = []
    if aborted:
        problems.append(f"aborted after {samples[-1]['t']:.0f} s: {aborted}")
    if len([s for s in samples if s["t"] >= WARMUP_S]) >= 6:
        _, _, growth = rss_growth(samples, WARMUP_S)
        if growth >= RSS_GROWTH_LIMIT_MB:
            problems.append(f"RSS grew {growth:.1f} MB after the warm-up (limit {RSS_GROWTH_LIMIT_MB:.0f} MB)")
    else:
        problems.append("too few samples after the warm-up to judge memory")
    problems += stalls(samples)
    rate_problems, per_minute = check_row_rate(samples, WARMUP_S, INTERVAL_S)
    problems += rate_problems
    summary["rows_per_minute_windows_min"] = round(min(per_minute), 1) if per_minute else None
    if not per_minute:
        problems.append(f"no {ROW_WINDOW_S:.0f} s window after the warm-up: run longer than {WARMUP_S + ROW_WINDOW_S:.0f} s")
    errors = [s for s in samples if s["analysis_errors"] or s["store_errors"]]
    if errors:
        problems.append(f"errors from t={errors[0]['t']:.0f} s: analysis {errors[-1]['analysis_errors']}, "
                        f"store {errors[-1]['store_errors']}, last: {errors[-1]['last_error']}")
    if not any(label.startswith(name + " | ") for s in samples for label in s["labels"] or []):
        problems.append(f"{name} was never labelled")

    # STOP still ends the stream after the soak, and every counted row is in the store
    if not aborted:
        camera.get_by_role("button", name="Stop").click()
        final = wait_status(live_app, lambda s: s["running"] is False, 30, "the analysis worker to stop")
        stored = len(store.read()) - rows_before
        summary.update(rows_written=final["rows_written"], rows_in_store=stored)
        if stored != final["rows_written"]:
            problems.append(f"{final['rows_written']} rows counted, {stored} in the store")
    summary["problems"] = problems
    written = write_results({"summary": summary, "samples": samples})
    assert not problems, (f"soak of the live page failed ({', '.join(map(str, written))}):\n" + "\n".join(problems[:30])
                          + f"\nsummary: {json.dumps(summary)}\napp log:\n{live_app.log_tail(3000)}")
