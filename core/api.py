"""HTTP API: the same use-cases as the dashboard and the CLI (core/services/), for programs.

    python -m core serve [--host 127.0.0.1] [--port 8000]

Every ``/v1`` request needs an API key in the header ``X-API-Key`` (``python -m core keys create --name NAME
--scopes identify,analyze``; docs/security.md). Without a valid key: 401; with a key that lacks the endpoint's
scope: 403; over the key's rate (``FACEDASH_API_RATE_LIMIT_PER_MINUTE``): 429 with ``Retry-After``. All three are
answered before the request body is read. The audit log names the key for every change it makes.

Endpoints (JSON; images as multipart field ``image``):

- ``GET  /health``                   liveness, no key
- ``GET  /v1/info``                  backends in use and why, threshold, whether emotion analysis is enabled (any key)
- ``GET  /v1/workers``               enrolled workers (ids, names, photo counts; no biometric data); scope
                                     ``workers:read``
- ``POST /v1/workers``               enroll a worker (multipart ``photos``, ``worker_id``, ``consent``,
                                     ``consent_given_by``, optional ``name``); scope ``workers:write``
- ``DELETE /v1/workers/{worker_id}`` erase every trace of a worker; scope ``workers:write``
- ``POST /v1/identify``              faces in the image: box, worker id or null (unknown), distance (no emotion);
                                     scope ``identify``
- ``POST /v1/analyze?store=false``   identity + emotion (only when enabled for a declared purpose); scope
                                     ``analyze``; ``store=true`` (scope ``store`` too) appends the enrolled
                                     workers' observations to the timeline (source ``api``; unknown faces are never
                                     stored) and writes one audit line
- ``POST /v1/analyze-video?every_n=5&store=false``
                                     a video (multipart field ``video``): every n-th frame analysed, one row per face
                                     with its frame and second; identities voted over each face's recent frames, as
                                     on the dashboard (scopes as ``/v1/analyze``)

Faces are the same records as the CLI's ``--json`` output (core/services/records.py). Errors are
``{"error": message, "kind": ErrorClass}`` with a 4xx/5xx status, also for invalid requests (422). Models load
once per process.
"""

# no `from __future__ import annotations`: FastAPI resolves the endpoint annotations at definition time, and the
# FastAPI names are imported inside create_app (lazy import keeps `import core` light)
import logging
import math
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.auth.api_keys import ApiKeyError, RateLimiter
from core.auth.roles import Permission
from core.errors import FaceDashError
from core.http_guard import RedactQueryFilter, Refusal, RequestGuard, public_message
from core.services import analysis, keys
from core.services.access import PermissionDeniedError, require
from core.services.actor import Actor
from core.services.limits import copy_limited, read_limited, safe_name, upload_limit_bytes
from core.services.records import ErrorAnswer, ImageAnswer, VideoAnswer, WorkerRecord

if TYPE_CHECKING:
    from fastapi import FastAPI

    from core.config import Settings

log = logging.getLogger(__name__)

P = Permission
#: (method, path pattern) -> what the key must allow, and the words for a refusal; ``/v1/info`` needs any key.
ROUTES: list[tuple[str, re.Pattern, Permission | None, str]] = [
    ("GET", re.compile(r"/v1/info"), None, "read the backend report"),
    ("GET", re.compile(r"/v1/workers"), P.WORKERS_READ, "list the enrolled workers"),
    ("POST", re.compile(r"/v1/workers"), P.WORKERS_WRITE, "enroll workers"),
    ("DELETE", re.compile(r"/v1/workers/[^/]+"), P.WORKERS_WRITE, "erase workers"),
    ("POST", re.compile(r"/v1/identify"), P.IDENTIFY, "identify faces"),
    ("POST", re.compile(r"/v1/analyze"), P.ANALYZE, "analyse photos"),
    ("POST", re.compile(r"/v1/analyze-video"), P.ANALYZE, "analyse videos"),
]
_STORE_TRUE = re.compile(r"(?:^|&)store=(?:true|1|yes|on)(?:&|$)", re.IGNORECASE)


