"""ASGI middleware for compressed REST bodies: ``Content-Encoding: gzip`` is inflated (at most
``max_bytes`` after inflation, else 413) before the app parses the JSON; any other encoding is
refused with 415 saying what to send. Remote-write (``/api/v1/write``) keeps its own snappy
decoding and passes untouched. Runs inside ``BodyLimitMiddleware``, which has already bounded
and buffered the compressed body."""

from __future__ import annotations

import zlib

from anomalyd.service.limits import ASGIApp, Receive, Scope, Send, read_body, replay, reply

REMOTE_WRITE_PATH = "/api/v1/write"
GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data


class TooLarge(ValueError):
    """The inflated body is over the limit."""


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """The inflated ``data`` (one gzip member or several in a row). Raises TooLarge past
    ``max_bytes``, zlib.error for data that is not gzip or is cut short."""
    out = bytearray()
    while data:
        member = zlib.decompressobj(GZIP_WBITS)
        out += member.decompress(data, max_bytes - len(out) + 1)
        if len(out) > max_bytes:
            raise TooLarge
        if not member.eof:
            raise zlib.error("the gzip data ends before its end marker")
        data = member.unused_data
    return bytes(out)


def _encoding(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"content-encoding":
            return str(value.decode("latin-1").strip().lower())
    return "identity"


def _without_encoding(scope: Scope, length: int) -> Scope:
    """``scope`` with no Content-Encoding and the inflated body's Content-Length."""
    kept = [
        (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
    ]
    return {**scope, "headers": [*kept, (b"content-length", b"%d" % length)]}


class BodyEncodingMiddleware:
    """Inflates gzip request bodies (at most ``max_bytes``) and refuses other encodings."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        encoding = _encoding(scope) if scope["type"] == "http" else "identity"
        if encoding == "identity" or scope["path"] == REMOTE_WRITE_PATH:
            await self.app(scope, receive, send)
            return
        if encoding != "gzip":
            await reply(
                send,
                415,
                f"Content-Encoding {encoding!r} is not supported; send the "
                "body uncompressed or gzip-compressed (Content-Encoding: gzip).",
            )
            return
        await self._inflated(scope, receive, send)

    async def _inflated(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = gunzip(await read_body(receive, None) or b"", self.max_bytes)
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
