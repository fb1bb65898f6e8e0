"""Input limits, checked once: upload size and type. Every front-end calls these (one message per problem)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, BinaryIO, Literal

from core.errors import ImageError
from core.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES

UploadKind = Literal["photo", "video"]
#: Free-text fields (consent text, purpose descriptions) are at most this long; names and ids shorter.
MAX_TEXT = 500
MAX_NAME = 100


class UploadTooLargeError(ImageError):
    http_status = 413


#: Control characters and the invisible ones that reorder or hide text (bidi overrides, zero-width, BOM).
#: Lone surrogates are bytes that were not valid UTF-8 in a command-line argument (Python keeps them escaped).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_CONTROL = CONTROL_CHARACTERS


def safe_name(name: str | None, default: str = "upload") -> str:
    """A client's file name fit to echo in a message or a log: last path part, no control or direction-changing
    characters, at most 120 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _CONTROL.sub("?", base).strip()[:120]
    return cleaned or default


def upload_limit_bytes(settings) -> int:
    return int(settings.max_upload_mb) * 1_000_000


def check_upload_size(name: str, size: int, settings) -> None:
    """Refuse an empty upload or one over ``settings.max_upload_mb`` (the one message for every front-end)."""
    if size <= 0:
        raise ImageError(f"{name}: file is empty (0 bytes)")
    if size > upload_limit_bytes(settings):
        raise UploadTooLargeError(
            f"{name}: file is {size / 1e6:.1f} MB, over the {settings.max_upload_mb} MB upload limit")


def upload_kind(name: str) -> UploadKind:
    """``photo`` or ``video`` from the file name, or an ImageError listing what is accepted."""
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "photo"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    raise ImageError(
        f"{name}: unsupported file type {suffix or '(no extension)'}; upload a photo "
        f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a video ({', '.join(sorted(VIDEO_SUFFIXES))})"
    )


def read_limited(stream: BinaryIO, name: str, settings) -> bytes:
    """Read a whole upload from ``stream``, refusing it as soon as it passes the limit (never more is read)."""
    limit = upload_limit_bytes(settings)
    data = stream.read(limit + 1)
    if len(data) > limit:  # only limit + 1 bytes were read: the real size is unknown, and not worth reading
        raise UploadTooLargeError(f"{name}: file is over the {settings.max_upload_mb} MB upload limit")
    check_upload_size(name, len(data), settings)
    return data


def copy_limited(stream: BinaryIO, target: IO[bytes], name: str, settings, chunk: int = 1 << 20) -> int:
    """Copy an upload to ``target`` in chunks, refusing it as soon as it passes the limit; returns bytes copied."""
    limit = upload_limit_bytes(settings)
    copied = 0
    while block := stream.read(chunk):
        copied += len(block)
        if copied > limit:
            raise UploadTooLargeError(f"{name}: file is over the {settings.max_upload_mb} MB upload limit")
        target.write(block)
    check_upload_size(name, copied, settings)
    return copied


def read_file_limited(path: Path, settings) -> bytes:
    """A file from disk (CLI inputs), with the same limit and messages as an upload."""
    from core.images import read_bytes

    data = read_bytes(path)
    check_upload_size(str(path), len(data), settings)
    return data


def check_text(field: str, value: str | None, limit: int = MAX_TEXT, required: bool = True,
               multiline: bool = False) -> str:
    """A stripped free-text value, or a FaceDashError naming the field and what is wrong (empty, too long, control
    characters; ``multiline`` texts may hold line breaks and tabs)."""
    from core.errors import FaceDashError

    text = (value or "").strip()
    if required and not text:
        raise FaceDashError(f"{field} is required")
    if len(text) > limit:
        raise FaceDashError(f"{field} is {len(text)} characters long; at most {limit} are accepted")
    allowed = "\n\t" if multiline else ""
    if any(c not in allowed and _CONTROL.match(c) for c in text):
        raise FaceDashError(f"{field} holds control or text-direction characters; use plain text")
    return text
