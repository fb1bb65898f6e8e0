"""Property-based fuzzing of the HTTP API (issue "Hostile input"), against the real uvicorn process.

schemathesis generates requests from the app's own OpenAPI schema (positive and negative data, its coverage cases),
and this file makes them hostile where the schema cannot: the ``X-API-Key`` header is the right key in most cases,
otherwise absent, wrong, empty, a prefix of the key, non-ASCII UTF-8 or raw Latin-1 bytes; the multipart file
fields are random bytes, empty, truncated or real JPEGs, decompression-bomb and huge-dimension PNG headers, odd
image modes, text named ``.jpg``, broken videos, over-limit files, under hostile file names (raw NUL, CR/LF, quotes,
``../``, 300 characters, non-UTF-8 bytes). Every answer must be:

* never a 5xx (``not_a_server_error``), and conform to the schema (status code, content type, body);
* for every 4xx: a JSON object with exactly ``error`` (a non-empty str, no traceback, one printable line: no line
  breaks or control characters, whatever the request echoed) and ``kind`` (str);
* 401 for every ``/v1`` request without the right key, whatever the bytes of the header (or a refusal by the
  request guard from the request line alone: a key in the URL, a Content-Length over the limit), never anything
  that shows the body was read;
* and, after the run, the data folder (gallery, timeline store, audit log) byte-for-byte unchanged: every request
  here is either refused or a read (``store=true`` is kept only with uploads that cannot decode, which must be
  refused; any other upload's ``store`` is set to false, so a legitimate store never muddies the comparison).

Bounded for CI: ``FUZZ_EXAMPLES`` (default 40) fuzzing examples per operation plus schemathesis' coverage cases,
about a minute and a half on a 2-core machine. The long run (see docs/fuzzing.md)::

    FUZZ_SEED=random FUZZ_EXAMPLES=2000 TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python -m pytest -q tests/test_fuzz_api.py \
        -p no:cacheprovider

The CI run is repeatable (a fixed seed: a commit that passed here passes there, new findings come from the long
runs); ``FUZZ_SEED=random`` explores new inputs, ``FUZZ_SEED=<int>`` replays a run (its summary prints the seed).
"""

import functools
import io
import json
import os
import random
import re
import shutil
import socket
import string
import struct
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import SHARED_DATA, api_server, photos, snapshot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
CI_SEED = 20261202  # the bounded CI run's seed (repeatable)
_SEED_SETTING = os.environ.get("FUZZ_SEED", "").strip()
EXPLORE = _SEED_SETTING == "random"
SEED = (random.SystemRandom().randrange(2**32) if EXPLORE else int(_SEED_SETTING) if _SEED_SETTING
        else CI_SEED)
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, print_blob=True,
                derandomize=not EXPLORE)
KEY = "fuzz-key-not-a-secret"
UPLOAD_MB = 1
FILE_FIELDS = {"/v1/identify": "image", "/v1/analyze": "image", "/v1/analyze-video": "video"}
#: Kinds of finding (prefixes, comma-separated) recorded but not failed on: to fuzz on past bugs already filed.
#: Empty by default (CI fails on everything); e.g. FUZZ_IGNORE=not_401_without_the_right_key,ServerError[ValueError
IGNORED = tuple(k.strip() for k in os.environ.get("FUZZ_IGNORE", "").split(",") if k.strip())
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}  # what pydantic reads as True for a bool query parameter

#: What the run did and found, printed by the last test (and kept for the report).
STATS: dict = {"cases": Counter(), "status": Counter(), "keys": Counter(), "uploads": Counter(), "findings": {},
                "writes": []}


# --- hostile upload contents ---------------------------------------------------------------------------------------

def _png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A grayscale PNG claiming ``width`` x ``height``, of ``idat`` (default: all its rows black, compressed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    if idat is None:
        packer = zlib.compressobj(9)
        row = b"\x00" * (width + 1)
        idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _pil(mode: str, size: tuple[int, int], fmt: str, **save) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt, **save)
    return out.getvalue()


def _thumbnail(path: Path, width: int) -> bytes:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    image.thumbnail((width, width))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def _with_broken_exif(jpeg: bytes) -> bytes:
    """``jpeg`` with an APP1 Exif segment that claims an orientation tag but is garbage after it."""
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\xff\xff\xff\xff" + b"\xde\xad" * 8
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


