"""Video helpers on the real clips: frame reading despite broken timestamps, browser-playable re-encoding."""

import cv2
import pytest

from core.errors import ImageError
from core.video import read_frames, web_playable


def test_read_frames_survives_broken_timestamps(shared_data):
    frames, fps = read_frames(shared_data / "video" / "bbaf2n.mp4")  # container says 1875 frames/s
    assert len(frames) == 75 and fps == 25.0
    assert frames[0].shape == (288, 360, 3)


def test_not_a_video_is_a_clear_error(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 4096)
    with pytest.raises(ImageError, match="not a readable video|no readable frames"):
        read_frames(tmp_path / "clip.mp4")
    with pytest.raises(ImageError, match="empty"):
        (tmp_path / "empty.mp4").write_bytes(b"")
        read_frames(tmp_path / "empty.mp4")


def test_web_playable_copy_keeps_every_frame(shared_data, tmp_path):
    frames, fps = read_frames(shared_data / "video" / "id2_vcd_swwp2s.mp4")
    source = tmp_path / "annotated.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(frame)
    writer.release()
    playable, mime, ok = web_playable(source)
    assert ok and playable != source and mime in {"video/mp4", "video/webm"}
    assert len(read_frames(playable)[0]) == len(frames)
