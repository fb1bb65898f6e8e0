"""The live page's thread hand-off parts on their own: the size-1 frame slot and the bounded result board."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.types import utcnow
from dashboard.live import LatestFrameSlot, LiveResult, PendingFrame, ResultBoard, write_json_atomic


def pending(n: int) -> PendingFrame:
    return PendingFrame(np.zeros((2, 2, 3), np.uint8), n, float(n), utcnow())


def result(seq: int) -> LiveResult:
    return LiveResult(seq=seq, frame_no=seq, captured_at=0.0, finished_at=0.1, analysis_ms=100.0, observations=(),
                      labels=())


def test_slot_keeps_only_the_newest_frame():
    slot = LatestFrameSlot()
    assert slot.put(pending(1)) is False
    assert slot.put(pending(2)) is True  # frame 1 was never taken: dropped
    assert slot.put(pending(3)) is True
    assert slot.dropped == 2 and slot.pending == 1
    assert slot.take(timeout=0).frame_no == 3
    assert slot.pending == 0 and slot.take(timeout=0.01) is None


def test_slot_wakes_a_waiting_taker():
    slot = LatestFrameSlot()
    got = []
    taker = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    taker.start()
    slot.put(pending(7))
    taker.join(2)
    assert not taker.is_alive() and got[0].frame_no == 7


def test_board_is_bounded_and_thread_safe():
    board = ResultBoard(maxlen=5)
    errors = []

    def writer(start):
        for i in range(start, start + 500):
            board.publish(result(i))

    def reader():
        for _ in range(500):
            recent = board.recent()
            if len(recent) > 5:
                errors.append(len(recent))

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(board) == 5
    assert board.latest() is board.recent()[-1]
    with pytest.raises(ValueError):
        ResultBoard(maxlen=0)


def test_write_json_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "status.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2, "b": [1, 2]})
    assert path.read_text().startswith("{") and '"a": 2' in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary file left behind