@functools.cache
def fixed_uploads() -> dict[str, bytes]:
    """Fixed hostile contents, built on first use (not at collection: the test data may be missing): name -> bytes."""
    face = min(photos("madonna", "val"), key=lambda p: p.stat().st_size)
    real = face.read_bytes()
    video = SHARED_DATA / "video"
    gif = io.BytesIO()
    from PIL import Image

    frames = [Image.new("P", (40, 30), i) for i in range(3)]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], transparency=0)
    return {
        "real_jpeg": real,
        "tiny_real_jpeg": _thumbnail(face, 48),
        "real_jpeg_broken_exif": _with_broken_exif(real),
        "png_huge_header": _png(100_000, 100_000, idat=b"x\x9c"),  # header claims 10 gigapixels, data truncated
        "png_max_dims": _png(2**31 - 1, 2**31 - 1, idat=b""),
        "png_zero_dims": _png(0, 0, idat=b""),
        "png_bomb_64mp": _png(8000, 8000),  # 62 KB on the wire, 64 megapixels decoded
        "png_1x1": _png(1, 1),
        "png_1x3000": _png(1, 3000),
        "png_16bit": _pil("I;16", (20, 20), "PNG"),
        "cmyk_jpeg": _pil("CMYK", (30, 30), "JPEG"),
        "gif_animated_transparent": gif.getvalue(),
        "tiff_float": _pil("F", (16, 16), "TIFF"),
        "webp_tiny": _pil("RGB", (2, 2), "WEBP"),
        "text_named_image": b"not an image " * 50,
        "over_limit": b"\xff\xd8\xff" + b"\x00" * (UPLOAD_MB * 1_000_000),
        "mp4_truncated": (video / "id2_vcd_swwp2s.mp4").read_bytes()[:30_000],
        "mpg_truncated": (video / "bbaf2n.mpg").read_bytes()[:60_000],  # a stream: the first frames decode
        "mp4_zeros": b"\x00" * 4096,
        "real_mp4": (video / "id2_vcd_swwp2s.mp4").read_bytes(),
    }


#: The names of the fixed contents (their bytes: fixed_uploads()).
FIXED_KINDS = ("real_jpeg", "tiny_real_jpeg", "real_jpeg_broken_exif", "png_huge_header", "png_max_dims", "png_zero_dims",
               "png_bomb_64mp", "png_1x1", "png_1x3000", "png_16bit", "cmyk_jpeg", "gif_animated_transparent",
               "tiff_float", "webp_tiny", "text_named_image", "over_limit", "mp4_truncated", "mpg_truncated", "mp4_zeros",
               "real_mp4")
#: Contents that cannot decode (as an image or a video): a request with them must be refused, so their ``store=true``
#: is kept; any other upload's ``store`` is set false (it may succeed, and a success may store rows and audit).
UNDECODABLE = {"random", "empty", "text_named_image", "png_huge_header", "png_max_dims", "png_zero_dims",
               "png_bomb_64mp", "over_limit", "mp4_zeros", "mp4_truncated"}


@st.composite
def upload_contents(draw, field: str) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["random", "random", "empty", "truncated_jpeg", *FIXED_KINDS]))
    if kind == "random":
        return kind, draw(st.binary(min_size=1, max_size=4096))
    if kind == "empty":
        return kind, b""
    if kind == "truncated_jpeg":
        real = fixed_uploads()["real_jpeg"]
        return kind, real[:draw(st.integers(1, len(real) - 1))]
    if kind == "real_mp4" and field != "video":
        kind = "real_jpeg"  # the full clip is only worth its seconds where a video is expected
    return kind, fixed_uploads()[kind]


SUFFIXES = [".jpg", ".jpeg", ".JPG", ".png", ".webp", ".tiff", ".gif", ".mp4", ".MP4", ".avi", ".mpg", ".mkv", "",
            ".", ".exe", ".jpg.exe", ".tar.gz", ".mp4.jpg", ".verylongsuffix", ".mp\x004", ".\x00"]

