"""ASGI middleware for compressed REST bodies: ``Content-Encoding: gzip`` (or ``x-gzip``) is
inflated, within the same byte limit as a plain body (else 413), off the event loop, before the
app parses the JSON; any other coding is refused with 415 saying what to send. Requests without
a body pass untouched, and so does remote-write (``.../api/v1/write``), which decodes its own
snappy. Runs inside ``BodyLimitMiddleware``, which has already bounded and buffered the
compressed body."""

from __future__ import annotations

import zlib

from anyio import to_thread

from anomalyd.service.limits import ASGIApp, Receive, Scope, Send, read_body, replay, reply
from anomalyd.service.routers.remote_write import PATH as REMOTE_WRITE_PATH

GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data
GZIP_NAMES = {"gzip", "x-gzip"}  # RFC 9110 8.4.1.3: x-gzip is gzip
BODY_HEADERS = (b"content-encoding", b"content-length", b"transfer-encoding")


class TooLarge(ValueError):
    """The inflated body is over the limit."""


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """The inflated ``data``: one gzip member, optionally followed by zero bytes (padding).
    Raises TooLarge past ``max_bytes``, zlib.error for data that is not one gzip member (or
    has anything after it) or is cut short."""
    member = zlib.decompressobj(GZIP_WBITS)
    out = member.decompress(data, max_bytes + 1)
    if len(out) > max_bytes:
        raise TooLarge
    if not member.eof:
        raise zlib.error("the gzip data ends before its end marker")
    if member.unused_data.strip(b"\0"):
        raise zlib.error("data follows the gzip stream's end; send one gzip stream")
    return out


def codings(scope: Scope) -> list[str]:
    """The body's content codings, in the order applied (every Content-Encoding header,
    comma-separated lists split, ``identity`` and empty entries left out)."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"content-encoding"]
    named = [c.strip().lower() for v in values for c in v.split(",")]
    return [c for c in named if c not in ("", "identity")]


def has_body(scope: Scope) -> bool:
    """Whether the request says it carries a body (a chunked one, or a non-zero length)."""
    headers = dict(scope.get("headers", []))
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0") != b"0"


def _without_encoding(scope: Scope, length: int) -> Scope:
    """``scope`` with no Content-Encoding and the inflated body's Content-Length."""
    kept = [(k, v) for k, v in scope["headers"] if k not in BODY_HEADERS]
    return {**scope, "headers": [*kept, (b"content-length", b"%d" % length)]}


def _passes(scope: Scope) -> bool:
    if scope["type"] != "http" or not has_body(scope):
        return True
    return str(scope["path"]).rstrip("/").endswith(REMOTE_WRITE_PATH) or not codings(scope)


class BodyEncodingMiddleware:
    """Inflates gzip request bodies (at most ``max_bytes``) and refuses other codings."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _passes(scope):
            await self.app(scope, receive, send)
            return
        named = codings(scope)
        if len(named) > 1 or named[0] not in GZIP_NAMES:
            await reply(
                send,
                415,
                f"Content-Encoding {', '.join(named)!r} is not supported; "
                "send the body uncompressed or gzip-compressed once "
                "(Content-Encoding: gzip).",
            )
            return
        await self._inflated(scope, receive, send)

    async def _inflated(self, scope: Scope, receive: Receive, send: Send) -> None:
        data = await read_body(receive, None) or b""
        try:
            body = await to_thread.run_sync(gunzip, data, self.max_bytes)
        except TooLarge:
            await reply(
                send,
                413,
                f"The gzip body inflates past the limit of {self.max_bytes} "
                "bytes; split the data into smaller requests.",
            )
            return
        except zlib.error as exc:
            await reply(
                send,
                400,
                f"The body is not valid gzip ({exc}); compress it with "
                "gzip, or send it uncompressed without Content-Encoding.",
            )
            return
        await self.app(_without_encoding(scope, len(body)), replay(body, receive), send)
