"""Health of the stored files: ``python -m core check [--repair]`` (docs/maintenance.md).

:func:`inspect` reads back every stored file of the data folder with the same checks the readers apply (the
saved settings, the gallery index, the embeddings of each model, the calibration, the kept photos, the audit log,
the timeline store) and returns one :class:`FileCheck` per file: its path (relative to the data folder where it
lies inside it), whether it is fine, what is wrong and what repairs it.

:func:`repair` then fixes what can be fixed without losing anything that cannot be re-derived, one audit line
per file: a corrupt settings or calibration file is moved aside (``<name>.corrupt-<UTC time>``; the defaults
apply), a corrupt embeddings file or one that does not match the index is deleted and rebuilt from the kept photos.
It never rebuilds ``gallery.json`` (it holds the consent records: restore it from a backup), never rewrites the
audit log (append-only evidence) and never deletes timeline files (corrupt ones are moved to the store's
``_quarantine/`` by compaction, for a person to inspect and delete).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.audit import append_audit, audit, audit_record
from core.auth.roles import Permission
from core.config import get_settings, overrides_file, overrides_file_problem
from core.errors import FaceDashError, GalleryError
from core.gallery import WORKER_ID, Gallery
from core.gallery_files import CorruptFileError, load_embeddings, load_index
from core.services.access import require
from core.services.actor import Actor

log = logging.getLogger(__name__)

#: The status of one file. Exit status 0 needs no REPAIRABLE or MANUAL left.
OK, REPAIRED, REPAIRABLE, MANUAL, WARNING = "ok", "repaired", "repairable", "manual", "warning"
MOVE_ASIDE, REBUILD = "move aside", "rebuild"
MAX_LISTED = 10


@dataclass
class FileCheck:
    """One stored file: ``status`` is ok, repairable (``--repair`` fixes it), repaired, manual (a person must act:
    ``repair`` says how) or warning (noted; nothing to repair, the data is still usable)."""

    path: str
    kind: str
    status: str = OK
    problem: str | None = None
    repair: str | None = None
    file: Path | None = field(default=None, repr=False)  # where it is (for the repair)
    fix: str | None = field(default=None, repr=False)  # MOVE_ASIDE, REBUILD or None
    model: str | None = field(default=None, repr=False)  # embeddings: the embedding key

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ok": self.ok, "status": self.status, "problem": self.problem,
                "repair": self.repair}


@dataclass
class HealthReport:
    data_dir: str
    files: list[FileCheck]
    repair_ran: bool = False

    @property
    def healthy(self) -> bool:
        """Nothing left that ``--repair`` or a person must fix (warnings do not count)."""
        return all(f.status in (OK, REPAIRED, WARNING) for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir, "healthy": self.healthy, "repair_ran": self.repair_ran,
                "files": [f.as_dict() for f in self.files]}


def _label(settings, path: Path | str) -> str:
    try:
        return Path(path).relative_to(settings.data_dir).as_posix()
    except ValueError:
        return str(path)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


# ------------------------------------------------------------------------------------------------ inspection
def inspect(settings) -> HealthReport:
    """Read back every stored file of the data folder; changes nothing."""
    files = [*_check_settings_file(settings), *_check_gallery(settings), *_check_audit_log(settings),
             *_check_auth_files(settings), *_check_timeline(settings)]
    return HealthReport(str(settings.data_dir), files)


def _check_settings_file(settings) -> list[FileCheck]:
    path = overrides_file()
    if not path.exists():
        return []
    check = FileCheck(_label(settings, path), "settings", file=path)
    error = overrides_file_problem()
    if error is not None:
        check.status, check.problem, check.fix = REPAIRABLE, error.problem, MOVE_ASIDE
        check.repair = "move it aside (the defaults then apply; set the changed settings again on the Settings page)"
    return [check]


def _check_gallery(settings) -> list[FileCheck]:
    folder = Path(settings.gallery_path)
    if not folder.is_dir():
        return []
    gallery = Gallery(folder)
    try:
        lock = gallery.lock()  # every writer holds it: the files read together belong together
    except GalleryError:  # a read-only gallery: no writer can run either
        return _inspect_gallery(gallery)
    with lock:
        return _inspect_gallery(gallery)


def _inspect_gallery(gallery: Gallery) -> list[FileCheck]:
    folder, checks = gallery.folder, []
    index_path = folder / "gallery.json"
    index: dict | None = None
    index_check = FileCheck(gallery.label(index_path), "gallery index", file=index_path)
    restore = ("restore it from a backup (it holds the consent records and is never rebuilt automatically), then run "
               "`python -m core check --repair`")
    if index_path.exists():
        try:
            index = load_index(index_path, index_check.path, WORKER_ID)
        except CorruptFileError as exc:
            index_check.status, index_check.problem, index_check.repair = MANUAL, exc.problem, restore
        except GalleryError as exc:
            index_check.status, index_check.problem, index_check.repair = MANUAL, str(exc), "check its permissions"
        checks.append(index_check)
    elif gallery.embedding_models() or any((folder / "photos").glob("*/*")):
        index_check.status, index_check.problem, index_check.repair = (
            MANUAL, "missing, but the gallery holds embeddings or photos", restore)
        checks.append(index_check)
    else:
        index = {"workers": {}}
    if index is not None and index["workers"]:
        checks.append(_check_photos(gallery, index))
    for model in gallery.embedding_models():
        checks.append(_check_embeddings(gallery, model, index))
    if gallery.calibration_path.exists():
        check = FileCheck(gallery.label(gallery.calibration_path), "calibration", file=gallery.calibration_path)
        try:
            gallery.read_calibration()
        except CorruptFileError as exc:
            check.status, check.problem, check.fix = REPAIRABLE, exc.problem, MOVE_ASIDE
            check.repair = "move it aside (the default thresholds then apply; calibrate again with `python -m core calibrate`)"
        except GalleryError as exc:
            check.status, check.problem, check.repair = MANUAL, str(exc), "check its permissions"
        checks.append(check)
    return checks


def _check_photos(gallery: Gallery, index: dict) -> FileCheck:
    kept = [p["file"] for w in index["workers"].values() for p in w.get("photos", [])]
    missing = [name for name in kept if not (gallery.folder / name).is_file()]
    check = FileCheck(gallery.label(gallery.folder / "photos"), "kept photos", file=gallery.folder / "photos")
    if missing:
        check.status = MANUAL
        check.problem = f"{len(missing)} of {len(kept)} kept photos are missing: {_listed(missing)}"
        check.repair = ("restore them from a backup, or erase the worker (`python -m core workers erase`) and enroll "
                        "them again; until then they are left out when embeddings are rebuilt")
    return check


def _check_embeddings(gallery: Gallery, model: str, index: dict | None) -> FileCheck:
    path = gallery.folder / "embeddings" / f"{model}.npz"
    check = FileCheck(gallery.label(path), "embeddings", file=path, model=model)
    try:
        ids, shas, _ = load_embeddings(path, check.path, model)
    except CorruptFileError as exc:
        check.problem = exc.problem
    except GalleryError as exc:
        check.status, check.problem, check.repair = MANUAL, str(exc), "check its permissions"
        return check
    else:
        if index is None:
            return check  # cannot be compared with the index (reported above)
        listed = {(wid, p["sha256"]) for wid, w in index["workers"].items() for p in w.get("photos", [])}
        pairs = list(zip(ids, shas))
        strangers = sorted({str(wid) for wid, sha in pairs if (wid, sha) not in listed})
        unknown = sum((wid, sha) not in listed for wid, sha in pairs)
        twice = len(pairs) - len(set(pairs))
        problems = ([f"{unknown} vector(s) of photos gallery.json does not list (workers {_listed(strangers)})"]
                    if unknown else []) + ([f"{twice} photo(s) embedded twice"] if twice else [])
        if not problems:
            return check
        check.problem = "does not match gallery.json: " + "; ".join(problems)
    if index is None:
        check.status, check.repair = MANUAL, "restore gallery.json first (rebuilding needs it), then run `python -m core check --repair`"
    else:
        check.status, check.fix, check.repair = REPAIRABLE, REBUILD, "delete it and rebuild it from the kept photos"
    return check


def _check_auth_files(settings) -> list[FileCheck]:
    """The accounts and API-keys files: never repaired automatically (a guess could lock people out or let a
    revoked key back in); a corrupt one is restored from a backup by a person."""
    from core.auth.accounts import AccountStore, AuthStoreError
    from core.auth.api_keys import ApiKeyStore

    checks = []
    for kind, path, read in (("accounts", Path(settings.auth_dir) / "accounts.json",
                              lambda: AccountStore.from_settings(settings).accounts()),
                             ("API keys", Path(settings.auth_dir) / "api_keys.json",
                              lambda: ApiKeyStore.from_settings(settings).keys())):
        if not path.exists():
            continue
        check = FileCheck(_label(settings, path), kind, file=path)
        try:
            read()
        except AuthStoreError as exc:
            check.status, check.problem = MANUAL, str(exc)
            check.repair = ("restore it from a backup (never rewritten by a repair); until then the dashboard "
                            "refuses sign-ins" if kind == "accounts" else "restore it from a backup; until then "
                            "the API refuses every key")
        checks.append(check)
    return checks


def _check_audit_log(settings) -> list[FileCheck]:
    path = Path(settings.audit_log_path)
    if not path.is_file():
        return []
    check = FileCheck(_label(settings, path), "audit log", file=path)
    bad, total = [], 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            total += 1
            try:
                ok = isinstance(json.loads(raw.decode("utf-8")), dict)
            except (UnicodeDecodeError, ValueError, RecursionError):
                ok = False
            if not ok:
                bad.append(str(number))
    if bad:
        check.status = WARNING
        check.problem = f"{len(bad)} of {total} lines are unreadable (line {_listed(bad)}); readers skip them"
        check.repair = "none: the audit log is append-only evidence and is never rewritten; keep it as it is"
    return [check]


def _check_timeline(settings) -> list[FileCheck]:
    from core.services.timeline import timeline_stats

    uri = settings.timeline_uri
    local = "://" not in uri or uri.startswith("file://")
    root = Path(uri.removeprefix("file://"))
    if local and not root.is_dir():
        return []
    label = _label(settings, root) if local else uri
    try:
        stats = timeline_stats(settings)
    except FaceDashError as exc:
        return [FileCheck(label, "timeline", MANUAL, str(exc), "see docs/timeline.md")]
    checks = []
    for name in stats["corrupt_files"]:
        shown = _label(settings, name) if local else name
        if "_quarantine" in Path(name).parts or "/_quarantine/" in name:
            checks.append(FileCheck(shown, "timeline file", WARNING, "corrupt; moved aside by the store, no read uses it",
                                    f"inspect it, then delete it: rm {shlex.quote(name)}"))
        else:
            checks.append(FileCheck(shown, "timeline file", WARNING, "corrupt; every read skips it",
                                    "`python -m core timeline compact` moves it to _quarantine/ in the store; inspect "
                                    "it there, then delete it"))
    return checks or [FileCheck(label, "timeline")]


# ------------------------------------------------------------------------------------------------ repair
def repair(settings, actor: Actor, report: HealthReport | None = None) -> HealthReport:
    """Inspect (unless given the report), then repair every repairable file; one audit line per file changed.

    Settings and calibration files are moved aside; embeddings files are deleted, then the engine (loaded only
    when there is something to rebuild) re-embeds the kept photos of the current recognition model."""
    require(settings, actor, Permission.MAINTENANCE, "repair stored files")
    report = report or inspect(settings)
    report.repair_ran = True
    todo = [f for f in report.files if f.status == REPAIRABLE]
    for check in (f for f in todo if f.fix == MOVE_ASIDE):
        _move_aside(settings, actor, check)
    deleted = [f for f in todo if f.fix == REBUILD]
    if deleted:
        gallery = Gallery(settings.gallery_path)
        records = [audit_record("repair", actor, file=f.path, problem=(f.problem or "")[:300],
                                done="deleted; rebuilt from the kept photos") for f in deleted]
        with gallery.lock():
            for check in deleted:
                if check.file is not None:
                    check.file.unlink(missing_ok=True)
                log.info("repair: deleted %s (%s)", check.path, check.problem)
        for record in records:
            append_audit(settings, record)
        _rebuild(settings, actor, deleted)
    return report


def _aside_name(path: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
    return target


def _move_aside(settings, actor: Actor, check: FileCheck) -> None:
    if check.file is None:
        return
    target = _aside_name(check.file)
    shown = _label(settings, target) if check.kind == "settings" else str(Path(check.path).with_name(target.name))
    record = audit_record("repair", actor, file=check.path, problem=(check.problem or "")[:300],
                          done=f"moved aside to {shown}")
    if check.kind == "calibration":
        with Gallery(settings.gallery_path).lock():
            os.replace(check.file, target)
    else:
        os.replace(check.file, target)
        get_settings.cache_clear()
    append_audit(settings, record)
    check.status = REPAIRED
    check.repair = f"moved aside to {shown}; the defaults apply" + (
        " (calibrate again with `python -m core calibrate`)" if check.kind == "calibration" else "")
    log.info("repair: %s", check.repair)


def _rebuild(settings, actor: Actor, deleted: list[FileCheck]) -> None:
    from core.engine import FaceEngine

    try:
        engine = FaceEngine(settings, load_emotion=False)
        added = engine.ensure_gallery_embeddings()
    except FaceDashError as exc:
        for check in deleted:
            check.status = MANUAL
            check.repair = (f"deleted; rebuilding failed ({exc}); the kept photos are re-embedded when the engine "
                            "next starts, or run `python -m core check --repair` again once that is fixed")
            audit(settings, "repair", actor, outcome="failed", file=check.path, error=str(exc)[:300])
        return
    for check in deleted:
        check.status = REPAIRED
        if check.model == engine.embedder.key:
            check.repair = f"deleted; rebuilt from the kept photos ({added} embedded with {check.model})"
        else:
            check.repair = (f"deleted; {check.model} is not the recognition model in use ({engine.embedder.key}): it "
                            "re-embeds the kept photos when it is next used")
