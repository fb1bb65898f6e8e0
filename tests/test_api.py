"""The HTTP API, served for real by uvicorn in a separate process, called over loopback with requests."""

import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, api_server, photos, snapshot

KEY = "test-key-not-a-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory, enrolled_gallery, weights_home):
    data = tmp_path_factory.mktemp("api_data")
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    # every test photo and clip is under the 1 MB limit; the limit tests send more
    with api_server(data, data / "server.log", weights_home, FACEDASH_API_KEY=KEY, FACEDASH_EMOTION_ENABLED="true",
                    FACEDASH_EMOTION_PURPOSE="safety", FACEDASH_MAX_UPLOAD_MB="1",
                    FACEDASH_API_RATE_LIMIT_PER_MINUTE="100000") as base:
        yield base, data


def post(base, path, file, key=KEY, field="image", **params):
    with open(file, "rb") as handle:
        return requests.post(f"{base}{path}", files={field: (file.name, handle)}, params=params,
                             headers={"X-API-Key": key} if key else {}, timeout=300)


def test_identify_over_http(api):
    base, _ = api
    response = post(base, "/v1/identify", photos("mindy_kaling", "val")[0])
    assert response.status_code == 200, response.text
    face = response.json()["faces"][0]
    assert face["worker"] == "mindy_kaling" and len(face["box"]) == 4 and face["distance"] <= face["threshold"]


def test_identify_on_an_empty_gallery_answers_unknown_not_500(api):
    """A fresh install (or after the last erasure): no vectors, every face unknown with no distance - was a 500,
    because the infinite distance could not be encoded as JSON."""
    base, data = api
    folder = data / "gallery" / "embeddings"
    aside = data / "embeddings-aside"
    folder.rename(aside)
    try:
        response = post(base, "/v1/identify", photos("mindy_kaling", "val")[0])
    finally:
        aside.rename(folder)
    assert response.status_code == 200, response.text
    face = response.json()["faces"][0]
    assert face["worker"] is None and face["distance"] is None and face["ambiguous"] is False
    assert post(base, "/v1/identify", photos("mindy_kaling", "val")[0]).json()["faces"][0]["worker"] == "mindy_kaling"