file_names = st.one_of(
    st.sampled_from([b"photo.jpg", b"clip.mp4", b"", b".jpg", b"../../../etc/passwd.jpg", b"..\\..\\boot.ini.png",
                     b"/abs/path.mp4", b"a\x00b.jpg", b"clip.mp\x004", b"x.\x00", b"line\r\nbreak.jpg",
                     b"tab\tname.png", b'quo"te.jpg', b"semi;colon=1.jpg", "名前.jpg".encode(),
                     "emoji😀.mp4".encode(), b"\xff\xfe\xfd.jpg", b"latin\xe9.mp4", b"A" * 300 + b".jpg",
                     b"%00.jpg", b"con.jpg", b"-rf.jpg", b"\x1b[31mred.png"]),
    st.builds(lambda stem, suffix: (stem + suffix).encode("utf-8", "surrogatepass"),
              st.text(st.characters(codec="utf-8", exclude_characters='"\r\n'), max_size=40),
              st.sampled_from(SUFFIXES)),
)


def multipart(parts: list[tuple[str, bytes | None, bytes, bytes | None]]) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand (raw bytes in the file name, as a hostile client sends them)."""
    boundary = "fuzz" + "".join(random.choices(string.ascii_letters, k=24))
    body = io.BytesIO()
    for name, filename, content, content_type in parts:
        body.write(f"--{boundary}\r\n".encode())
        disposition = b'Content-Disposition: form-data; name="' + name.encode("utf-8", "surrogatepass") + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        body.write(disposition + b"\r\n")
        if content_type:
            body.write(b"Content-Type: " + content_type + b"\r\n")
        body.write(b"\r\n" + content + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


# --- the API key header --------------------------------------------------------------------------------------------

_ascii_key = st.text(string.ascii_letters + string.digits + string.punctuation, min_size=1, max_size=64)
_non_ascii = st.text(st.characters(min_codepoint=0x80, codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
                     min_size=1, max_size=40)
_KEY_VALUES = {
    "right": st.just(KEY),
    "absent": st.none(),
    "empty": st.just(""),
    "prefix": st.just(KEY[:-1]),
    "longer": st.just(KEY + "x"),
    "wrong": _ascii_key.filter(lambda k: k != KEY),
    "non_ascii_utf8": _non_ascii.map(lambda k: k.encode("utf-8")),
    "key_plus_non_ascii": _non_ascii.map(lambda k: (KEY + k).encode("utf-8")),
    "latin1_bytes": st.binary(min_size=1, max_size=32).map(lambda b: bytes(0x80 | c for c in b)),
}
#: (kind, header value or None for no header): the right key in about two cases of three, past the key check
KEY_HEADERS = st.sampled_from(["right"] * 16 + sorted(set(_KEY_VALUES) - {"right"})).flatmap(
    lambda kind: _KEY_VALUES[kind].map(lambda value: (kind, value)))


# --- the server ----------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base: str
    data: Path
    log: Path
    before: dict = field(repr=False)  # every file's bytes before the fuzzing


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, enrolled_gallery, weights_home):
    """``python -m core serve`` on a copy of the enrolled gallery, models loaded; (base URL, data folder, log)."""
    assert set(fixed_uploads()) == set(FIXED_KINDS), "FIXED_KINDS must name every fixed upload"
    data = tmp_path_factory.mktemp("fuzz_api_data")
    shutil.copytree(enrolled_gallery[0].folder, data / "gallery")
    log_path = data.parent / f"{data.name}-server.log"  # outside the data folder, which must not change
    # the rate limit has its own test (tests/test_api_keys.py): here every request must reach the endpoint
    with api_server(data, log_path, weights_home, FACEDASH_API_KEY=KEY, FACEDASH_EMOTION_ENABLED="true",
                    FACEDASH_EMOTION_PURPOSE="safety", FACEDASH_MAX_UPLOAD_MB=str(UPLOAD_MB),
                    FACEDASH_API_RATE_LIMIT_PER_MINUTE="100000") as base:
        yield _warmed(base, data, log_path)


def _warmed(base: str, data: Path, log_path: Path) -> Server:
    # models load on the first request that needs them: load them now, so the fuzz measures requests, not loading
    with open(photos("madonna", "val")[0], "rb") as handle:
        warm = requests.post(f"{base}/v1/identify", files={"image": ("warm.jpg", handle)},
                             headers={"X-API-Key": KEY}, timeout=300)
    assert warm.status_code == 200, warm.text
    assert requests.get(f"{base}/openapi.json", timeout=30).json() == APP_SCHEMA, "the server serves another schema"
    return Server(base, data, log_path, snapshot(data))


def _app_schema() -> dict:
    """The app's OpenAPI document, built in-process (no models load); the fixture checks the server serves it."""
    from core.api import create_app
    from core.config import load_settings

    return create_app(load_settings(data_dir=Path(tempfile.gettempdir()) / "facedash-fuzz-schema-only")).openapi()


