"""HTTP API: the same use-cases as the dashboard and the CLI (core/services/), for programs.

    python -m core serve [--host 127.0.0.1] [--port 8000]

Endpoints (JSON; images as multipart field ``image``):

- ``GET  /health``                   liveness, no auth
- ``GET  /v1/info``                  backends in use and why, threshold, whether emotion analysis is enabled
- ``GET  /v1/workers``               enrolled workers (ids, names, photo counts; no biometric data)
- ``POST /v1/identify``              faces in the image: box, worker id or null (unknown), distance (no emotion)
- ``POST /v1/analyze?store=false``   identity + emotion (only when enabled for a declared purpose); ``store=true``
                                     appends the enrolled workers' observations to the timeline (source ``api``;
                                     unknown faces are never stored) and writes one audit line
- ``POST /v1/analyze-video?every_n=5&store=false``
                                     a video (multipart field ``video``): every n-th frame analysed, one row per face
                                     with its frame and second; identities voted over each face's recent frames, as
                                     on the dashboard (``store=true`` as above)

Faces are the same records as the CLI's ``--json`` output (core/services/records.py). Errors are
``{"error": message, "kind": ErrorClass}`` with a 4xx/5xx status, also for invalid requests (422). When
``FACEDASH_API_KEY`` is set, ``/v1`` requests need the header ``X-API-Key``. Models load once per process.
"""

# no `from __future__ import annotations`: FastAPI resolves the endpoint annotations at definition time, and the
# FastAPI names are imported inside create_app (lazy import keeps `import core` light)
import hmac
import logging
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import FaceDashError
from core.http_guard import RedactQueryFilter, RequestGuard, public_message
from core.services import analysis
from core.services.actor import Actor
from core.services.limits import copy_limited, read_limited, safe_name, upload_limit_bytes
from core.services.records import ErrorAnswer, ImageAnswer, VideoAnswer, WorkerRecord

if TYPE_CHECKING:
    from fastapi import FastAPI

    from core.config import Settings

log = logging.getLogger(__name__)

#: The audit log's actor for API calls until API keys carry their holder's name (a later issue).
API_ACTOR = Actor("api-client", "api")


