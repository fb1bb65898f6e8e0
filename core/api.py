"""HTTP API: the same inference as the dashboard and the CLI, for programs.

    python -m core serve [--host 127.0.0.1] [--port 8000]

Endpoints (JSON; images as multipart field ``image``):

- ``GET  /health``                   liveness, no auth
- ``GET  /v1/info``                  backends in use and why, threshold, whether emotion analysis is enabled
- ``GET  /v1/workers``               enrolled workers (ids, names, photo counts; no biometric data)
- ``POST /v1/identify``              faces in the image: box, worker id or null (unknown), distance
- ``POST /v1/analyze?store=false``   identity + emotion (only when enabled for a declared purpose); ``store=true``
                                     appends the known workers' observations to the timeline store (source ``api``)
- ``POST /v1/analyze-video?every_n=5&store=false``
                                     a video (multipart field ``video``): every n-th frame analysed, one row per face
                                     with its frame and second; identities voted over each face's recent frames, as
                                     on the dashboard (``store=true`` as above)

Errors are ``{"error": message, "kind": ErrorClass}`` with a 4xx/5xx status. When ``FACEDASH_API_KEY`` is set,
``/v1`` requests need the header ``X-API-Key``. Models load once per process at start-up.
"""

# no `from __future__ import annotations`: FastAPI resolves the endpoint annotations at definition time, and the
# FastAPI names are imported inside create_app (lazy import keeps `import core` light)
import hmac
import logging
import math
import tempfile
import threading
from pathlib import Path

from core.errors import FaceDashError, ImageError

log = logging.getLogger(__name__)


def create_app(settings=None, engine=None):
    from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
    from fastapi.responses import JSONResponse

    from core.config import get_settings
    from core.images import decode_image

    settings = settings or get_settings()
    state: dict = {"engine": engine, "store": None}
    lock = threading.Lock()

    def get_engine():
        with lock:
            if state["engine"] is None:
                from core.engine import FaceEngine

                state["engine"] = FaceEngine(settings)
            return state["engine"]

    def get_store():
        with lock:
            if state["store"] is None:
                from core.timeline import TimelineStore

                state["store"] = TimelineStore.from_settings(settings)
            return state["store"]

    app = FastAPI(title="Face & emotion engine", version="1", description=__doc__)

    @app.exception_handler(FaceDashError)
    async def _known_error(request: Request, exc: FaceDashError):
        return JSONResponse({"error": str(exc), "kind": type(exc).__name__}, status_code=exc.http_status)

    def require_key(x_api_key: str | None = Header(default=None)):
        expected = settings.api_key.get_secret_value() if settings.api_key else None
        if expected and not (x_api_key and hmac.compare_digest(x_api_key, expected)):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")

    upload_limit = settings.max_upload_mb * 1_000_000

    def too_big(upload: UploadFile) -> ImageError:
        return ImageError(f"{upload.filename}: upload is over the {settings.max_upload_mb} MB limit")

    def read_image(image: UploadFile):
        data = image.file.read(upload_limit + 1)
        if len(data) > upload_limit:
            raise too_big(image)
        return decode_image(data, image.filename or "upload", settings.max_image_pixels)

    def save_video(video: UploadFile) -> Path:
        """The upload copied to a temporary file (OpenCV reads paths), refused past the size limit."""
        suffix = Path(video.filename or "").suffix.lower()[:8] or ".mp4"
        with tempfile.NamedTemporaryFile(prefix="facedash-api-", suffix=suffix, delete=False) as tmp:
            copied = 0
            while chunk := video.file.read(1 << 20):
                copied += len(chunk)
                if copied > upload_limit:
                    tmp.close()
                    Path(tmp.name).unlink(missing_ok=True)
                    raise too_big(video)
                tmp.write(chunk)
        return Path(tmp.name)

    @app.get("/health")
    def health():
        return {"status": "ok", "engine_loaded": state["engine"] is not None}

    @app.get("/v1/info", dependencies=[Depends(require_key)])
    def info():
        return get_engine().backend_report().as_dict()

    @app.get("/v1/workers", dependencies=[Depends(require_key)])
    def workers():
        return [{"worker_id": w.worker_id, "name": w.name, "photo_count": w.photo_count, "enrolled_at": w.enrolled_at}
                for w in get_engine().gallery.workers()]

    # Inference endpoints are plain `def`s: FastAPI runs them in its thread pool, so a model call (100+ ms, a
    # video for seconds) never stalls the event loop (/health, other requests); the backends lock what they share.
    @app.post("/v1/identify", dependencies=[Depends(require_key)])
    def identify(image: UploadFile = File(...)):
        frame = read_image(image)
        engine = get_engine()
        faces = engine.detect(frame)
        matches = engine.identify(frame, faces)
        return {"image": image.filename, "faces": [
            {"box": f.box.as_list(), "worker": m.worker_id, "distance": round(m.distance, 4) if math.isfinite(m.distance) else None,
             "ambiguous": m.ambiguous,
             "threshold": round(m.threshold, 4), "detector_confidence": round(f.confidence, 4), "model": m.model}
            for f, m in zip(faces, matches)]}

    @app.post("/v1/analyze", dependencies=[Depends(require_key)])
    def analyze(image: UploadFile = File(...), store: bool = Query(False)):
        frame = read_image(image)
        engine = get_engine()
        observations = engine.analyze(frame, source="api")
        stored = 0
        if store:
            known = [o for o in observations if o.identity.is_known]
            stored = get_store().append(known) if known else 0
        return {"image": image.filename, "emotion_enabled": engine.emotion_enabled, "stored": stored,
                "faces": [o.to_record() for o in observations]}

    @app.post("/v1/analyze-video", dependencies=[Depends(require_key)])
    def analyze_video(video: UploadFile = File(...), every_n: int = Query(5, ge=1, le=300),
                      store: bool = Query(False)):
        from core.video import analyze_video as run_video

        path = save_video(video)
        try:
            engine = get_engine()
            result = run_video(engine, path, every_n=every_n, source="api", max_seconds=settings.max_video_seconds)
        except ImageError as exc:  # name the upload, not the temporary file
            raise ImageError(str(exc).replace(str(path), video.filename or "upload")) from None
        finally:
            path.unlink(missing_ok=True)
        stored = 0
        if store:
            known = [o for o in result.observations if o.identity.is_known]
            stored = get_store().append(known) if known else 0
        return {"video": video.filename, "frames": result.frames, "analysed_frames": result.analysed_frames,
                "fps": result.fps, "emotion_enabled": engine.emotion_enabled, "stored": stored, "rows": result.rows}

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, settings=None) -> None:
    import uvicorn

    app = create_app(settings)
    log.info("serving the HTTP API on http://%s:%d (docs at /docs)", host, port)
    uvicorn.run(app, host=host, port=port, log_level="info")
