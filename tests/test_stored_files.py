"""Stored files read back: a corrupt or mismatched file is one clear error naming it and the repair command;
`python -m core check` reports it and `check --repair` repairs it, leaving every other file as it was."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.config import get_settings, load_settings, save_overrides
from core.errors import ConfigError, GalleryError
from core.gallery import Gallery
from core.gallery_files import CorruptFileError
from core.timeline import TimelineStore
from core.types import Box, DetectedFace, EmotionResult, IdentityMatch, Observation
from tests.conftest import photos, snapshot

REPAIR = "python -m core check --repair"
KEY = "Dlib@dlib5-150-p0.25"
EMBEDDINGS = f"gallery/embeddings/{KEY}.npz"
CALIBRATION = {KEY: {"cosine": {"threshold": 0.05226, "margin": 0.00968, "template": "mean", "computed_at": "2026-01-01"}}}


@pytest.fixture()
def data(monkeypatch, tmp_path, weights_home, enrolled_gallery) -> Path:
    """A data folder holding a copy of the five-person gallery (with a calibration); settings from the environment."""
    folder = tmp_path / "data"
    shutil.copytree(enrolled_gallery[0].folder, folder / "gallery")
    (folder / "gallery" / "calibration.json").write_text(json.dumps(CALIBRATION, indent=2))
    for var in ("FACEDASH_ICE_SERVERS", "FACEDASH_GALLERY_DIR", "FACEDASH_STORE_URI", "FACEDASH_RECOGNITION_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(folder))
    monkeypatch.setenv("FACEDASH_DEEPFACE_HOME", str(weights_home))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def run(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str, *expected: str) -> str:
    """A non-zero exit with exactly one ``error:`` line on stderr (no traceback) that names ``expected``."""
    assert code != 0
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def check(capsys, *options) -> tuple[int, dict[str, dict]]:
    code, out, err = run(capsys, "check", "--json", "-q", *options)
    assert "Traceback" not in err, err
    report = json.loads(out)
    return code, {f["path"]: f for f in report["files"]}


def changed(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    """Files added, removed or rewritten (the audit log's lock file aside)."""
    names = (set(before) | set(after)) - {"audit.log.lock"}
    return {n for n in names if before.get(n) != after.get(n)}


def identifies_madonna(capsys) -> None:
    code, out, err = run(capsys, "identify", "--json", "-q", photos("madonna", "val")[0])
    assert code == 0, err
    assert json.loads(out)[0]["faces"][0]["worker"] == "madonna"


def repair_lines(folder: Path) -> list[dict]:
    lines = [json.loads(line) for line in (folder / "audit.log").read_text().splitlines() if line.strip()]
    return [line for line in lines if line["action"] == "repair"]


def test_a_healthy_data_folder_is_reported_fine_and_check_changes_nothing(data, capsys):
    before = snapshot(data)
    code, files = check(capsys)
    assert code == 0
    assert {"gallery/gallery.json", "gallery/photos", EMBEDDINGS, "gallery/calibration.json"} <= set(files)
    assert all(f["ok"] and f["status"] == "ok" and f["problem"] is None for f in files.values())
    code, out, _ = run(capsys, "check")
    assert code == 0 and "every stored file is fine" in out
    assert changed(before, snapshot(data)) == set()


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("content, problem", [
    ("{bad", "not valid JSON"),
    ('["detector", "mtcnn"]', "not a JSON object"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_corrupt_settings_file_one_error_then_check_repairs_it(data, capsys, content, problem):
    path = data / "settings.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(ConfigError, match="settings.json is corrupt") as info:
        load_settings()
    assert problem in str(info.value) and REPAIR in str(info.value)
    with pytest.raises(ConfigError, match=REPAIR):
        get_settings()
    with pytest.raises(ConfigError, match=REPAIR):
        save_overrides({"retention_days": 30})  # nothing is merged into (or written over) a corrupt file
    assert path.read_bytes() == (content.encode() if isinstance(content, str) else content)

    code, _, err = run(capsys, "workers", "list")
    one_error_line(code, err, "settings.json", problem, REPAIR)

    code, files = check(capsys)  # check runs although the settings file is corrupt
    assert code == 1 and files["settings.json"]["status"] == "repairable" and problem in files["settings.json"]["problem"]

    before = snapshot(data)
    code, files = check(capsys, "--repair")
    assert code == 0 and files["settings.json"]["status"] == "repaired"
    after = snapshot(data)
    kept = [name for name in after if name.startswith("settings.json.corrupt-")]
    assert len(kept) == 1 and after[kept[0]] == before["settings.json"]  # set aside, byte for byte
    assert changed(before, after) == {"settings.json", kept[0], "audit.log"}
    assert load_settings().retention_days == 365  # the defaults apply
    (line,) = repair_lines(data)
    assert line["file"] == "settings.json" and line["outcome"] == "done" and kept[0] in line["done"]
    code, _, err = run(capsys, "workers", "list")
    assert code == 0, err


def test_settings_file_with_a_wrong_type_is_one_clear_error(data, capsys):
    (data / "settings.json").write_text('{"retention_days": "many", "detector": "mtcnn"}')
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "settings.json" in message and "retention_days" in message and REPAIR in message
    assert "FACEDASH_RETENTION_DAYS" not in message  # the file is at fault, not the environment
    code, _, err = run(capsys, "identify", photos("madonna", "val")[0])
    one_error_line(code, err, "settings.json", "retention_days", REPAIR)
    code, files = check(capsys)
    assert code == 1 and "retention_days" in files["settings.json"]["problem"]


def test_bad_environment_variable_is_one_clear_error_naming_it(data, capsys, monkeypatch):
    monkeypatch.setenv("FACEDASH_ICE_SERVERS", "notjson")
    with pytest.raises(ConfigError, match="FACEDASH_ICE_SERVERS: not valid JSON"):
        load_settings()
    for argv in (("workers", "list"), ("check",)):
        code, _, err = run(capsys, *argv)
        one_error_line(code, err, "FACEDASH_ICE_SERVERS")
    monkeypatch.setenv("FACEDASH_ICE_SERVERS", '{"urls": "stun:x"}')  # JSON, but not a list
    with pytest.raises(ConfigError, match="FACEDASH_ICE_SERVERS"):
        load_settings()


def test_environment_and_good_settings_file_still_work(data):
    save_overrides({"retention_days": 30})
    assert load_settings().retention_days == 30
    (data / "settings.json").write_text("")  # an empty file means nothing saved (as before)
    assert load_settings().retention_days == 365


# ------------------------------------------------------------------------------------------------ embeddings
def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as stored:
        return {name: stored[name] for name in stored.files}


def _with(arrays: dict, **changes) -> bytes:
    return _npz(**{**arrays, **changes})


CORRUPTIONS = {
    "truncated": (lambda raw, a: raw[: len(raw) // 2], "not a readable .npz file"),
    "not an npz": (lambda raw, a: b"hello, world", "not a readable .npz file"),
    "pickled objects": (lambda raw, a: _with(a, worker_ids=a["worker_ids"].astype(object)), "not a readable .npz file"),
    "no photo ids": (lambda raw, a: _npz(worker_ids=a["worker_ids"], vectors=a["vectors"]), "no array photos"),
    "a row short": (lambda raw, a: _with(a, vectors=a["vectors"][:-1]), "vectors for"),
    "NaN": (lambda raw, a: _with(a, vectors=np.where(np.arange(a["vectors"].size).reshape(a["vectors"].shape) == 3,
                                                     np.nan, a["vectors"]).astype(np.float32)), "NaN"),
    "wrong dimension": (lambda raw, a: _with(a, vectors=a["vectors"][:, :64]), "64 dimensions, Dlib gives 128"),
    "not 2-D": (lambda raw, a: _with(a, vectors=a["vectors"].ravel()), "not a 2-D float array"),
    "integers": (lambda raw, a: _with(a, vectors=(a["vectors"] * 1000).astype(np.int32)), "not a 2-D float array"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_embeddings_file_is_one_clear_error(data, case):
    path = data / EMBEDDINGS
    damage, problem = CORRUPTIONS[case]
    path.write_bytes(damage(path.read_bytes(), _arrays(path)))
    gallery = Gallery(data / "gallery")
    with pytest.raises(CorruptFileError) as info:
        gallery.worker_distances(np.ones((1, 128), np.float32), KEY, "cosine")
    message = str(info.value)
    assert isinstance(info.value, GalleryError)
    assert message.startswith(f"{EMBEDDINGS} is corrupt (") and problem in message, message
    assert f"run `{REPAIR}` to rebuild it from the kept photos" in message


def test_corrupt_embeddings_cli_error_then_repair_rebuilds_them(data, capsys):
    path = data / EMBEDDINGS
    path.write_bytes(path.read_bytes()[:1000])
    code, _, err = run(capsys, "identify", "-q", photos("madonna", "val")[0])
    one_error_line(code, err, EMBEDDINGS, "is corrupt", REPAIR)
    code, files = check(capsys)
    assert code == 1 and files[EMBEDDINGS]["status"] == "repairable"
    assert "rebuild it from the kept photos" in files[EMBEDDINGS]["repair"]

    before = snapshot(data)
    code, files = check(capsys, "--repair")
    assert code == 0, files
    assert files[EMBEDDINGS]["status"] == "repaired" and "rebuilt from the kept photos" in files[EMBEDDINGS]["repair"]
    assert changed(before, snapshot(data)) == {EMBEDDINGS, "audit.log"}
    stored = _arrays(path)
    index = json.loads((data / "gallery" / "gallery.json").read_text())
    listed = {(w, p["sha256"]) for w, entry in index["workers"].items() for p in entry["photos"]}
    assert set(zip(stored["worker_ids"], stored["photos"])) == listed and stored["vectors"].shape == (len(listed), 128)
    (line,) = repair_lines(data)
    assert line["file"] == EMBEDDINGS and line["outcome"] == "done"
    identifies_madonna(capsys)
    code, files = check(capsys)
    assert code == 0 and files[EMBEDDINGS]["ok"]


def test_embeddings_not_matching_the_index_are_rebuilt(data, capsys):
    """Vectors of a photo gallery.json does not list (a copy from another gallery, a lost erasure) are found by
    check and removed by the rebuild."""
    path = data / EMBEDDINGS
    arrays = _arrays(path)
    path.write_bytes(_with(arrays, worker_ids=np.append(arrays["worker_ids"], "stranger"),
                           photos=np.append(arrays["photos"], "0" * 64),
                           vectors=np.vstack([arrays["vectors"], arrays["vectors"][:1]])))
    code, files = check(capsys)
    assert code == 1 and files[EMBEDDINGS]["status"] == "repairable"
    assert "does not match gallery.json" in files[EMBEDDINGS]["problem"] and "stranger" in files[EMBEDDINGS]["problem"]
    before = snapshot(data)
    code, files = check(capsys, "--repair")
    assert code == 0 and files[EMBEDDINGS]["status"] == "repaired"
    assert changed(before, snapshot(data)) == {EMBEDDINGS, "audit.log"}
    assert "stranger" not in set(_arrays(path)["worker_ids"])
    identifies_madonna(capsys)


# ------------------------------------------------------------------------------------------------ gallery index
INDEX_DAMAGE = {
    "invalid JSON": (lambda text: text[: len(text) // 2], "not valid JSON"),
    "not an object": (lambda text: "[1, 2, 3]", "not a JSON object"),
    "no workers": (lambda text: '{"version": 1}', "no 'workers' mapping"),
    "photo outside the gallery": (lambda text: text.replace('"photos/madonna/', '"../../madonna/', 1), "inside the gallery"),
    "photo without sha256": (lambda text: text.replace('"sha256"', '"sha"', 1), "has no 'sha256'"),
    "bad worker id": (lambda text: text.replace('"madonna": {', '"../madonna": {', 1), "invalid worker id"),
}


@pytest.mark.parametrize("case", list(INDEX_DAMAGE))
def test_corrupt_gallery_index_is_reported_and_never_rebuilt(data, capsys, case):
    path = data / "gallery" / "gallery.json"
    damage, problem = INDEX_DAMAGE[case]
    path.write_text(damage(path.read_text()))
    with pytest.raises(CorruptFileError) as info:
        Gallery(data / "gallery").workers()
    assert str(info.value).startswith("gallery/gallery.json is corrupt (") and problem in str(info.value)
    assert "restore it from a backup" in str(info.value) and REPAIR in str(info.value)
    code, _, err = run(capsys, "workers", "list")
    one_error_line(code, err, "gallery/gallery.json", problem, REPAIR)

    code, files = check(capsys)
    assert code == 1 and files["gallery/gallery.json"]["status"] == "manual"
    assert "restore it from a backup" in files["gallery/gallery.json"]["repair"]
    before = snapshot(data)
    code, files = check(capsys, "--repair")
    assert code != 0 and files["gallery/gallery.json"]["status"] == "manual"
    assert changed(before, snapshot(data)) == set()  # consent records are never rewritten; nothing else either


def test_missing_kept_photo_is_reported(data, capsys):
    victim = sorted((data / "gallery" / "photos" / "elton_john").iterdir())[0]
    victim.unlink()
    code, files = check(capsys)
    assert code == 1 and files["gallery/photos"]["status"] == "manual"
    assert victim.name in files["gallery/photos"]["problem"] and "restore them from a backup" in files["gallery/photos"]["repair"]


# ------------------------------------------------------------------------------------------------ calibration
@pytest.mark.parametrize("text, problem", [
    ('{"Dlib@dlib5-150-p0.25": {"cosine": {"threshold": ', "not valid JSON"),
    (json.dumps({KEY: {"cosine": {"threshold": -1}}}), "the threshold is not a number greater than 0"),
    (json.dumps({KEY: {"cosine": {"threshold": "0.07"}}}), "the threshold is not a number greater than 0"),
    ('{"Dlib@dlib5-150-p0.25": {"cosine": {"threshold": NaN}}}', "the threshold is not a number greater than 0"),
    (json.dumps({KEY: {"cosine": {"threshold": 0.07, "margin": -0.5}}}), "the margin"),
    (json.dumps([0.07]), "not a JSON object"),
])
def test_corrupt_calibration_is_one_clear_error(data, text, problem):
    (data / "gallery" / "calibration.json").write_text(text)
    gallery = Gallery(data / "gallery")
    with pytest.raises(CorruptFileError) as info:
        gallery.threshold(KEY, "cosine")
    message = str(info.value)
    assert message.startswith("gallery/calibration.json is corrupt (") and problem in message and REPAIR in message


def test_corrupt_calibration_cli_error_then_repair_sets_it_aside(data, capsys):
    path = data / "gallery" / "calibration.json"
    path.write_text(json.dumps({KEY: {"cosine": {"threshold": 0}}}))
    code, _, err = run(capsys, "identify", "-q", photos("madonna", "val")[0])
    one_error_line(code, err, "gallery/calibration.json", "threshold", REPAIR)
    code, files = check(capsys)
    assert code == 1 and files["gallery/calibration.json"]["status"] == "repairable"

    before = snapshot(data)
    code, files = check(capsys, "--repair")
    assert code == 0 and files["gallery/calibration.json"]["status"] == "repaired"
    after = snapshot(data)
    kept = [n for n in after if n.startswith("gallery/calibration.json.corrupt-")]
    assert len(kept) == 1 and after[kept[0]] == before["gallery/calibration.json"]
    assert changed(before, after) == {"gallery/calibration.json", kept[0], "audit.log"}
    (line,) = repair_lines(data)
    assert line["file"] == "gallery/calibration.json"
    identifies_madonna(capsys)  # the project's calibrated default applies again


# ------------------------------------------------------------------------------------------------ audit log
def test_unreadable_audit_lines_are_counted_and_the_log_never_rewritten(data, capsys):
    log = data / "audit.log"
    good = json.dumps({"time": "2026-01-01T00:00:00+00:00", "action": "enroll", "actor": "hr"})
    log.write_bytes(f"{good}\nnot json at all\n{good}\n".encode() + b"\xff\xfe{\n" + b'"a string"\n')
    raw = log.read_bytes()
    code, files = check(capsys)
    assert code == 0  # a warning: the data is usable, nothing can be repaired
    entry = files["audit.log"]
    assert entry["status"] == "warning" and "3 of 5 lines are unreadable (line 2, 4, 5)" in entry["problem"]
    assert "never rewritten" in entry["repair"]
    code, files = check(capsys, "--repair")
    assert code == 0 and files["audit.log"]["status"] == "warning"
    assert log.read_bytes() == raw


@pytest.mark.parametrize("name,kind", [("accounts.json", "accounts"), ("api_keys.json", "API keys")])
def test_corrupt_accounts_or_keys_file_is_reported_and_never_rewritten(data, capsys, name, kind):
    from tests.accounts import make_account, make_key

    make_account(data, "ada", "admin")
    make_key(data)
    code, files = check(capsys)
    assert code == 0 and files[f"auth/{name}"]["status"] == "ok" and files[f"auth/{name}"]["kind"] == kind
    target = data / "auth" / name
    target.write_text('{"version": 1, "accounts": [')
    raw = target.read_bytes()
    code, files = check(capsys, "--repair")
    entry = files[f"auth/{name}"]
    assert code != 0 and entry["status"] == "manual" and f"{name} is corrupt" in entry["problem"]
    assert "restore it from a backup" in entry["repair"]
    assert target.read_bytes() == raw  # never guessed or rewritten


# ------------------------------------------------------------------------------------------------ timeline
def _obs(t: dt.datetime, worker: str) -> Observation:
    return Observation(t, "live", DetectedFace(Box(0, 0, 50, 50), 0.99, np.zeros((8, 8, 3), np.uint8)),
                       IdentityMatch(worker, 0.2, 0.4, KEY, "cosine"),
                       EmotionResult.from_probabilities([1, 1, 1, 5, 1, 1, 2], "fer"))


def test_corrupt_timeline_files_are_reported_with_what_to_do(data, capsys):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with TimelineStore.from_settings(load_settings()) as store:
        store.append([_obs(now - dt.timedelta(minutes=m), "madonna") for m in range(3)])
        day = store.file_paths()[0].split("date=")[1].split("/")[0]
    garbage = data / "timeline" / f"date={day}" / "a-garbage.parquet"
    garbage.write_bytes(b"PAR1 this is not a parquet file")
    code, files = check(capsys)
    name = f"timeline/date={day}/a-garbage.parquet"
    assert code == 0 and files[name]["status"] == "warning"
    assert "every read skips it" in files[name]["problem"] and "timeline compact" in files[name]["repair"]

    code, _, err = run(capsys, "timeline", "compact")
    assert code == 0, err
    code, files = check(capsys, "--repair")
    quarantined = f"timeline/_quarantine/date={day}/a-garbage.parquet"
    assert quarantined in files and "moved aside by the store" in files[quarantined]["problem"]
    assert "inspect it, then delete it" in files[quarantined]["repair"] and (data / quarantined).exists()
