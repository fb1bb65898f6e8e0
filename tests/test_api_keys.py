"""API keys against the real server process: no key, wrong, revoked, expired, missing scope, right scope, rate limit;
keys never in the server's log; the OpenAPI page documents the scheme; FACEDASH_API_KEY is migrated."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time

import pytest
import requests

from core.auth.api_keys import ApiKeyStore
from tests.accounts import make_key
from tests.conftest import api_server, photos, snapshot

ALL = ("identify", "analyze", "store", "workers:read", "workers:write")


@pytest.fixture(scope="module")
def server(tmp_path_factory, enrolled_gallery, weights_home):
    data = tmp_path_factory.mktemp("keys_data")
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    keys = {
        "all": make_key(data, "all-scopes", ALL),
        "identify": make_key(data, "door-camera", ("identify",)),
        "analyze": make_key(data, "reporting", ("analyze",)),
        "revoked": make_key(data, "old-laptop", ALL),
        "expired": make_key(data, "contractor", ALL, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)),
        "slow": make_key(data, "rate-limited", ("workers:read",)),
    }
    store = ApiKeyStore(data / "auth")
    store.revoke(next(k.key_id for k in store.keys() if k.name == "old-laptop"), "pytest")
    log = data.parent / "keys-server.log"
    with api_server(data, log, weights_home, FACEDASH_EMOTION_ENABLED="true", FACEDASH_EMOTION_PURPOSE="safety",
                    FACEDASH_API_RATE_LIMIT_PER_MINUTE="30") as base:
        time.sleep(2.5)  # the contractor's key has expired by now
        yield base, data, log, keys


def call(base, method, path, key=None, **kwargs):
    headers = {"X-API-Key": key} if key is not None else {}
    return requests.request(method, f"{base}{path}", headers=headers, timeout=300, **kwargs)


def identify(base, key):
    with open(photos("madonna", "val")[0], "rb") as handle:
        return call(base, "POST", "/v1/identify", key, files={"image": ("m.jpg", handle)})


def analyze(base, key, store=False):
    with open(photos("madonna", "val")[0], "rb") as handle:
        return call(base, "POST", "/v1/analyze", key, files={"image": ("m.jpg", handle)},
                    params={"store": "true"} if store else {})


def test_keys_are_checked_first(server):
    base, data, _, keys = server
    cases = {"none": None, "wrong": "fdk_000000000000_nope", "revoked": keys["revoked"], "expired": keys["expired"]}
    answers = {name: identify(base, key) for name, key in cases.items()}
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(cases, 401)
    assert answers["none"].json()["error"] == "missing X-API-Key header"
    assert answers["wrong"].json()["error"] == "wrong API key"
    assert "old-laptop" in answers["revoked"].json()["error"] and "revoked" in answers["revoked"].json()["error"]
    assert "expired" in answers["expired"].json()["error"]
    assert identify(base, keys["identify"]).status_code == 200
    assert identify(base, keys["all"]).status_code == 200


def test_scopes(server):
    base, data, _, keys = server
    before = snapshot(data / "timeline") if (data / "timeline").exists() else {}
    refused = analyze(base, keys["identify"])
    assert refused.status_code == 403 and refused.json()["kind"] == "PermissionDeniedError"
    assert "analyze" in refused.json()["error"]
    assert analyze(base, keys["analyze"]).status_code == 200
    no_store = analyze(base, keys["analyze"], store=True)  # analyze without the store scope
    assert no_store.status_code == 403 and "store" in no_store.json()["error"]
    assert (snapshot(data / "timeline") if (data / "timeline").exists() else {}) == before  # nothing stored
    stored = analyze(base, keys["all"], store=True)
    assert stored.status_code == 200 and stored.json()["stored"] == 1
    assert call(base, "GET", "/v1/workers", keys["identify"]).status_code == 403
    assert len(call(base, "GET", "/v1/workers", keys["all"]).json()) == 5
    assert call(base, "GET", "/v1/info", keys["identify"]).status_code == 200  # any valid key
    assert call(base, "DELETE", "/v1/workers/madonna", keys["analyze"]).status_code == 403
    lines = [json.loads(x) for x in (data / "audit.log").read_text().splitlines()]
    denied = [(r["actor"], r["via"], r["permission"]) for r in lines if r["action"] == "access_denied"]
    assert ("door-camera", "api", "faces.analyze") in denied and ("reporting", "api", "observations.store") in denied
    assert [(r["actor"], r["via"]) for r in lines if r["action"] == "observations_stored"] == [("all-scopes", "api")]


def test_enroll_and_erase_over_http_are_audited_with_the_key(server):
    base, data, _, keys = server
    files = [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in photos("elton_john", "val")[:3]]
    form = {"worker_id": "w-elton", "consent": "access logging at the gate", "consent_given_by": "Elton J"}
    assert call(base, "POST", "/v1/workers", keys["identify"], files=files, data=form).status_code == 403
    enrolled = call(base, "POST", "/v1/workers", keys["all"], files=files, data=form)
    assert enrolled.status_code == 200 and enrolled.json()["accepted"] >= 1, enrolled.text
    erased = call(base, "DELETE", "/v1/workers/w-elton", keys["all"])
    assert erased.status_code == 200 and erased.json()["gallery_removed"] is True
    assert call(base, "DELETE", "/v1/workers/w-elton", keys["all"]).status_code == 404
    lines = [json.loads(x) for x in (data / "audit.log").read_text().splitlines()]
    done = {r["action"]: (r["actor"], r["via"]) for r in lines if r["subject"] == "w-elton" and r["outcome"] == "done"}
    assert done == {"enroll": ("all-scopes", "api"), "erase_worker": ("all-scopes", "api")}


def test_revoking_a_key_takes_effect_at_once(server):
    base, data, _, _ = server
    key = make_key(data, "temporary", ("identify",))
    assert identify(base, key).status_code == 200
    store = ApiKeyStore(data / "auth")
    store.revoke(next(k.key_id for k in store.keys() if k.name == "temporary"), "pytest")
    assert identify(base, key).status_code == 401


def test_rate_limit_per_key(server):
    base, _, _, keys = server
    codes = [call(base, "GET", "/v1/workers", keys["slow"]).status_code for _ in range(31)]
    assert codes.count(200) == 30 and codes[-1] == 429  # the burst of 30, then refused
    limited = call(base, "GET", "/v1/workers", keys["slow"])
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["kind"] == "RateLimited"
    assert identify(base, keys["identify"]).status_code == 200  # another key has its own budget


def test_keys_never_reach_the_log(server):
    base, data, log, keys = server
    text = log.read_text(errors="replace") + (data / "audit.log").read_text()
    assert all(key not in text for key in keys.values())
    stored = (data / "auth" / "api_keys.json").read_text()
    assert all(key not in stored for key in keys.values())


def test_openapi_documents_the_key_scheme(server):
    base, *_ = server
    schema = requests.get(f"{base}/openapi.json", timeout=30).json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "An API key (`python -m core keys create`); its scopes decide what it may call."}
    identify_op = schema["paths"]["/v1/identify"]["post"]
    assert identify_op["security"] == [{"ApiKey": []}] and "Scope `identify`" in identify_op["description"]
    assert {"401", "403", "429"} <= set(identify_op["responses"])


def test_the_old_single_key_is_migrated(tmp_path, enrolled_gallery, weights_home):
    data = tmp_path / "data"
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    with api_server(data, tmp_path / "server.log", weights_home, FACEDASH_API_KEY="an-old-shared-key") as base:
        assert call(base, "GET", "/v1/workers", "an-old-shared-key").status_code == 200
        assert call(base, "GET", "/v1/workers", "another").status_code == 401
    stored = json.loads((data / "auth" / "api_keys.json").read_text())["keys"]
    assert list(stored) == ["legacy-env"] and "an-old-shared-key" not in json.dumps(stored)
    migrated = [json.loads(x) for x in (data / "audit.log").read_text().splitlines()
                if '"migrated_from"' in x]
    assert len(migrated) == 1 and migrated[0]["actor"] == "migration"
