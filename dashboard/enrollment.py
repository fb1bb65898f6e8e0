"""Workers page actions: enroll (quality gate + consent), rename, erase; thumbnails of the gate's verdicts.

The page collects inputs and calls these functions; they hold the rules (consent required, reserved demo ids,
size limits, audit lines) so they can be tested without a browser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.config import Settings
from core.errors import EnrollmentError, FaceDashError, ImageError
from core.quality import PhotoVerdict
from core.services import workers
from core.services.actor import Actor

log = logging.getLogger(__name__)

CONSENT_TEMPLATE = (
    "I agree that my face is recorded from these photos and used to recognise me on the site's cameras for "
    "[purpose], until I withdraw consent or leave. I can ask for erasure at any time."
)


@dataclass
class EnrollOutcome:
    worker_id: str
    ok: bool
    message: str
    verdicts: list[PhotoVerdict] = field(default_factory=list)
    thumbnails: dict[str, bytes] = field(default_factory=dict)  # photo name -> small JPEG with the face box

    @property
    def accepted(self) -> int:
        return sum(v.accepted for v in self.verdicts)


def enroll_problems(worker_id: str, consent_text: str, given_by: str, n_photos: int) -> list[str]:
    """What still prevents enrollment (the page disables the button while this is not empty)."""
    problems = []
    worker_id = (worker_id or "").strip()
    if not worker_id:
        problems.append("enter a worker id")
    elif (problem := workers.worker_id_problem(worker_id)) is not None:
        problems.append(problem)
    if not (consent_text or "").strip():
        problems.append("record the consent text (what the worker agreed to, and for what purpose)")
    if not (given_by or "").strip():
        problems.append("name who gave consent")
    if n_photos < 1:
        problems.append("add at least one photo (upload or camera snapshot)")
    return problems


def thumbnail(data: bytes, name: str, verdict: PhotoVerdict | None, settings: Settings, size: int = 200) -> bytes | None:
    """A small JPEG of the photo with the detected face boxed (green accepted, red rejected); None if unreadable."""
    import cv2

    from core.images import decode_image, encode_jpeg

    try:
        image = decode_image(data, name, settings.max_image_pixels)
    except ImageError:
        return None
    if verdict is not None and verdict.face is not None:
        b = verdict.face.box
        colour = (80, 200, 60) if verdict.accepted else (40, 40, 230)
        thickness = max(2, int(round(max(image.shape[:2]) / 150)))
        cv2.rectangle(image, (b.x, b.y), (b.x + b.w, b.y + b.h), colour, thickness)
    scale = size / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    return encode_jpeg(image, 85)


def enroll_worker(engine, settings: Settings, worker_id: str, name: str | None, photos: list[tuple[str, bytes]],
                  consent_text: str, given_by: str, actor: Actor) -> EnrollOutcome:
    """Enroll (or add photos to) a worker through the service. Never raises for user errors: the outcome carries
    the message and the per-photo verdicts (with thumbnails)."""
    problems = enroll_problems(worker_id, consent_text, given_by, len(photos))
    if problems:
        return EnrollOutcome((worker_id or "").strip(), False, "Not enrolled: " + "; ".join(problems) + ".")
    verdicts: list[PhotoVerdict] = []
    try:
        result = workers.enroll(engine, actor, worker_id.strip(), photos, consent_text, given_by, name=name)
        verdicts = list(result.verdicts)
        message, ok = f"Enrolled {result.worker_id}: {result.accepted} photo(s) accepted, {result.rejected} rejected.", True
    except EnrollmentError as exc:
        verdicts, message, ok = list(exc.verdicts), f"Not enrolled: {exc}", False
    except FaceDashError as exc:
        message, ok = f"Not enrolled: {exc}", False
    data = dict(photos)
    thumbs = {}
    for verdict in verdicts:
        if verdict.name in data:
            thumb = thumbnail(data[verdict.name], verdict.name, verdict, settings)
            if thumb is not None:
                thumbs[verdict.name] = thumb
    log.info("enrollment of %s: %s", worker_id, message)
    return EnrollOutcome(worker_id.strip(), ok, message, verdicts, thumbs)


def rename_worker(settings: Settings, worker_id: str, new_name: str, actor: Actor) -> str:
    """Rename; returns a message. Raises FaceDashError (shown by the page) on bad input."""
    name = workers.rename(settings, actor, worker_id, new_name)
    return f"Renamed {worker_id} to {name!r}."


def erase(settings: Settings, worker_id: str, confirmation: str, actor: Actor) -> str:
    """Erase a worker's gallery entry and timeline rows (the service writes the audit line).

    ``confirmation`` must repeat the worker id exactly; otherwise nothing happens (FaceDashError). Returns a message.
    """
    if (confirmation or "").strip() != worker_id:
        raise FaceDashError(f"type the worker id {worker_id!r} exactly to confirm the erasure")
    result = workers.erase(settings, actor, worker_id)
    message = (f"Erased {worker_id}: gallery entry removed={result.gallery_removed}, {result.rows_deleted} "
               "timeline row(s) deleted; audit line written.")
    if result.unreadable_files:
        message += (f" {len(result.unreadable_files)} unreadable timeline file(s) could not be checked: an "
                    "administrator must inspect them (see the log).")
    return message
