"""Worker use-cases: enroll (consent first), rename, erase (every trace), list.

Policies decided here and nowhere else: consent text and who gave it are required and length-checked before
anything is written; photos over the upload limit are rejected with a verdict like any other bad photo; the
demo-prefix ids are reserved; every action writes one audit line in one format (core/audit.py), also a failed
erasure; the audit record is built (and validated) before the gallery is touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.audit import MAX_AUDIT_STRING, append_audit, audit, audit_record, ensure_writable
from core.auth.roles import Permission
from core.errors import EnrollmentError, FaceDashError, UnknownWorkerError
from core.gallery import Consent, Gallery, WorkerInfo, validate_worker_id
from core.quality import PhotoVerdict
from core.services.access import require
from core.services.actor import Actor
from core.services.limits import CONTROL_CHARACTERS, MAX_NAME, MAX_TEXT, check_text, check_upload_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrollResult:
    worker_id: str
    verdicts: list[PhotoVerdict]
    recognition_model: str
    audit: dict = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(v.accepted for v in self.verdicts)

    @property
    def rejected(self) -> int:
        return len(self.verdicts) - self.accepted


@dataclass(frozen=True)
class EraseResult:
    worker_id: str
    rows_deleted: int
    files_rewritten: int
    gallery_removed: bool
    unreadable_files: list[str]

    def as_dict(self) -> dict:
        return {"worker_id": self.worker_id, "rows_deleted": self.rows_deleted, "files_rewritten": self.files_rewritten,
                "gallery_removed": self.gallery_removed, "unreadable_files": list(self.unreadable_files)}


def worker_id_problem(worker_id: str) -> str | None:
    """Why ``worker_id`` cannot be enrolled, or None (for forms that explain before the button is pressed)."""
    try:
        validate_worker_id(worker_id)
    except FaceDashError as exc:
        return str(exc)
    return None


def clean_worker_id(worker_id: str | None) -> str:
    """The id as given (no stripping: ``'elton\\n'`` is refused, not silently turned into ``elton``)."""
    return validate_worker_id(worker_id if isinstance(worker_id, str) else "")


def enroll(engine, actor: Actor, worker_id: str, photos: list[tuple[str, bytes]], consent_text: str,
           consent_given_by: str, name: str | None = None) -> EnrollResult:
    """Enroll (or add photos to) a worker after recording their consent.

    Raises EnrollmentError (with the per-photo verdicts) when no photo is usable, FaceDashError for a bad id or
    consent; nothing is written then.
    """
    settings = engine.settings
    require(settings, actor, Permission.WORKERS_WRITE, "enroll workers", worker_id)
    worker_id = clean_worker_id(worker_id)
    text = check_text("the consent text (what the worker agreed to, and for what purpose)", consent_text, MAX_TEXT,
                      multiline=True)
    given_by = check_text("who gave consent", consent_given_by, MAX_NAME)
    display = check_text("the display name", name, MAX_NAME, required=False) or None
    consent = Consent(text=text, given_by=given_by, recorded_by=actor.name)
    over_limit: list[PhotoVerdict] = []
    usable: list[tuple[str, bytes]] = []
    for photo_name, data in photos:
        try:
            check_upload_size(photo_name, len(data), settings)
            usable.append((photo_name, data))
        except Exception as exc:  # an ImageError: the photo gets a verdict like any other rejected photo
            over_limit.append(PhotoVerdict(photo_name, False, str(exc).removeprefix(f"{photo_name}: ")))
    if not usable:
        reasons = "; ".join(f"{v.name}: {v.reason}" for v in over_limit) or "no photo given"
        raise EnrollmentError(f"no usable photo for worker {worker_id!r} ({reasons})", over_limit)
    # validated now: an audit line that would be refused must refuse the enrollment before anything is written
    audit_record("enroll", actor, worker_id, consent_given_by=given_by, consent_text=text)
    ensure_writable(settings)
    written: dict = {}

    def commit(report) -> None:  # under the gallery's lock: if the audit line fails, the gallery is put back
        accepted = len(report.accepted)
        written["line"] = append_audit(settings, audit_record(
            "enroll", actor, worker_id, photos_accepted=accepted, photos_rejected=len(over_limit) + len(report.rejected),
            consent_given_by=given_by, consent_text=text, recognition_model=engine.embedder.key))

    try:
        report = engine.enroll(worker_id, usable, consent, name=display, on_commit=commit)
    except EnrollmentError as exc:
        raise EnrollmentError(str(exc), over_limit + list(exc.verdicts)) from None
    verdicts = over_limit + list(report.verdicts)
    accepted = len(report.accepted)
    line = written["line"]
    log.info("enrolled %s: %d photo(s) accepted, %d rejected", worker_id, accepted, len(verdicts) - accepted)
    return EnrollResult(worker_id, verdicts, engine.embedder.key, line)


def rename(settings, actor: Actor, worker_id: str, new_name: str) -> str:
    """Change a worker's display name; returns the new name."""
    require(settings, actor, Permission.WORKERS_WRITE, "rename workers", worker_id)
    worker_id = clean_worker_id(worker_id)
    name = check_text("the new display name", new_name, MAX_NAME)
    record = audit_record("rename", actor, worker_id)
    ensure_writable(settings)
    gallery = Gallery(settings.gallery_path)
    previous = gallery.worker(worker_id).name
    gallery.rename(worker_id, name)
    try:
        append_audit(settings, record)
    except Exception:
        gallery.rename(worker_id, previous)  # no change without its audit line
        raise
    return name


