"""``anomalyd.service.remote_write_client``: what backfill sends, and how it retries, against a
small real HTTP receiver on localhost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cramjam
import numpy as np
import pytest

from anomalyd.service.backfill_output import Scored
from anomalyd.service.prompb import remote_write_v1_pb2 as pb
from anomalyd.service.remote_write_client import RemoteWriteError, send


class Receiver(ThreadingHTTPServer):
    """Answers the statuses in ``answers`` in turn (then 204), keeping every body."""

    def __init__(self, answers: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.bodies: list[pb.WriteRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1/write"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.answers.pop(0) if self.server.answers else 204
        if status == 204:
            raw = bytes(cramjam.snappy.decompress_raw(body))
            self.server.bodies.append(pb.WriteRequest.FromString(raw))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"" if status == 204 else b"sample out of bounds")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(list(getattr(request, "param", [])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _scored(n: int) -> Scored:
    score = np.linspace(0, 2, n)
    score[:3] = np.nan  # warm-up: no sample
    return Scored("web", 1.7e9 + 60 * np.arange(n), np.zeros((n, 1)), score * 10, score)


def test_each_series_goes_as_two_gauges_in_batches(receiver: Receiver) -> None:
    send(receiver.url, "mad", [_scored(25)], batch=10)
    got = [(ts.labels, ts.samples) for req in receiver.bodies for ts in req.timeseries]
    assert len(got) == 6  # 22 samples of each gauge in batches of 10
    names = [[(lb.name, lb.value) for lb in labels] for labels, _ in got]
    assert names[0] == [("__name__", "anomaly_score"), ("detector", "mad"), ("series", "web")]
    assert names[3][0] == ("__name__", "anomaly_raw_score")
    stamps = [s.timestamp for _, samples in got[:3] for s in samples]
    assert stamps == [round((1.7e9 + 60 * i) * 1000) for i in range(3, 25)]
    assert [s.value for s in got[0][1]][:2] == list(np.linspace(0, 2, 25)[3:5])


@pytest.mark.parametrize("receiver", [[503, 429]], indirect=True)
def test_unavailable_and_throttled_answers_are_retried(receiver: Receiver) -> None:
    waits: list[float] = []
    send(receiver.url, "mad", [_scored(5)], sleep=waits.append)
    assert waits == [1.0, 2.0] and len(receiver.bodies) == 2


@pytest.mark.parametrize("receiver", [[400]], indirect=True)
def test_a_refusal_stops_with_the_receivers_words_and_a_hint(receiver: Receiver) -> None:
    with pytest.raises(RemoteWriteError, match="refused the scores of series 'web': 400") as exc:
        send(receiver.url, "mad", [_scored(5)], sleep=lambda s: None)
    assert "out_of_order_time_window" in str(exc.value) and receiver.bodies == []


@pytest.mark.parametrize("receiver", [[503] * 3], indirect=True)
def test_retries_give_up_after_the_last(receiver: Receiver) -> None:
    with pytest.raises(RemoteWriteError, match="503"):
        send(receiver.url, "mad", [_scored(5)], retries=2, sleep=lambda s: None)
