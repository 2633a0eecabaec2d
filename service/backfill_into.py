"""History sent into a running anomalyd (``anomalyd backfill --format anomalyd --output URL``).

Each series is created (or reconfigured) with the backfill's configuration
(``PUT /v1/series/{id}``: detector, parameters, training span, refit period, quantile) and its
points are written over the REST API (``POST /v1/series/{id}/points``, 10,000 a request), so
the service scores them itself, as it would have live: the same scores as a file backfill
(streaming == batch), and the series then lives on in the service and its dashboard. Writing
the same points again is harmless (the service keeps a point once), which ``--resume``
relies on. A series that already holds points scored under other settings is refused before
anything is sent: reconfiguring it would keep those scores. A 429 or 503 is retried after the
service's ``Retry-After``; any other refusal stops the run with the service's message. A write
token is read from ``ANOMALYD_API_TOKEN``, the variable the service itself reads.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import httpx
import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.service.parsing import REMOTE_WRITE_ID, SERIES_ID
from anomalyd.service.series import SeriesConfig

FloatArray = npt.NDArray[np.float64]
CHUNK = 10_000
RETRIED = frozenset({429, 503})
SETTINGS = ("detector", "params", "train_points", "refit_every", "quantile")
"""The series settings a backfill sets (the fields of ``PUT /v1/series/{id}`` it sends)."""


class IntoError(ValueError):
    """The service refused a series or its points, or could not be reached."""


def check_names(names: list[str]) -> None:
    """Raise IntoError naming every series whose name is not a valid series id, or has the
    form only remote-write may write to."""
    bad = [n for n in names if not SERIES_ID.match(n)]
    kept = [n for n in names if REMOTE_WRITE_ID.match(n)]
    why = []
    if bad:
        why.append(
            f"series {bad[:5]} cannot be series ids of anomalyd (a letter or digit, then up to "
            "199 letters, digits, '_', '.', ':' or '-')"
        )
    if kept:
        why.append(
            f"series {kept[:5]} have the form of remote-write series ids ('rw-' and 20 hex "
            "digits), which anomalyd keeps for series that arrive by Prometheus remote-write"
        )
    if why:
        raise IntoError("; ".join(why) + ". Rename them (the file, or the `series` column).")


class Service:
    """A running anomalyd at ``url`` (its base URL, such as ``http://host:8080``)."""

    def __init__(self, url: str, sleep: Callable[[float], None] = time.sleep) -> None:
        token = os.environ.get("ANOMALYD_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60.0)
        self._sleep = sleep

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def check_settings(self, name: str, config: SeriesConfig) -> bool:
        """Whether series ``name`` already holds points under ``config``'s settings (then it
        needs no PUT, which could drop its model). Raises IntoError when it holds points under
        other settings: a PUT would keep its stored scores, not re-score them."""
        answer = self._call("GET", f"/v1/series/{name}", None, missing_ok=True)
        if not answer or not answer["points"]:
            return False
        there, here = _comparable(answer), _comparable(_settings(config))
        other = [f"{k} {there[k]!r} there, {v!r} here" for k, v in here.items() if there[k] != v]
        if other:
            raise IntoError(
                f"series {name!r} already holds {answer['points']} points in anomalyd, under "
                f"other settings ({'; '.join(other)}); they would keep their scores. Delete it "
                f"first (DELETE /v1/series/{name}), rename the series, or backfill with its "
                "settings (--detector, --param, --fit-window, --fit-every; the quantile is "
                "ANOMALYD_DEFAULT_QUANTILE's)."
            )
        return True

    def send(
        self, name: str, config: SeriesConfig | None, ts: FloatArray, values: FloatArray
    ) -> None:
        """Configure series ``name`` (unless ``config`` is None) and write its points (``ts``
        (n,) in seconds, ``values`` (n, n_channels)). Raises IntoError."""
        if config is not None:
            self._call("PUT", f"/v1/series/{name}", _settings(config))
        cells = values[:, 0].tolist() if values.shape[1] == 1 else values.tolist()
        for start in range(0, len(ts), CHUNK):
            part = {"timestamps": ts[start : start + CHUNK].tolist()}
            part["values"] = cells[start : start + CHUNK]
            self._call("POST", f"/v1/series/{name}/points", part)

    def progress(self, name: str) -> tuple[int, int]:
        """Points of series ``name`` with final scores, and points still waiting for theirs.
        Raises IntoError."""
        info = self._call("GET", f"/v1/series/{name}", None)
        return int(str(info["scored"])), int(str(info["pending"]))

    def wait(self, name: str, poll: float = 0.5) -> int:
        """Wait until series ``name`` has no point waiting for its score; its scored points."""
        scored, pending = self.progress(name)
        while pending:
            self._sleep(poll)
            scored, pending = self.progress(name)
        return scored

    def _call(
        self, method: str, path: str, body: object, *, missing_ok: bool = False
    ) -> dict[str, object]:
        """The service's JSON answer (``{}`` for a 404 when ``missing_ok``). Raises IntoError."""
        for _ in range(30):
            try:
                answer = self._client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise IntoError(f"cannot reach anomalyd at {self._client.base_url}: {exc}") from exc
            if answer.status_code not in RETRIED:
                break
            self._sleep(float(answer.headers.get("Retry-After", 1)))
        if missing_ok and answer.status_code == 404:
            return {}
        if not answer.is_success:
            raise IntoError(
                f"anomalyd at {self._client.base_url} refused {method} {path}: "
                f"{answer.status_code} {answer.text.strip()[:300]}"
            )
        result: dict[str, object] = answer.json() if answer.content else {}
        return result


def _settings(config: SeriesConfig) -> dict[str, object]:
    """The body of ``PUT /v1/series/{id}`` for ``config``."""
    return {k: getattr(config, k) for k in SETTINGS}


def _comparable(settings: dict[str, object]) -> dict[str, object]:
    """The PUT settings in ``settings``, parameters with the detector's defaults filled in
    (``{}`` and ``{"window": 64}`` are the same settings of ``mad``)."""
    out = {k: settings[k] for k in SETTINGS}
    params = settings["params"]
    with contextlib.suppress(KeyError, TypeError, ValueError):  # else compared as they are
        if isinstance(params, dict):
            out["params"] = registry.create(str(settings["detector"]), params).get_params()
    return out