def _without_security(document: dict) -> dict:
    """The schema minus its API-key scheme: this file puts the key on the wire itself (KEY_HEADERS), so schemathesis
    must not also build "missing key" negative cases (they would then carry the right key and be answered 200)."""
    import copy

    stripped = copy.deepcopy(document)
    stripped.get("components", {}).pop("securitySchemes", None)
    for operations in stripped["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    return stripped


APP_SCHEMA = _app_schema()
# from_dict, not pytest.from_fixture: schemathesis 4.32.5's lazy loader sets Node._nodeid, which pytest 9 removed
schema = schemathesis.openapi.from_dict(_without_security(APP_SCHEMA),
                                        config=schemathesis.Config.from_dict({"seed": SEED}))


# --- checks --------------------------------------------------------------------------------------------------------

#: Characters that break a line or drive a terminal (tab allowed): an error message is one printable line.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


@schemathesis.check
def error_body_is_error_and_kind(ctx, response, case):
    """Every 4xx: a JSON object with exactly ``error`` (a non-empty str, no traceback) and ``kind`` (a str)."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"{response.status_code} body is not JSON: {response.content[:300]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error", "kind"}, f"4xx body is not {{error, kind}}: {body!r}"
    assert isinstance(body["error"], str) and isinstance(body["kind"], str), f"error/kind are not strings: {body!r}"
    assert body["error"].strip() and body["kind"], f"empty error or kind: {body!r}"
    assert "Traceback" not in body["error"], f"a traceback in the error: {body['error'][:500]!r}"
    return True


@schemathesis.check
def error_is_one_printable_line(ctx, response, case):
    """A 4xx error message is one line a log or a terminal shows as it is: no line breaks, no control characters."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        error = json.loads(response.content).get("error")
    except (ValueError, AttributeError):
        return None  # error_body_is_error_and_kind reports it
    if isinstance(error, str):
        found = CONTROL.findall(error)
        assert not found, f"the error holds control characters {sorted(set(found))!r}: {error[:300]!r}"
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, error_body_is_error_and_kind, error_is_one_printable_line]
# not run: positive_data_acceptance - a schema-valid upload is any bytes, and bytes that are no image must be a 4xx
# a hand-made case has no positive/negative metadata for negative_data_rejection to judge
UPLOAD_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
                 error_body_is_error_and_kind, error_is_one_printable_line]


#: What the request guard (core/http_guard.py) answers from the request line and headers alone, before the app
#: reads a byte of the body or checks the key: as good as a 401 for a request without the right key.
EDGE_REFUSALS = {"CredentialInURL", "RequestTimeout", "BadRequest", "UploadTooLargeError"}


def refused_unread(response) -> bool:
    """A 401, or a refusal at the edge: a request without the right key must get no further."""
    if response.status_code == 401:
        return True
    try:
        return response.status_code in (400, 408, 413) and response.json().get("kind") in EDGE_REFUSALS
    except (ValueError, AttributeError):
        return False


def _truthy(value) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(str(v).strip().lower() in TRUE_WORDS for v in values)


def _log_size(server) -> int:
    return server.log.stat().st_size


