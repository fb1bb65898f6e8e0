"""The one record schema for faces, shared by the CLI's ``--json`` output and the HTTP API (its OpenAPI schema).

:meth:`core.types.Observation.to_record` produces the dicts; these pydantic models document and validate them.
``identify`` answers the same face record with ``emotion`` and ``valence`` null (no emotion is inferred).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class EmotionRecord(BaseModel):
    label: str = Field(description="The most likely of the 7 FER-2013 classes.")
    scores: dict[str, float] = Field(description="Probability per class (sums to 1).")
    model: str = Field(description="The emotion backend that produced the scores.")


class FaceRecord(BaseModel):
    time: str = Field(description="When the frame was analysed (ISO 8601, UTC).")
    source: str = Field(description="Where the frame came from: cli, api, upload, live, video.")
    box: list[int] = Field(description="[x, y, width, height] in pixels of the analysed image.")
    detector_confidence: float
    worker: str | None = Field(description="The enrolled worker's id, or null for an unknown face.")
    distance: float | None = Field(description="Distance to the nearest worker; null when nobody is enrolled.")
    threshold: float = Field(description="Faces farther than this from every worker are unknown.")
    ambiguous: bool = Field(description="True when two workers were within the ambiguity margin (left unknown).")
    recognition_model: str = Field(description="The recognition model, e.g. Dlib or Facenet512.")
    embedding: str = Field(description="Model and alignment of the embedding, e.g. Dlib@dlib5-150-p0.25.")
    metric: str = Field(description="Distance metric: cosine, euclidean or euclidean_l2.")
    emotion: EmotionRecord | None = Field(None, description="Only when emotion analysis is enabled for a purpose.")
    valence: str | None = Field(None, description="positive, negative or neutral (with emotion).")


class ImageAnswer(BaseModel):
    image: str = Field(description="The file name as uploaded.")
    emotion_enabled: bool
    faces: list[FaceRecord]
    stored: int = Field(0, description="Rows written to the timeline store (enrolled workers only).")
    not_stored_unknown: int = Field(0, description="Faces seen but not stored: no enrolled worker was named.")


class VideoRow(FaceRecord):
    frame: int
    second: float
    face: int = Field(description="Index of the face within its frame.")


class VideoAnswer(BaseModel):
    video: str
    frames: int
    analysed_frames: int
    fps: float
    emotion_enabled: bool
    stored: int = 0
    not_stored_unknown: int = 0
    rows: list[VideoRow]


class WorkerRecord(BaseModel):
    worker_id: str
    name: str
    photo_count: int
    enrolled_at: str


class ErrorAnswer(BaseModel):
    error: str = Field(description="What is wrong, in one sentence.")
    kind: str = Field(description="The error class, e.g. ImageError, NoFaceError, UnknownWorkerError.")
