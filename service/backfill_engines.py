"""Where ``anomalyd backfill`` scores its series: local worker processes or a Ray cluster.

Both score each series whole with the same function (``anomalyd.service.backfill.score``), so
the results are the same whichever runs them; they only differ in where the work happens.

* ``local`` (default): ``jobs`` processes on this machine (``jobs`` = 1: in this process).
* ``ray``: one actor per ``jobs`` (default: every CPU of the cluster) on a Ray cluster
  (``address``; none: a Ray instance started here for the run). Each actor builds the
  detector once and, for ``themis``, loads the encoder once, then scores series after series;
  it takes a GPU when the cluster has one and the detector can use it. Needs the ``ray`` extra
  (``pip install 'anomalyd[ray]'``) here and anomalyd installed on every node.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from anomalyd.service.backfill_output import Scored

S = TypeVar("S")
ENGINES = ("local", "ray")
GPU_DETECTORS = ("themis",)


class EngineError(ValueError):
    """An engine that cannot run here (unknown, Ray missing or unreachable)."""


@dataclass(frozen=True)
class Engine:
    """``name`` (``local`` or ``ray``), ``jobs`` (processes or actors; None: the engine's
    default) and, for Ray, the cluster ``address`` (None: start one here)."""

    name: str = "local"
    jobs: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise EngineError(f"--engine must be local or ray. Got {self.name!r} instead.")
        if self.address is not None and self.name != "ray":
            raise EngineError("--address is the Ray cluster's: use it with --engine ray.")


def scored(
    engine: Engine, series: Sequence[S], job: Callable[[S], Scored], detector: str
) -> Iterator[Scored]:
    """``job`` of each series, in order. Raises EngineError when the engine cannot start, and
    what ``job`` raises (the first failing series')."""
    if engine.name == "ray":
        yield from _ray(engine, series, job, detector)
        return
    yield from _local(engine.jobs or 1, series, job)


def _local(jobs: int, series: Sequence[S], job: Callable[[S], Scored]) -> Iterator[Scored]:
    """In ``jobs`` worker processes, stopped at once (``terminate``) when the run stops early
    (a bad series, Ctrl-C, SIGTERM). Spawned, not forked: a fork copies the locks of the
    parent's threads (numba's and torch's pools, once this process has scored) and can hang."""
    if jobs <= 1:
        yield from map(job, series)
        return
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker) as pool:
        yield from pool.imap(job, series)


def _worker() -> None:
    """Workers die on SIGTERM (``terminate``), whatever handler the parent had, and share the
    cores: one BLAS / OpenMP thread (as Ray's ``OMP_NUM_THREADS=1`` gives its one-CPU actors:
    the variables for libraries loaded later, ``threadpoolctl`` for those loaded already) and
    one torch thread each."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    import torch
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threadpool_limits(1)
    torch.set_num_threads(1)


class _Scorer:
    """A Ray actor: the job and its detector, ready (see the module docstring)."""

    def __init__(self, job: Callable[[Any], Scored], detector: str) -> None:
        self._job = job
        if detector == "themis":
            from anomalyd.detectors import _chronos
            from anomalyd.detectors.themis import Themis

            model = Themis()
            _chronos.encoder(model.model, model.device)  # loaded once per actor

    def score(self, src: Any) -> Scored:
        return self._job(src)


def _ray(
    engine: Engine, series: Sequence[S], job: Callable[[S], Scored], detector: str
) -> Iterator[Scored]:
    ray = _import_ray()
    started = _start_ray(ray, engine)
    actors: list[Any] = []
    try:
        n = engine.jobs or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        gpu = 1 if detector in GPU_DETECTORS and ray.cluster_resources().get("GPU", 0) else 0
        actor = ray.remote(num_cpus=1, num_gpus=gpu)(_Scorer)
        actors = [actor.remote(job, detector) for _ in range(min(n, max(len(series), 1)))]
        pool = ray.util.ActorPool(actors)
        results = pool.map(lambda a, src: a.score.remote(src), list(series))
        yield from _unwrapped(ray, results)
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()


def _unwrapped(ray: Any, results: Iterator[Scored]) -> Iterator[Scored]:
    """The results, with a failed task's own exception raised instead of Ray's wrapper."""
    try:
        yield from results
    except ray.exceptions.RayTaskError as exc:
        raise exc.cause from None


def _import_ray() -> Any:
    try:
        import ray
        import ray.util
    except ImportError as exc:
        raise EngineError("--engine ray needs Ray: pip install 'anomalyd[ray]'.") from exc
    return ray


def _start_ray(ray: Any, engine: Engine) -> bool:
    """Connect to the cluster, or start a Ray instance here; whether this call started it."""
    if ray.is_initialized():
        return False
    local = engine.address is None
    ours = signal.getsignal(signal.SIGTERM)  # Ray installs its own; the command's stays
    try:
        ray.init(
            address=engine.address,
            num_cpus=engine.jobs if local else None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise EngineError(f"cannot reach the Ray cluster at {engine.address}: {exc}") from exc
    finally:
        signal.signal(signal.SIGTERM, ours)
    return True
