"""Role x action: every use-case through the services, signed in as each role (every cell asserted).

The expected matrix is written out here, from the issue and docs/security.md, not derived from core/auth/roles.py:
a change to the policy table that does not match the documented roles fails this test. A refused call raises
PermissionDeniedError, writes an ``access_denied`` audit line and changes nothing else in the data folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.auth.roles import ROLES
from core.services import analysis, audit_log, configuration, health, keys, timeline, users, workers
from core.services.access import PermissionDeniedError
from core.services.actor import Actor
from core.services.configuration import PrivacyChoice
from tests.accounts import PASSWORD
from tests.conftest import photos, snapshot


@dataclass
class Site:
    data: Path
    settings: object
    engine: object
    key_id: str = ""


@pytest.fixture(scope="module")
def sites(tmp_path_factory, enrolled_gallery, weights_home):
    """One data folder per role (the five people enrolled), each with its own engine."""
    from core.config import load_settings
    from core.engine import FaceEngine

    out = {}
    for role in ROLES:
        data = tmp_path_factory.mktemp(f"site-{role}")
        shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
        settings = load_settings(data_dir=data, deepface_home=weights_home, emotion_enabled=True,
                                 emotion_purpose="safety", emotion_purpose_text="fatigue")
        out[role] = Site(data, settings, FaceEngine(settings))
    return out


def _image(site):
    from core.images import load_image

    return load_image(photos("madonna", "val")[0])


def _crop(site):
    import cv2

    return cv2.resize(_image(site), (64, 64))


def _enroll(site, actor):
    pictures = [(p.name, p.read_bytes()) for p in photos("elton_john", "val")[:2]]
    return workers.enroll(site.engine, actor, "w-new", pictures, "access logging", "W New")


def _video(site, actor):
    clip = site.settings.eval_data_dir / "video" / "id2_vcd_swwp2s.mp4"
    return analysis.analyze_video_file(site.engine, actor, clip.name, clip, "api", every_n=30)


def _make_key(site, actor):
    return keys.create_key(site.settings, actor, "door", ["identify"])


def _a_key_to_revoke(site) -> None:
    from core.auth.api_keys import ApiKeyStore

    site.key_id = ApiKeyStore.from_settings(site.settings).create("to-revoke", ["identify"], "pytest")[0].key_id


def _revoke_key(site, actor):
    return keys.revoke_key(site.settings, actor, site.key_id)


def _calibration(site, actor):
    return configuration.save_calibration(site.engine, actor, {"model": site.engine.embedder.key, "metric": "cosine",
                                                               "threshold": 0.06})


#: action -> (the lowest role allowed, the call). Roles: viewer < manager < hr < admin.
ACTIONS = {
    "identify a photo": ("manager", lambda s, a: analysis.identify_image(s.engine, a, "p.jpg", _image(s), "api")),
    "analyse a photo": ("manager", lambda s, a: analysis.analyze_image(s.engine, a, "p.jpg", _image(s), "upload")),
    "analyse a video": ("manager", _video),
    "emotion of crops": ("manager", lambda s, a: analysis.emotions_of_crops(s.settings, a, s.engine.emotion_model,
                                                                           [_crop(s)])),
    "store observations": ("manager", lambda s, a: analysis.store_analysis(s.settings, timeline.open_store(s.settings),
                                                                          a, "p.jpg", [], "upload")),
    "list workers": ("manager", lambda s, a: workers.list_workers(s.settings, a)),
    "workers' names": ("manager", lambda s, a: workers.display_names(s.settings, a)),
    "enroll": ("hr", _enroll),
    "rename": ("hr", lambda s, a: workers.rename(s.settings, a, "madonna", "M.")),
    "erase": ("hr", lambda s, a: workers.erase(s.settings, a, "mindy_kaling")),
    "export a worker": ("hr", lambda s, a: timeline.export_rows(s.settings, a, ["madonna"])),
    "privacy settings": ("admin", lambda s, a: configuration.save_privacy(
        s.settings, a, PrivacyChoice(90, True, "safety", "fatigue of drivers"))),
    "recognition threshold": ("admin", lambda s, a: configuration.save_recognition(s.settings, a, 0.05)),
    "save a calibration": ("admin", _calibration),
    "run retention": ("admin", lambda s, a: timeline.apply_retention(s.settings, a)),
    "compact the store": ("admin", lambda s, a: timeline.compact(s.settings, a)),
    "load demo history": ("admin", lambda s, a: timeline.load_demo(s.settings, a)),
    "repair stored files": ("admin", lambda s, a: health.repair(s.settings, a)),
    "list users": ("admin", lambda s, a: users.list_users(s.settings, a)),
    "add a user": ("admin", lambda s, a: users.add_user(s.settings, a, "newbie", "viewer", PASSWORD)),
    "create an API key": ("admin", _make_key),
    "revoke an API key": ("admin", _revoke_key),
    "list API keys": ("admin", lambda s, a: keys.list_keys(s.settings, a)),
    "read the audit log": ("admin", lambda s, a: audit_log.read_audit(s.settings, a)),
    "export the audit log": ("admin", lambda s, a: audit_log.export_audit(s.settings, a)),
}


#: What an action needs in place before it is tried (made before the "nothing changed" snapshot).
PREPARE = {"revoke an API key": _a_key_to_revoke}


def _without_audit(folder: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(folder).items() if not k.startswith("audit.log") and "setup.json" not in k}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
def test_role_action_matrix(sites, role, action, monkeypatch):
    site = sites[role]
    monkeypatch.setenv("FACEDASH_DATA_DIR", str(site.data))  # where save_overrides writes settings.json
    lowest, call = ACTIONS[action]
    actor = Actor.signed_in(f"{role}-user", role)
    allowed = ROLES.index(role) >= ROLES.index(lowest)
    if action in PREPARE:
        PREPARE[action](site)
    before = _without_audit(site.data)
    lines_before = len(site.settings.audit_log_path.read_text().splitlines()) if site.settings.audit_log_path.exists() else 0
    if allowed:
        call(site, actor)  # no PermissionDeniedError (nor any other error)
        return
    with pytest.raises(PermissionDeniedError, match=f"needs the {lowest} role or higher"):
        call(site, actor)
    assert _without_audit(site.data) == before, f"{role} changed data by trying to {action}"
    new = [json.loads(x) for x in site.settings.audit_log_path.read_text().splitlines()[lines_before:]]
    assert [(r["action"], r["actor"], r["outcome"]) for r in new] == [("access_denied", actor.name, "failed")]


def test_api_key_actors_hold_only_their_scopes(sites):
    site = sites["admin"]
    identify_only = Actor.api_key("door", ["identify"])
    analysis.identify_image(site.engine, identify_only, "p.jpg", _image(site), "api")
    for call in (lambda: analysis.analyze_image(site.engine, identify_only, "p.jpg", _image(site), "api"),
                 lambda: workers.list_workers(site.settings, identify_only),
                 lambda: users.list_users(site.settings, identify_only)):
        with pytest.raises(PermissionDeniedError, match="this API key may not"):
            call()


def test_consent_records_only_for_roles_that_may_read_them(sites):
    site = sites["hr"]
    assert all(w.consent for w in workers.list_workers(site.settings, Actor.signed_in("h", "hr")))
    assert not any(w.consent for w in workers.list_workers(site.settings, Actor.signed_in("m", "manager")))


def test_the_live_camera_records_only_for_those_who_may_store():
    from core.auth.roles import Permission
    from core.services.observations import recording_sink

    store = object()
    assert recording_sink(Actor.signed_in("m", "manager"), store) is store
    watch_only = Actor("guard", "dashboard", frozenset({Permission.LIVE}), "custom")
    assert recording_sink(watch_only, store) is None
