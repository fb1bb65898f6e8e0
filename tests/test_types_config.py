import dataclasses
import datetime as dt

import numpy as np
import pytest

from core.config import ENV_PREFIX, load_settings, save_overrides
from core.errors import ConfigError
from core.types import EMOTIONS, Box, DetectedFace, EmotionResult, IdentityMatch, Observation


def test_emotion_result_orders_labels_and_valence():
    result = EmotionResult.from_probabilities([1, 0, 0, 6, 1, 1, 1], "test")
    assert result.label == "happy" and result.valence == "positive"
    assert abs(sum(result.scores) - 1) < 1e-9
    assert list(result.as_dict()) == list(EMOTIONS)
    assert EmotionResult.from_probabilities([0, 0, 0, 0, 5, 0, 1], "t").valence == "negative"
    assert EmotionResult.from_probabilities([0, 0, 0, 0, 0, 0, 1], "t").valence == "neutral"
    with pytest.raises(ValueError):
        EmotionResult((0.5, 0.5), "bad")
    with pytest.raises(ValueError):
        EmotionResult.from_probabilities([0] * 7, "bad")


def test_values_are_frozen_and_crops_read_only():
    face = DetectedFace(Box(1, 2, 3, 4), 0.9, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        face.confidence = 0.1
    with pytest.raises(ValueError):
        face.crop[0, 0, 0] = 1
    identity = IdentityMatch(None, 0.5, 0.07, "Dlib", "cosine", "ann")
    assert not identity.is_known
    with pytest.raises(ValueError):
        Observation(dt.datetime(2026, 1, 1), "cli", face, identity)  # naive time refused
    obs = Observation(dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))), "cli", face, identity)
    assert obs.time.utcoffset() == dt.timedelta(0) and obs.time.hour == 22
    record = obs.to_record()
    assert record["worker"] is None and record["emotion"] is None and record["box"] == [1, 2, 3, 4]


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(f"{ENV_PREFIX}DETECTOR", "MTCNN")
    monkeypatch.setenv(f"{ENV_PREFIX}DATA_DIR", str(tmp_path))
    monkeypatch.setenv(f"{ENV_PREFIX}ICE_SERVERS", '[{"urls": ["stun:example.org:3478"]}]')
    settings = load_settings()
    assert settings.detector == "mtcnn"
    assert settings.gallery_path == tmp_path / "gallery"
    assert settings.ice_servers[0]["urls"] == ["stun:example.org:3478"]
    assert settings.emotion_active is False  # off by default


def test_bad_configuration_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(f"{ENV_PREFIX}MIN_FACE_SIZE", "tiny")
    with pytest.raises(ConfigError, match="FACEDASH_MIN_FACE_SIZE"):
        load_settings()


def test_emotion_needs_an_allowed_purpose():
    with pytest.raises(ConfigError, match="medical' or 'safety"):
        load_settings(emotion_enabled=True)
    with pytest.raises(ConfigError, match="EMOTION_PURPOSE"):
        load_settings(emotion_enabled=True, emotion_purpose="productivity")
    assert load_settings(emotion_enabled=True, emotion_purpose="safety").emotion_active


def test_saved_overrides_apply_below_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(f"{ENV_PREFIX}DATA_DIR", str(tmp_path))
    save_overrides({"retention_days": 30, "detector": "mtcnn"})
    assert load_settings().retention_days == 30
    monkeypatch.setenv(f"{ENV_PREFIX}DETECTOR", "dlib")
    assert load_settings().detector == "dlib"  # the environment wins over the saved file
    with pytest.raises(ConfigError):
        save_overrides({"retention_days": -5})
    assert load_settings().retention_days == 30  # a refused change wrote nothing


def test_configuration_doc_lists_every_setting():
    """docs/configuration.md is generated from Settings; regenerate with scripts/gen_config_doc.py."""
    import importlib.util
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("gen_config_doc", repo / "scripts" / "gen_config_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (repo / "docs" / "configuration.md").read_text() == module.render()