def list_workers(settings, actor: Actor) -> list[WorkerInfo]:
    """Enrolled workers (ids, names, photo counts, consent records; no biometric data). Consent records are left
    out (``consent={}``) for an actor who may not read them."""
    require(settings, actor, Permission.WORKERS_READ, "list the enrolled workers")
    found = Gallery(settings.gallery_path).workers()
    if actor.can(Permission.CONSENT_READ):
        return found
    return [replace(w, consent={}) for w in found]


def display_names(settings, actor: Actor) -> dict[str, str]:
    require(settings, actor, Permission.WORKERS_READ, "see the workers' names")
    return Gallery(settings.gallery_path).display_names()


def erase(settings, actor: Actor, worker_id: str) -> EraseResult:
    """Erase everything stored about ``worker_id``: gallery entry (photos, embeddings, consent) and every timeline
    row in every partition (files are rewritten, not hidden). One audit line, also when the erasure fails.

    The gallery entry goes first (no new rows can be attributed to the worker), then the rows. A worker who is not
    enrolled but has rows still has them deleted; if neither exists, UnknownWorkerError (nothing is audited).
    """
    from core.timeline import TimelineStore

    require(settings, actor, Permission.WORKERS_WRITE, "erase workers", worker_id)
    if not isinstance(worker_id, str) or not worker_id:
        raise UnknownWorkerError("erasure needs a worker id")
    if CONTROL_CHARACTERS.search(worker_id) and not Gallery(settings.gallery_path).has_worker(worker_id):
        raise UnknownWorkerError(f"worker {worker_id!r} is not enrolled (and not a valid worker id)")
    ensure_writable(settings)  # an erasure cannot be undone: make sure it can be audited first
    gallery = Gallery(Path(settings.gallery_path))
    store = TimelineStore.from_settings(settings)
    try:
        enrolled = gallery.has_worker(worker_id)
        if not enrolled and store.count(worker=worker_id) == 0:
            raise UnknownWorkerError(
                f"worker {worker_id!r} is neither enrolled in the gallery nor present in the timeline store")
        gallery_removed = False
        if enrolled:
            try:
                gallery.erase(worker_id)
                gallery_removed = True
            except UnknownWorkerError:  # removed concurrently
                pass
        report = store.erase_worker_report(worker_id)
    except UnknownWorkerError:
        raise
    except Exception as exc:
        audit(settings, "erase_worker", actor, worker_id, outcome="failed", error=str(exc)[:MAX_AUDIT_STRING])
        raise
    finally:
        store.close()
    result = EraseResult(worker_id, report.rows_deleted, report.files_rewritten, gallery_removed,
                         list(report.unreadable_files))
    audit(settings, "erase_worker", actor, worker_id, rows_deleted=result.rows_deleted,
          files_rewritten=result.files_rewritten, gallery_removed=gallery_removed,
          unreadable_files=len(result.unreadable_files))
    if result.unreadable_files:
        log.warning("erasure of %s: %d timeline files could not be checked: %s", worker_id,
                    len(result.unreadable_files), ", ".join(result.unreadable_files))
    return result
