"""What the service core refuses to do, in its own terms. The core (engine, scheduler, series
configuration, parsing and decoding of writes) raises these; ``anomalyd.service.errors`` answers
each kind with an HTTP status at the edge, and the CLI prints its ``detail``.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request the core will not carry out; nothing was changed. ``detail`` says what to fix;
    ``retry_after`` (seconds) is set when retrying later will do."""

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class InvalidInput(Refusal):
    """Values, timestamps, settings or parameters the client can correct."""


class MalformedBody(Refusal):
    """A body that is not what its protocol says (not snappy, not protobuf, empty)."""


class TooLarge(Refusal):
    """More points, samples or bytes than the service's limits allow in one request."""


class UnknownSeries(Refusal, LookupError):
    """No series has this id."""


class ConflictingChange(Refusal):
    """The change contradicts what is stored (a stored point would change, a series was
    deleted meanwhile)."""


class Overloaded(Refusal):
    """The scoring queue is full; ``retry_after`` says when to retry."""


class NotRunning(Refusal):
    """The engine or its scheduler is starting or stopping."""