def test_analyze_stores_known_faces(api):
    base, data = api
    response = post(base, "/v1/analyze", photos("elton_john", "val")[0], store="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["emotion_enabled"] is True and body["stored"] == 1
    assert body["faces"][0]["emotion"]["label"] in body["faces"][0]["emotion"]["scores"]
    from core.timeline import TimelineStore

    rows = TimelineStore(str(data / "timeline")).read(worker="elton_john")
    assert len(rows) == 1 and rows["source"].iloc[0] == "api"


def test_api_key_required(api):
    base, _ = api
    assert post(base, "/v1/identify", photos("madonna", "val")[0], key=None).status_code == 401
    assert post(base, "/v1/identify", photos("madonna", "val")[0], key="wrong").status_code == 401
    assert requests.get(f"{base}/health", timeout=10).ok  # health stays open for load balancers


def test_bad_upload_is_a_clear_4xx(api, tmp_path):
    base, data = api
    before = snapshot(data / "gallery")
    (tmp_path / "notes.jpg").write_text("not an image " * 50)
    response = post(base, "/v1/analyze", tmp_path / "notes.jpg")
    assert response.status_code == 422
    assert response.json() == {"error": "notes.jpg: not an image (unrecognised format); use JPEG, PNG, BMP, WebP or TIFF",
                               "kind": "ImageError"}
    assert snapshot(data / "gallery") == before


def test_info_and_workers(api):
    base, _ = api
    info = requests.get(f"{base}/v1/info", headers={"X-API-Key": KEY}, timeout=60).json()
    assert info["recognition_model"] == "Dlib" and "Facenet512" in info["recognition_reason"]
    workers = requests.get(f"{base}/v1/workers", headers={"X-API-Key": KEY}, timeout=60).json()
    assert {w["worker_id"] for w in workers} == {"ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling"}


def test_analyze_video_over_http(api, shared_data):
    """A stranger's clip: every 5th frame analysed with emotion; the vote keeps him unknown, so nothing is stored."""
    base, data = api
    response = post(base, "/v1/analyze-video", shared_data / "video" / "id2_vcd_swwp2s.mp4", field="video",
                    every_n=5, store="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["frames"] == 75 and body["analysed_frames"] == 15 and body["fps"] == 25.0
    assert len(body["rows"]) >= 15 and {r["frame"] % 5 for r in body["rows"]} == {0}
    assert all(r["worker"] is None for r in body["rows"]) and body["stored"] == 0
    assert all(r["emotion"]["label"] in r["emotion"]["scores"] for r in body["rows"])


def test_bad_video_uploads_are_clear_4xx(api, tmp_path):
    import tempfile
    from pathlib import Path

    base, data = api
    before = snapshot(data / "gallery")
    temporary = set(Path(tempfile.gettempdir()).glob("facedash-api-*"))
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 4096)
    response = post(base, "/v1/analyze-video", tmp_path / "clip.mp4", field="video")
    assert response.status_code == 422 and response.json()["kind"] == "ImageError"
    assert "clip.mp4" in response.json()["error"] and "facedash-api-" not in response.json()["error"]
    (tmp_path / "big.mp4").write_bytes(b"\x00" * 1_500_000)
    response = post(base, "/v1/analyze-video", tmp_path / "big.mp4", field="video")
    assert response.status_code == 413 and response.json()["kind"] == "UploadTooLargeError"
    assert response.json()["error"] == "the request is over the 1 MB upload limit; nothing was read"
    assert post(base, "/v1/analyze-video", tmp_path / "clip.mp4", field="video", every_n=0).status_code == 422
    assert snapshot(data / "gallery") == before
    assert set(Path(tempfile.gettempdir()).glob("facedash-api-*")) == temporary  # uploads' temporary copies removed


def test_health_answers_while_a_video_is_analysed(api, shared_data):
    """Inference runs in the server's thread pool: a long request does not block the event loop."""
    import threading

    base, _ = api
    done = {}
    worker = threading.Thread(target=lambda: done.update(response=post(
        base, "/v1/analyze-video", shared_data / "video" / "bbaf2n.mp4", field="video", every_n=1)))
    worker.start()
    time.sleep(1.0)  # the upload is in and analysis under way (75 frames take several seconds)
    health = requests.get(f"{base}/health", timeout=30)
    still_running = worker.is_alive()
    worker.join(300)
    assert health.ok and done["response"].status_code == 200
    assert still_running, "the video finished before /health was asked: the test lost its point"


# ------------------------------------------------------------------------------------------------ hostile input
def _temporary_uploads() -> set:
    return set(Path(tempfile.gettempdir()).glob("facedash-api-*"))


def test_a_body_over_the_limit_is_refused_before_it_is_read(api):
    """Was: uploads were spooled to disk in full before the size check (a 2 GB body: 17 s and 2 GB of disk)."""
    base, data = api
    before = snapshot(data / "gallery"), _temporary_uploads()
    started = time.perf_counter()
    response = requests.post(f"{base}/v1/analyze", headers={"X-API-Key": KEY},
                             files={"image": ("big.jpg", b"\xff" * 30_000_000)}, timeout=120)
    assert response.status_code == 413 and response.json()["kind"] == "UploadTooLargeError", response.text
    assert "over the 1 MB upload limit" in response.json()["error"]
    assert time.perf_counter() - started < 30
    assert (snapshot(data / "gallery"), _temporary_uploads()) == before


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(api):
    base, data = api
    sent = []

    def body():
        yield (b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n'
               b"Content-Type: image/jpeg\r\n\r\n")
        for _ in range(200):  # 200 x 100 kB = 20 MB offered, no Content-Length
            sent.append(1)
            yield b"\x00" * 100_000

    try:
        response = requests.post(f"{base}/v1/analyze", headers={"X-API-Key": KEY, "Content-Type":
                                 "multipart/form-data; boundary=xyz"}, data=body(), timeout=120)
    except requests.ConnectionError:  # the server may close before the client stops sending: also a refusal
        assert len(sent) < 100
        return
    assert response.status_code == 413 and response.json()["kind"] == "UploadTooLargeError", response.text
    assert len(sent) < 100  # the server stopped reading long before the end


def test_keys_only_in_the_header(api):
    """Was: an API key sent as a query parameter landed in the access log."""
    base, data = api
    secret = "query-key-should-not-be-logged"
    response = requests.get(f"{base}/v1/workers", params={"api_key": secret}, timeout=30)
    assert response.status_code == 400 and response.json()["kind"] == "CredentialInURL"
    requests.get(f"{base}/v1/workers", params={"filter": secret}, headers={"X-API-Key": KEY}, timeout=30)
    time.sleep(0.5)
    assert secret not in (data / "server.log").read_text(errors="replace")


@pytest.mark.parametrize("key", ["clé-non-ascii", "clé".encode(), b"\xff\xfe", "a" * 5000])
def test_odd_keys_are_refused_not_crashed(api, key):
    """Was: a non-ASCII key from a client gave a 500 (hmac.compare_digest raises on non-ASCII str)."""
    base, _ = api
    response = requests.get(f"{base}/v1/workers", headers={"X-API-Key": key}, timeout=30)
    assert response.status_code in (401, 431), response.text
    if response.status_code == 401:
        assert response.json() == {"error": "wrong API key", "kind": "Unauthorized"}


def test_every_4xx_has_the_error_schema(api):
    """Was: FastAPI's own validation errors came back as {"detail": ...}."""
    base, _ = api
    answers = [
        requests.post(f"{base}/v1/analyze-video", params={"every_n": 0}, headers={"X-API-Key": KEY}, timeout=30),
        requests.post(f"{base}/v1/identify", headers={"X-API-Key": KEY}, timeout=30),  # no file
        requests.get(f"{base}/v1/nothing-here", headers={"X-API-Key": KEY}, timeout=30),
        requests.delete(f"{base}/v1/workers", headers={"X-API-Key": KEY}, timeout=30),
        requests.get(f"{base}/v1/workers", timeout=30),
    ]
    assert [a.status_code for a in answers] == [422, 422, 404, 405, 401]
    for answer in answers:
        body = answer.json()
        assert set(body) == {"error", "kind"} and body["error"] and body["kind"], body
        assert "/tmp/" not in body["error"] and str(REPO) not in body["error"]


def test_the_guard_times_out_a_slow_client():
    """A client that stops sending its body holds no worker for ever (ASGI level: the real middleware)."""
    import asyncio

    from core.http_guard import RequestGuard

    async def app(scope, receive, send):
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def slow_receive():
        await asyncio.sleep(5)
        return {"type": "http.request", "body": b"x", "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "query_string": b"", "headers": [(b"content-length", b"1")]}
    started = time.perf_counter()
    asyncio.run(RequestGuard(app, max_body_bytes=10, receive_timeout_s=0.2)(scope, slow_receive, send))
    assert time.perf_counter() - started < 3
    assert sent[0]["status"] == 408 and b"did not arrive within" in sent[1]["body"]


def test_the_key_is_checked_before_the_body_is_read(api):
    """Found by the fuzzer: a malformed body without a key answered 400 (body parsing ran before the key check)."""
    base, _ = api
    for headers in ({}, {"X-API-Key": KEY + "x"}):
        response = requests.post(f"{base}/v1/identify", data=b"not multipart", timeout=30,
                                 headers={**headers, "Content-Type": "multipart/form-data; boundary=x"})
        assert response.status_code == 401 and response.json()["kind"] == "Unauthorized", response.text


def test_client_file_names_are_cleaned_before_they_are_echoed(api, tmp_path):
    """Found by the fuzzer: a name with a NUL byte came back verbatim in the error message."""
    base, _ = api
    response = requests.post(f"{base}/v1/identify", headers={"X-API-Key": KEY}, timeout=30,
                             files={"image": ("../a\x00b\u202e.jpg", b"not an image")})
    assert response.status_code == 422
    assert response.json()["error"].startswith("a?b?.jpg: not an image"), response.json()