def route_permissions(method: str, path: str, query: str) -> list[tuple[Permission, str]]:
    """What a request needs beyond a valid key: the endpoint's permission, and ``store`` for ``store=true``."""
    needed = [(perm, what) for verb, pattern, perm, what in ROUTES
              if verb == method and pattern.fullmatch(path) and perm is not None]
    if _STORE_TRUE.search(query):
        needed.append((P.STORE, "store observations in the timeline"))
    return needed


def create_app(settings: "Settings | None" = None, engine=None) -> "FastAPI":
    from fastapi import Depends, FastAPI, File, Form, Query, Request, Security, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.security import APIKeyHeader
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from core.config import get_settings

    settings = settings or get_settings()
    keys.migrate_legacy_key(settings)
    state: dict = {"engine": engine, "store": None}
    lock = threading.Lock()
    limiter = RateLimiter(settings.api_rate_limit_per_minute)
    errors: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorAnswer, "description": text} for status, text in (
            (400, "Bad request (e.g. a credential in the URL)"),
            (401, "Missing, wrong, revoked or expired X-API-Key"),
            (403, "The key lacks the scope this needs, or emotion analysis is disabled"),
            (404, "Unknown worker"),
            (408, "The request body arrived too slowly"), (413, "Upload over the size limit"),
            (422, "Invalid request or input (not an image, no face, corrupt video, limits)"),
            (429, "Over the key's rate limit (see Retry-After)"),
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

    def authorize(scope) -> Refusal | None:
        """Key, rate and scope, decided before the body is read (core/http_guard.py calls this)."""
        path = scope.get("path", "")
        if not path.startswith("/v1/"):
            return None
        sent = next((value for name, value in scope.get("headers", []) if name == b"x-api-key"), None)
        try:
            key, actor = keys.authenticate(settings, sent.decode("latin-1") if sent is not None else None)
        except ApiKeyError as exc:
            return Refusal(401, "Unauthorized", str(exc))
        wait = limiter.acquire(key.key_id)
        if wait > 0:
            return Refusal(429, "RateLimited", f"over this key's limit of {settings.api_rate_limit_per_minute} "
                           f"requests a minute; retry in {math.ceil(wait)} s", {"Retry-After": str(math.ceil(wait))})
        query = scope.get("query_string", b"").decode("latin-1")
        for permission, what in route_permissions(scope.get("method", ""), path, query):
            try:
                require(settings, actor, permission, what)
            except PermissionDeniedError as exc:
                return Refusal(403, "PermissionDeniedError", str(exc))
        scope.setdefault("state", {})["actor"] = actor
        return None

    app.add_middleware(RequestGuard, max_body_bytes=upload_limit_bytes(settings), limit_mb=settings.max_upload_mb,
                       receive_timeout_s=settings.api_receive_timeout_s, authorize=authorize)

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

    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                                  description="An API key (`python -m core keys create`); its scopes decide what "
                                              "it may call.")

    def key_actor(request: Request, _key: str | None = Security(api_key_header)) -> Actor:
        """The key's actor, set by the guard (which already refused a request without a valid key)."""
        actor = getattr(request.state, "actor", None)
        if not isinstance(actor, Actor):
            raise ApiKeyError("missing X-API-Key header")
        return actor

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

    def stored_fields(actor: Actor, found_name: str, observations, store: bool) -> dict:
        if not store:
            return {"stored": 0, "not_stored_unknown": 0}
        stored = analysis.store_analysis(settings, get_store(), actor, found_name, observations, "api")
        return {"stored": stored.stored, "not_stored_unknown": stored.unknown}

    @app.get("/health")
    def health():
        return {"status": "ok", "engine_loaded": state["engine"] is not None}

    @app.get("/v1/info", responses=errors, description="Backends in use and why. Any valid key.")
    def info(actor: Actor = Depends(key_actor)):
        return get_engine().backend_report().as_dict()

    @app.get("/v1/workers", response_model=list[WorkerRecord], responses=errors,
             description="Enrolled workers (no biometric data). Scope `workers:read`.")
    def workers(actor: Actor = Depends(key_actor)):
        from core.services.workers import list_workers

        return [{"worker_id": w.worker_id, "name": w.name, "photo_count": w.photo_count, "enrolled_at": w.enrolled_at}
                for w in list_workers(settings, actor)]

    @app.post("/v1/workers", responses=errors,
              description="Enroll (or add photos to) a worker after recording consent. Scope `workers:write`.")
    def enroll(photos: list[UploadFile] = File(...), worker_id: str = Form(...), consent: str = Form(...),
               consent_given_by: str = Form(...), name: str | None = Form(None), actor: Actor = Depends(key_actor)):
        from core.services.workers import enroll as enroll_worker

        files = [(safe_name(p.filename, f"photo{n}"), read_limited(p.file, safe_name(p.filename), settings))
                 for n, p in enumerate(photos)]
        result = enroll_worker(get_engine(), actor, worker_id, files, consent, consent_given_by, name=name)
        return {"worker_id": result.worker_id, "accepted": result.accepted, "rejected": result.rejected,
                "verdicts": [v.as_dict() for v in result.verdicts], "recognition_model": result.recognition_model}

    @app.delete("/v1/workers/{worker_id}", responses=errors,
                description="Erase every trace of a worker (gallery entry, photos, templates, timeline rows). "
                            "Scope `workers:write`.")
    def erase(worker_id: str, actor: Actor = Depends(key_actor)):
        from core.services.workers import erase as erase_worker

        return erase_worker(settings, actor, worker_id).as_dict()

    # Inference endpoints are plain `def`s: FastAPI runs them in its thread pool, so a model call (100+ ms, a
    # video for seconds) never stalls the event loop (/health, other requests); the backends lock what they share.
    @app.post("/v1/identify", response_model=ImageAnswer, responses=errors,
              description="Who is in the photo (no emotion). Scope `identify`.")
    def identify(image: UploadFile = File(...), actor: Actor = Depends(key_actor)):
        name, frame = read_image(image)
        found = analysis.identify_image(get_engine(), actor, name, frame, "api")
        return {"image": name, "emotion_enabled": False, "faces": found.records(), "stored": 0,
                "not_stored_unknown": 0}

    @app.post("/v1/analyze", response_model=ImageAnswer, responses=errors,
              description="Identity and (when enabled for a purpose) emotion. Scope `analyze`; `store=true` also "
                          "needs `store`.")
    def analyze(image: UploadFile = File(...), store: bool = Query(False), actor: Actor = Depends(key_actor)):
        name, frame = read_image(image)
        found = analysis.analyze_image(get_engine(), actor, name, frame, "api")
        return {"image": name, "emotion_enabled": found.emotion_enabled, "faces": found.records(),
                **stored_fields(actor, name, found.observations, store)}

    @app.post("/v1/analyze-video", response_model=VideoAnswer, responses=errors,
              description="Every n-th frame of a video. Scope `analyze`; `store=true` also needs `store`.")
    def analyze_video(video: UploadFile = File(...), every_n: int = Query(5, ge=1, le=300),
                      store: bool = Query(False), actor: Actor = Depends(key_actor)):
        name = safe_name(video.filename)
        path = save_video(video)
        try:
            found = analysis.analyze_video_file(get_engine(), actor, name, path, "api", every_n=every_n)
        finally:
            path.unlink(missing_ok=True)
        result = found.video
        return {"video": name, "frames": result.frames, "analysed_frames": result.analysed_frames, "fps": result.fps,
                "emotion_enabled": found.emotion_enabled, "rows": result.rows,
                **stored_fields(actor, name, result.observations, store)}

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings=None) -> None:
    import uvicorn

    app = create_app(settings)
    log.info("serving the HTTP API on http://%s:%d (docs at /docs)", host, port)
    logging.getLogger("uvicorn.access").addFilter(RedactQueryFilter())
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)
