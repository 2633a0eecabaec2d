"""ASGI middleware that refuses request bodies over a byte limit with 413 before parsing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def reply(send: Send, status: int, detail: str) -> None:
    """Answer ``status`` with the JSON ``{"detail": detail}``, as the app's errors read."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            return int(value)
    return None


class BodyLimitMiddleware:
    """Buffers the body (at most ``max_bytes``) and replays it; larger bodies get 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return (
            f"The request body is larger than the limit of {self.max_bytes} bytes; "
            "split the data into smaller requests."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = _declared_length(scope)
        except ValueError:
            await reply(send, 400, "The Content-Length header is not an integer.")
            return
        if declared is not None and declared > self.max_bytes:
            await reply(send, 413, self._too_large())
            return
        body = await read_body(receive, self.max_bytes)
        if body is None:
            await reply(send, 413, self._too_large())
            return
        await self.app(scope, replay(body, receive), send)


async def read_body(receive: Receive, max_bytes: int | None) -> bytes | None:
    """The whole request body; None once it is over ``max_bytes`` (None: no limit)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` whole first, then defers to ``receive``."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