def _server_tail(server, since: int = 0, lines: int = 40) -> str:
    """What the server logged since byte ``since``: its last traceback, or the last lines. The traceback of a 500
    may be written just after the answer went out: wait for it a little."""
    for _ in range(20):
        with open(server.log, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
        if "Traceback (most recent call last)" in text:
            break
        time.sleep(0.05)
    start = text.rfind("Traceback (most recent call last)")
    return text[start:][-6000:] if start >= 0 else "\n".join(text.splitlines()[-lines:])


class Finding(AssertionError):
    """A fuzz failure; one subclass per kind of problem, so that Hypothesis reports each kind as its own bug."""


_FINDING_KINDS: dict[str, type] = {}


def _server_cause(tail: str) -> str:
    """The last line of the server's last traceback (``ValueError: embedded null byte``), or ``?``."""
    lines = [line.strip() for line in tail.splitlines() if line.strip() and not line.startswith(("INFO", "ERROR"))]
    return lines[-1][:100] if "Traceback" in tail and lines else "?"


def fail_unless_ignored(label: str, kinds: list[str], message: str, what: str, response, server: "Server",
                        log_from: int = 0) -> None:
    """Record the problem for the summary (the first input of each kind) and raise it, unless FUZZ_IGNORE lists
    every kind of it. A 5xx is named by the server's exception, so that each cause is its own bug to Hypothesis."""
    tail = _server_tail(server, log_from) if response is not None and response.status_code >= 500 else ""
    if tail:
        kinds = [f"{k}[{_server_cause(tail)}]" if k == "ServerError" else k for k in kinds]
    key = "+".join(sorted(set(kinds)))
    answer = f"{response.status_code} {response.text[:400]!r}" if response is not None else "no answer"
    ignored = all(any(kind.startswith(prefix) for prefix in IGNORED) for kind in set(kinds))
    STATS["findings"].setdefault(f"{label}: {key}" + (" (ignored: FUZZ_IGNORE)" if ignored else ""),
                                 (what, answer, message, tail))
    if not ignored:
        cls = _FINDING_KINDS.setdefault(key, type(f"Finding[{key}]", (Finding,), {}))
        raise cls(f"{message}\ninput: {what}\nanswer: {answer}" + (f"\nserver log:\n{tail}" if tail else ""))


def _failure_kinds(exc: BaseException) -> list[str]:
    """schemathesis' failure classes (ServerError, ...), a custom check by its name."""
    def kind(failure: BaseException) -> str:
        title = getattr(failure, "title", "")
        return title.split("`")[1] if type(failure).__name__ == "CustomFailure" and "`" in title else type(failure).__name__

    inner = getattr(exc, "exceptions", None)
    return [kind(e) for e in inner] if inner else [kind(exc)]


def _send_and_check(case, kwargs, key_mode, what, server, checks) -> None:
    label = f"{case.method} {case.path}"
    STATS["cases"][label] += 1
    STATS["keys"][key_mode] += 1
    log_from = _log_size(server)
    try:
        response = requests.request(**kwargs)
    except requests.RequestException as exc:  # the server hung up or never answered
        fail_unless_ignored(label, ["no_answer"], f"{type(exc).__name__}: {exc}", what, None, server)
        return
    STATS["status"][f"{label} {response.status_code}"] += 1
    if response.ok and _truthy((case.query or {}).get("store", False)):
        STATS["writes"].append(f"{what} -> {response.status_code} {response.text[:200]!r}")
    kinds, messages = [], []
    try:
        case.validate_response(response, checks=checks, transport_kwargs=kwargs)
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup, or an AssertionError of ours
        kinds += _failure_kinds(exc)
        messages.append(str(exc).strip()[:1500])
    if case.path.startswith("/v1") and key_mode != "right" and not refused_unread(response):
        kinds.append("not_401_without_the_right_key")
        messages.append(f"a /v1 request without the right key ({key_mode}) got {response.status_code}, not 401")
    if kinds:
        fail_unless_ignored(label, kinds, "\n".join(messages), what, response, server, log_from)


@schema.parametrize()
@settings(FUZZ, max_examples=EXAMPLES)
@schema.given(data=st.data())
def test_every_request_gets_one_clear_answer(case, data, fuzz_server):
    """schemathesis' requests (positive, negative, coverage) with hostile keys and, half the time, hostile files."""
    key_mode, key = data.draw(KEY_HEADERS, label="key")
    # the key goes on the wire only (schemathesis' case holds str headers; a hostile key is raw bytes)
    case.headers = CaseInsensitiveDict({k: v for k, v in (case.headers or {}).items() if k.lower() != "x-api-key"})
    file_field = FILE_FIELDS.get(case.path)
    generated_file = isinstance(case.body, dict) and isinstance(case.body.get(file_field), str | bytes)
    upload = filename = None
    sent = b""
    if file_field and generated_file and data.draw(st.booleans(), label="hostile upload"):
        upload, content = data.draw(upload_contents(file_field), label="upload")
        filename = data.draw(file_names, label="filename")
        if not isinstance(case.query, dict):
            case.query = {}
        _keep_read_only(case.query, upload)
        content_type = data.draw(PART_CONTENT_TYPES, label="part content type")
        others = [(name, None, _as_text_part(value), None) for name, value in case.body.items() if name != file_field]
        sent, multipart_type = multipart([(file_field, filename, content, content_type), *others])
    kwargs = case.as_transport_kwargs(base_url=fuzz_server.base)
    kwargs["headers"] = CaseInsensitiveDict(kwargs.get("headers") or {})
    if upload:
        kwargs.pop("files", None)
        kwargs["data"] = sent
        kwargs["headers"]["Content-Type"] = multipart_type
    if key is not None:
        kwargs["headers"]["X-API-Key"] = key
    kwargs["timeout"] = 300
    STATS["uploads"][upload or "schemathesis"] += 1
    what = (f"{case.method} {case.path} query={case.query!r} key={key_mode}:{key!r} "
            + (f"upload={upload} filename={filename!r} body[:300]={sent[:300]!r}" if upload else
               f"headers={dict(case.headers or {})!r} body={repr(case.body)[:300]}"))
    _send_and_check(case, kwargs, key_mode, what, fuzz_server, CHECKS)


PART_CONTENT_TYPES = st.sampled_from([b"application/octet-stream", b"image/jpeg", b"video/mp4", b"text/plain",
                                      b"multipart/form-data", None])


def _as_text_part(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return json.dumps(value).encode()


def _keep_read_only(query: dict, upload: str) -> None:
    """An upload that may decode may be stored legitimately: its ``store`` is set false, so the run writes nothing."""
    if upload not in UNDECODABLE and "store" in query and _truthy(query["store"]):
        query["store"] = "false"
    every_n = query.get("every_n", 5)
    if upload == "real_mp4" and isinstance(every_n, int) and 1 <= every_n < 60:
        query["every_n"] = 60  # the whole clip at every_n=1 takes 20 s here; every 60th frame, half a second


UPLOAD_QUERIES = {
    "image": st.fixed_dictionaries({}, optional={"store": st.sampled_from([True, False, "yes", "0", "maybe", ""])}),
    "video": st.fixed_dictionaries({}, optional={"store": st.sampled_from([True, False, "on", "off", "2"]),
                                                 "every_n": st.one_of(st.integers(-3, 305), st.sampled_from(
                                                     ["", "1.5", "1e3", "0x10", "\uff15", "9" * 40]))}),
}


@pytest.mark.parametrize("path", sorted(FILE_FIELDS))
@settings(FUZZ, max_examples=EXAMPLES)
@given(data=st.data())
def test_hostile_uploads_get_an_answer_or_one_clear_4xx(fuzz_server, path, data):
    """Every endpoint's file field, with the right key: hostile contents under hostile names and part types."""
    file_field = FILE_FIELDS[path]
    upload, content = data.draw(upload_contents(file_field), label="upload")
    filename = data.draw(file_names, label="filename")
    query = data.draw(UPLOAD_QUERIES[file_field], label="query")
    _keep_read_only(query, upload)
    part_type = data.draw(PART_CONTENT_TYPES, label="part content type")
    sent, multipart_type = multipart([(file_field, filename, content, part_type)])
    case = schema[path]["POST"].Case(query=query, body={file_field: content}, media_type="multipart/form-data")
    kwargs = {"method": "POST", "url": f"{fuzz_server.base}{path}", "params": query, "data": sent, "timeout": 300,
              "headers": {"Content-Type": multipart_type, "X-API-Key": KEY}}
    STATS["uploads"][upload] += 1
    what = f"POST {path} query={query!r} upload={upload} filename={filename!r} part type={part_type!r}"
    _send_and_check(case, kwargs, "right", what, fuzz_server, UPLOAD_CHECKS)


# --- requests that are not what the schema describes at all --------------------------------------------------------

RAW_CONTENT_TYPES = st.sampled_from([
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=zzz",
    'multipart/form-data; boundary="a b"', "multipart/form-data; boundary=" + "b" * 200, "multipart/mixed; boundary=zzz",
    "application/json", "application/x-www-form-urlencoded", "text/plain", "image/jpeg", "application/octet-stream",
    "", "multipart/form-data; charset=utf-16; boundary=zzz", "*/*"])
RAW_BODIES = st.one_of(
    st.binary(max_size=2048),
    st.just(b"--zzz\r\n"), st.just(b"--zzz--\r\n"), st.just(b'{"image": "x"}'), st.just(b"image=abc&store=true"),
    st.builds(lambda name, content: b'--zzz\r\nContent-Disposition: form-data; name="' + name + b'"; filename="a.jpg"'
              b"\r\n\r\n" + content + b"\r\n--zzz--\r\n", st.sampled_from([b"image", b"video", b"", b"\xff"]),
              st.binary(max_size=512)),
    st.builds(lambda content: b'--zzz\r\nContent-Disposition: form-data; name="image"\r\n\r\n' + content
              + b"\r\n--zzz--\r\n", st.binary(max_size=256)),  # the field sent as text, not as a file
    st.builds(lambda content: b'--zzz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
              + content, st.binary(max_size=256)),  # no closing boundary
)


@st.composite
def _raw_request(draw):
    return draw(RAW_CONTENT_TYPES), draw(RAW_BODIES), draw(st.sampled_from(["", "?store=true", "?every_n=0",
                                                                             "?every_n=5&store=yes", "?every_n=%00"]))


@pytest.mark.parametrize("path", sorted(FILE_FIELDS))
@pytest.mark.parametrize("authorised", [True, False], ids=["key", "no-key"])
@settings(FUZZ, max_examples=max(EXAMPLES // 2, 15))
@given(raw=_raw_request())
def test_malformed_bodies_get_one_clear_4xx(fuzz_server, path, authorised, raw):
    """Bodies the schema does not describe (wrong content type, broken multipart): a 4xx {error, kind}, never 5xx."""
    content_type, body, query = raw
    headers = {"Content-Type": content_type} if content_type else {}
    if authorised:
        headers["X-API-Key"] = KEY
    label = f"POST {path} (malformed body)"
    STATS["cases"][label] += 1
    STATS["keys"]["right" if authorised else "absent"] += 1
    what = f"POST {path}{query} Content-Type={content_type!r} key={authorised} body[:200]={body[:200]!r}"
    log_from = _log_size(fuzz_server)
    try:
        response = requests.post(f"{fuzz_server.base}{path}{query}", data=body, headers=headers, timeout=120)
    except requests.RequestException as exc:
        fail_unless_ignored(label, ["no_answer"], f"{type(exc).__name__}: {exc}", what, None, fuzz_server)
        return
    STATS["status"][f"{label} {response.status_code}"] += 1
    if response.ok and "store=" in query and "store=false" not in query:
        STATS["writes"].append(f"{what} -> {response.status_code} {response.text[:200]!r}")
    kinds = []
    if response.status_code >= 500:
        kinds.append("ServerError")
    elif not 400 <= response.status_code < 500:
        kinds.append(f"accepted_{response.status_code}")
    if not authorised and not refused_unread(response):
        kinds.append("not_401_without_the_right_key")
    if 400 <= response.status_code < 500:
        for body_check in (error_body_is_error_and_kind, error_is_one_printable_line):
            try:
                body_check(None, response, None)
            except AssertionError as exc:
                kinds.append(body_check.__name__)
                what += f" ({exc})"
    if kinds:
        fail_unless_ignored(label, kinds, ", ".join(kinds), what, response, fuzz_server, log_from)


def test_refused_requests_changed_no_stored_data(fuzz_server, capsys):
    """Runs last: the data folder is byte-for-byte what it was before the fuzzing; prints what the run did."""
    lines = [f"API fuzz (seed {SEED}, FUZZ_EXAMPLES={EXAMPLES}): {sum(STATS['cases'].values())} requests",
             *(f"  {n:>5}  {label}" for label, n in sorted(STATS["cases"].items())),
             "  status: " + ", ".join(f"{k}: {n}" for k, n in sorted(STATS["status"].items())),
             "  key header: " + ", ".join(f"{k} {n}" for k, n in STATS["keys"].most_common()),
             "  uploads: " + ", ".join(f"{k} {n}" for k, n in STATS["uploads"].most_common())]
    for name, (what, answer, message, tail) in STATS["findings"].items():
        lines += [f"  FINDING {name}", f"    input: {what}", f"    answer: {answer}",
                  *(f"    {line}" for line in message.splitlines()[:6])]
        lines += [f"    {line}" for line in tail.splitlines()[-12:]]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert STATS["cases"], "no request was fuzzed: run this test with the rest of tests/test_fuzz_api.py"
    assert not STATS["writes"], f"requests that should have been refused stored data: {STATS['writes'][:5]}"
    after = snapshot(fuzz_server.data)
    changed = sorted(name for name in set(after) | set(fuzz_server.before)
                     if not name.endswith(".lock") and after.get(name) != fuzz_server.before.get(name))
    assert not changed, f"refused or read-only requests changed stored data: {changed}"
