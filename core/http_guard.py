"""Limits that hold whatever a client sends, in front of the HTTP API (plain ASGI, no FastAPI needed).

- **Body size while streaming**: a ``Content-Length`` over the limit is refused before one byte is read; a body
  without one (chunked) is counted as it arrives and refused (413) as soon as it passes the limit, so a 2 GB body
  costs no more than the limit in disk or time.
- **Slow clients**: every read of the body must arrive within ``receive_timeout_s`` (408 otherwise).
- **Keys first**: with ``authorize``, a request without a valid key (401), over its key's rate (429) or outside
  its key's scopes (403) is refused before its body is read.
- **Keys only in the header**: a request that carries an API key in its query string is refused (400) and the
  access log never shows query strings (:class:`RedactQueryFilter`).
- **No server paths** in what a client reads (:func:`public_message`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Query parameters that look like credentials: refused, so a key never lands in a URL, a log or a proxy's cache.
KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "x-api-key", "x_api_key", "token", "access_token"})
#: Multipart framing around an upload (boundaries, part headers): allowed on top of the file-size limit.
MULTIPART_OVERHEAD = 64 * 1024
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:])(?:/[^\s/'\"():,;]+)+/([^\s/'\"():,;]+)")


def public_message(message: str) -> str:
    """``message`` with absolute paths cut to their last part (``/srv/data/gallery/x.npz`` -> ``x.npz``)."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


class Refusal(Exception):
    """An answer the guard gives instead of the app: status, error kind, message, extra headers."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers or {}


#: ``authorize(scope)`` returns None to let the request through, or the Refusal to answer with.
Authorize = Callable[[Scope], Refusal | None]


class RequestGuard:
    """ASGI middleware: body-size limit while streaming, a per-read timeout, no credentials in query strings."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, receive_timeout_s: float = 30.0, limit_mb: int = 0,
                 authorize: Authorize | None = None) -> None:
        self.app = app
        self.authorize = authorize
        self.max_body_bytes = max_body_bytes + MULTIPART_OVERHEAD
        self.receive_timeout_s = receive_timeout_s
        self.limit_mb = limit_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_head(scope)
        except Refusal as refused:
            await _answer(send, refused)
            return
        state: dict[str, Any] = {"received": 0, "refused": None, "started": False}

        async def guarded_receive() -> Message:
            try:
                message = await asyncio.wait_for(receive(), self.receive_timeout_s)
            except TimeoutError:
                state["refused"] = Refusal(408, "RequestTimeout", f"the request body did not arrive within "
                                                                   f"{self.receive_timeout_s:.0f} s; send it faster")
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_body_bytes:
                    state["refused"] = self._too_large(read=True)
                    return {"type": "http.disconnect"}  # the app stops reading; the guard answers
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"] is not None:
                return  # the app's answer to a cut-off body is replaced by the guard's
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if state["refused"] is None:
                raise
        if state["refused"] is not None and not state["started"]:
            await _answer(send, state["refused"])

    def _too_large(self, read: bool = False) -> Refusal:
        return Refusal(413, "UploadTooLargeError", f"the request is over the {self.limit_mb} MB upload limit; "
                        + ("reading stopped there" if read else "nothing was read"))

    def _check_head(self, scope: Scope) -> None:
        query = scope.get("query_string", b"").decode("latin-1").lower()
        names = {part.split("=", 1)[0] for part in query.split("&") if part}
        if names & KEY_PARAMETERS:
            raise Refusal(400, "CredentialInURL", "send the API key in the X-API-Key header, never in the URL "
                                                   "(URLs are logged and cached); this request was not processed")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise Refusal(400, "BadRequest", "the Content-Length header is not a number") from None
                if length > self.max_body_bytes:
                    raise self._too_large()
        # who may send a body is decided before any of it is read (a bad body must not hide a missing key)
        if self.authorize is not None and (refusal := self.authorize(scope)) is not None:
            raise refusal


async def _answer(send: Send, refused: Refusal) -> None:
    body = json.dumps({"error": str(refused), "kind": refused.kind}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in refused.headers.items()]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RedactQueryFilter(logging.Filter):
    """Drops query strings from uvicorn's access-log lines (they could carry credentials or names)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True