def _keys_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of header bytes (hmac.compare_digest raises on non-ASCII str).

    HTTP headers arrive decoded as Latin-1, so encoding back gives the bytes the client sent; the configured key is
    UTF-8. A non-ASCII key therefore matches when the client sends it as UTF-8, and never crashes the comparison.
    """
    if given is None:
        return False
    try:
        sent = given.encode("latin-1")
    except UnicodeEncodeError:
        sent = given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sent, expected.encode("utf-8", "surrogateescape"))


def create_app(settings: "Settings | None" = None, engine=None) -> "FastAPI":
    from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from core.config import get_settings

    settings = settings or get_settings()
    state: dict = {"engine": engine, "store": None}
    lock = threading.Lock()
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorAnswer, "description": text} for status, text in (
            (400, "Bad request (e.g. a credential in the URL)"), (401, "Missing or wrong X-API-Key header"),
            (403, "Not allowed (e.g. emotion analysis disabled)"), (404, "Unknown worker"),
            (408, "The request body arrived too slowly"), (413, "Upload over the size limit"),
            (422, "Invalid request or input (not an image, no face, corrupt video, limits)"),
            (500, "Server-side failure (details in the server log)"), (503, "Model weights missing"))}

    def get_engine():
        with lock:
            if state["engine"] is None:
                from core.engine import FaceEngine

                state["engine"] = FaceEngine(settings)
            return state["engine"]

    def get_store():
        with lock:
            if state["store"] is None:
                from core.services.timeline import open_store

                state["store"] = open_store(settings)
            return state["store"]

    app = FastAPI(title="Face & emotion engine", version="1", description=__doc__)

    def authorized(scope) -> bool:
        if not scope.get("path", "").startswith("/v1/") or settings.api_key is None:
            return True
        sent = next((value for name, value in scope.get("headers", []) if name == b"x-api-key"), None)
        return sent is not None and _keys_match(sent.decode("latin-1"), settings.api_key.get_secret_value())

    app.add_middleware(RequestGuard, max_body_bytes=upload_limit_bytes(settings), limit_mb=settings.max_upload_mb,
                       receive_timeout_s=settings.api_receive_timeout_s, authorize=authorized)

    @app.exception_handler(FaceDashError)
    async def _known_error(request: Request, exc: FaceDashError):
        return JSONResponse({"error": public_message(str(exc)), "kind": type(exc).__name__},
                            status_code=exc.http_status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; the server logged the details", "kind": "InternalError"},
                            status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:1000]
        return JSONResponse({"error": f"invalid request: {problems}", "kind": "RequestValidationError"},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        kind = {401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPException")
        return JSONResponse({"error": str(exc.detail), "kind": kind}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    def require_key(x_api_key: str | None = Header(default=None)):
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected and not _keys_match(x_api_key, expected):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    def read_image(image: UploadFile):
        name = safe_name(image.filename)
        return name, analysis.decode_upload(settings, name, read_limited(image.file, name, settings))

    def save_video(video: UploadFile) -> Path:
        """The upload copied to a temporary file (OpenCV reads paths), refused past the size limit."""
        suffix = Path(safe_name(video.filename)).suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,7}", suffix) else ".mp4"  # the temp name: plain characters
        with tempfile.NamedTemporaryFile(prefix="facedash-api-", suffix=suffix, delete=False) as tmp:
            try:
                copy_limited(video.file, tmp, safe_name(video.filename), settings)
            except BaseException:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise
        return Path(tmp.name)

    def stored_fields(found_name: str, observations, store: bool) -> dict:
        if not store:
            return {"stored": 0, "not_stored_unknown": 0}
        stored = analysis.store_analysis(settings, get_store(), API_ACTOR, found_name, observations, "api")
        return {"stored": stored.stored, "not_stored_unknown": stored.unknown}

    @app.get("/health")
    def health():
        return {"status": "ok", "engine_loaded": state["engine"] is not None}

    @app.get("/v1/info", dependencies=[Depends(require_key)], responses=errors)
    def info():
        return get_engine().backend_report().as_dict()

    @app.get("/v1/workers", dependencies=[Depends(require_key)], response_model=list[WorkerRecord],
             responses=errors)
    def workers():
        from core.services.workers import list_workers

        return [{"worker_id": w.worker_id, "name": w.name, "photo_count": w.photo_count, "enrolled_at": w.enrolled_at}
                for w in list_workers(settings)]

    # Inference endpoints are plain `def`s: FastAPI runs them in its thread pool, so a model call (100+ ms, a
    # video for seconds) never stalls the event loop (/health, other requests); the backends lock what they share.
    @app.post("/v1/identify", dependencies=[Depends(require_key)], response_model=ImageAnswer, responses=errors)
    def identify(image: UploadFile = File(...)):
        name, frame = read_image(image)
        found = analysis.identify_image(get_engine(), name, frame, "api")
        return {"image": name, "emotion_enabled": False, "faces": found.records(), "stored": 0,
                "not_stored_unknown": 0}

    @app.post("/v1/analyze", dependencies=[Depends(require_key)], response_model=ImageAnswer, responses=errors)
    def analyze(image: UploadFile = File(...), store: bool = Query(False)):
        name, frame = read_image(image)
        found = analysis.analyze_image(get_engine(), name, frame, "api")
        return {"image": name, "emotion_enabled": found.emotion_enabled, "faces": found.records(),
                **stored_fields(name, found.observations, store)}

    @app.post("/v1/analyze-video", dependencies=[Depends(require_key)], response_model=VideoAnswer,
              responses=errors)
    def analyze_video(video: UploadFile = File(...), every_n: int = Query(5, ge=1, le=300),
                      store: bool = Query(False)):
        name = safe_name(video.filename)
        path = save_video(video)
        try:
            found = analysis.analyze_video_file(get_engine(), name, path, "api", every_n=every_n)
        finally:
            path.unlink(missing_ok=True)
        result = found.video
        return {"video": name, "frames": result.frames, "analysed_frames": result.analysed_frames, "fps": result.fps,
                "emotion_enabled": found.emotion_enabled, "rows": result.rows,
                **stored_fields(name, result.observations, store)}

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings=None) -> None:
    import uvicorn

    app = create_app(settings)
    log.info("serving the HTTP API on http://%s:%d (docs at /docs)", host, port)
    logging.getLogger("uvicorn.access").addFilter(RedactQueryFilter())
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)
