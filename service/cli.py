"""The `anomalyd` command line: serve, evaluate, detectors, demo."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

if TYPE_CHECKING:
    from anomalyd.service.evaluation import ServiceSchedule
    from anomalyd.service.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(width=200)
errors = Console(stderr=True, width=200)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; values parsed as JSON when they parse (numbers, booleans), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param takes key=value; got {pair!r}.")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr (no traceback) and exit with status 2."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(2)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: stop the way Ctrl-C does (KeyboardInterrupt: clean-up runs)."""
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """Inside, SIGTERM stops the command as Ctrl-C does: worker pools are shut down and
    clean-up runs (a job scheduler's or `timeout`'s stop leaves no stray worker behind)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def checked_runs(names: list[str], params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(detector, its parameters) per name, each validated before any work starts; an unknown
    detector or a parameter it refuses ends the command with the detector's message."""
    from anomalyd.detectors import registry

    runs = [(n, params_for(n, params)) for n in names]
    for key in params:
        prefix = key.partition(".")[0]
        if "." in key and prefix not in names:
            fail(f"--param {key}: {prefix!r} is not a detector of this run ({', '.join(names)}).")
    for name, own in runs:
        try:
            det = registry.create(name, own)
            det.validate_params()
        except ValueError as exc:
            fail(str(exc))
        with _missing_weights_fail():
            det.load_weights()  # before the suite is read: a missing model is named at once
    return runs


def _load_weights(name: str, params: dict[str, Any]) -> None:
    """Load the pretrained weights detector ``name`` needs, if any, before any work; missing
    ones end the command (a detector or parameter it refuses is reported by the run)."""
    from anomalyd.detectors import registry

    try:
        det = registry.create(name, params)
        det.validate_params()
    except ValueError:
        return
    with _missing_weights_fail():
        det.load_weights()


@contextlib.contextmanager
def _missing_weights_fail() -> Iterator[None]:
    """Missing model weights or a missing optional extra end the command with their message."""
    from anomalyd.detectors._chronos import ModelUnavailableError

    try:
        yield
    except (ModelUnavailableError, ValueError) as exc:  # ValueError: e.g. no CUDA for "cuda"
        fail(str(exc))
    except ImportError as exc:
        if exc.name is not None:  # a module of ours that does not import: a bug, not a usage error
            raise
        fail(str(exc))  # an optional extra not installed (the message names it)


def params_for(detector: str, params: dict[str, Any]) -> dict[str, Any]:
    """`k=v` applies to every detector; `name.k=v` only to detector `name`."""
    out = {k: v for k, v in params.items() if "." not in k}
    prefix = f"{detector}."
    out.update({k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)})
    return out


class Schedule(StrEnum):
    """How `anomalyd evaluate` scores the rows after the training prefix."""

    prefix = "prefix"
    service = "service"


@app.command()
def evaluate(
    suite: Annotated[Path, typer.Option(help="benchmark folder (manifest.json) or CSV folder")],
    output: Annotated[Path, typer.Option(help="where to write results.json")] = Path(
        "results.json"
    ),
    detector: Annotated[list[str] | None, typer.Option(help="detector name (repeatable)")] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="detector parameter k=v, or name.k=v for one detector")
    ] = None,
    train_fraction: Annotated[float | None, typer.Option(help="for CSV folders")] = None,
    quantile: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="calibration quantile (alert line)")
    ] = 0.995,
    univariate_only: Annotated[bool, typer.Option(help="skip multivariate series")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="worker processes (series in parallel)")] = 1,
    match: Annotated[str | None, typer.Option(help="only series whose name contains this")] = None,
    anomalous_only: Annotated[
        bool, typer.Option(help="skip series without a labelled anomaly after train_end")
    ] = True,
    store: Annotated[
        Path | None,
        typer.Option(
            help="also store the run in this data dir (the service's --data-dir), for the "
            "dashboard's leaderboard"
        ),
    ] = None,
    schedule: Annotated[
        Schedule,
        typer.Option(
            help="prefix: one model fitted on the training prefix; service: refit as the "
            "service does (slower: one fit per refit)"
        ),
    ] = Schedule.prefix,
    fit_window: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000,
            help="with --schedule service: training span in points (a suite has no time axis)",
        ),
    ] = None,
    fit_every: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=1_000_000,
            help="with --schedule service: refit period in points (0: no refits once the span "
            "is full)",
        ),
    ] = None,
) -> None:
    """Evaluate detectors on a labelled suite; print a table and write results.json."""
    from anomalyd.detectors import DEFAULT_DETECTOR
    from anomalyd.service.evaluation import load_reference, run_suite
    from anomalyd.service.report import print_table
    from anomalyd.service.suite import load_suite

    runs = checked_runs(detector or [DEFAULT_DETECTOR], parse_params(param or []))
    refits = _service_schedule(schedule, fit_window, fit_every, runs, quantile)
    if output.is_dir() or not output.parent.is_dir():
        fail(f"--output {output}: needs a file name in an existing folder.")
    if store is not None:
        _check_store(store)
    try:
        series = load_suite(suite, train_fraction=train_fraction, univariate_only=univariate_only)
    except (OSError, ValueError) as exc:
        fail(str(exc))
    series = [
        s
        for s in series
        if (match is None or match in s.name)
        and (not anomalous_only or s.labels[s.train_end :].any())
    ]
    if not series:
        fail("no series left to evaluate after the filters.")
    with (
        _sigterm_as_ctrl_c(),
        _missing_weights_fail(),
        Progress(console=console, transient=True) as bar,
    ):
        task = bar.add_task("evaluating", total=len(series) * len(runs))
        scores: list[dict[str, Any]] | None = [] if store is not None else None
        try:
            doc = run_suite(
                series,
                runs,
                quantile=quantile,
                progress=lambda what: bar.update(task, advance=1, description=escape(what)),
                jobs=jobs,
                scores=scores,
                schedule=refits,
            )
        except KeyboardInterrupt:
            errors.print("interrupted; nothing written.", highlight=False)
            raise typer.Exit(130) from None
    output.write_text(json.dumps(doc, indent=1))
    reference = load_reference(suite)
    print_table(console, doc, series, reference)
    for run in doc["runs"]:
        _warn_failed(run)
    console.print(f"results written to {output}")
    if store is not None:
        _store_run(store, doc, suite, series, reference, scores or [])


def _service_schedule(
    schedule: Schedule,
    fit_window: int | None,
    fit_every: int | None,
    runs: list[tuple[str, dict[str, Any]]],
    quantile: float,
) -> ServiceSchedule | None:
    """The ``ServiceSchedule`` asked for (the service's defaults where a setting is not
    given), checked against every run's detector; None for ``--schedule prefix``."""
    from anomalyd.service.evaluation import ServiceSchedule

    if schedule is Schedule.prefix:
        if fit_window is not None or fit_every is not None:
            fail("--fit-window and --fit-every apply to --schedule service.")
        return None
    if fit_window is not None and fit_every is not None:
        refits, where = ServiceSchedule(fit_window, fit_every), f"--fit-window {fit_window}"
    else:
        refits, where = _with_defaults(fit_window, fit_every)
    for name, params in runs:
        _check_span(name, params, refits, quantile, where)
    return refits


def _with_defaults(fit_window: int | None, fit_every: int | None) -> tuple[ServiceSchedule, str]:
    """The schedule with the service's settings where an option is not given, and where its
    training span came from (for messages)."""
    from anomalyd.service.evaluation import ServiceSchedule

    base = service_settings().series_config()
    span = base.train_points if fit_window is None else fit_window
    every = base.refit_every if fit_every is None else fit_every
    given = fit_window is not None
    where = f"--fit-window {span}" if given else f"ANOMALYD_DEFAULT_TRAIN_POINTS={span}"
    return ServiceSchedule(span, every), where


def _check_span(
    name: str, params: dict[str, Any], refits: ServiceSchedule, quantile: float, where: str
) -> None:
    """Fail when the training span is shorter than detector ``name`` fits on."""
    from anomalyd.service.series import SeriesConfig
    from anomalyd.service.training import min_train_points

    config = SeriesConfig(name, params, refits.train_points, refits.refit_every, quantile)
    if (need := min_train_points(config)) > refits.train_points:
        fail(
            f"{where}: detector {name!r} fits on at least {need} points; raise --fit-window "
            "or lower its window."
        )


def service_settings() -> Settings:
    """The service's settings from ``ANOMALYD_*``; a refused one ends the command."""
    from anomalyd.service.settings import load_settings

    try:
        return load_settings()
    except ValueError as exc:  # pydantic's ValidationError or pydantic-settings' SettingsError
        fail(refused_settings(exc))


def refused_settings(exc: ValueError) -> str:
    """One line naming each refused ``ANOMALYD_*`` variable and why: from pydantic's
    ValidationError, or pydantic-settings' SettingsError (a value that is not JSON where
    JSON is due)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{_variable(e['loc'])}: {e['msg']}" for e in exc.errors())
    field = re.search(r'field "(\w+)"', str(exc))
    if field is None:
        return " ".join(str(exc).split())
    return f"{_variable((field.group(1),))}: not valid JSON"


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable of a settings field."""
    return "ANOMALYD_" + "_".join(map(str, loc)).upper()


def _check_store(store: Path) -> None:
    """Fail before evaluating when ``--store`` cannot take the run."""
    from anomalyd.service.evaluations import EvaluationStore

    if store.exists() and not store.is_dir():
        fail(f"--store {store}: is not a folder; give the service's data dir.")
    try:
        EvaluationStore(store).check_writable()
    except OSError as exc:
        fail(f"--store {store}: cannot be written ({exc.strerror or exc}).")


def _store_run(
    store: Path,
    doc: dict[str, Any],
    suite: Path,
    series: list[Any],
    reference: dict[str, dict[str, float]],
    scores: list[dict[str, Any]],
) -> None:
    """Keep the run in ``store``'s evaluations folder; say its id and where the leaderboard is."""
    from anomalyd.service.evaluations import EvaluationStore, series_arrays

    try:
        run_id = EvaluationStore(store).save(
            doc,
            suite=str(suite),
            sources={s.name: s.source for s in series},
            reference=reference,
            train_end={s.name: int(s.train_end) for s in series},
            arrays=series_arrays(series, scores),
        )
    except OSError as exc:
        fail(f"--store {store}: {exc.strerror or exc}")
    console.print(f"stored as evaluation {run_id} in {store} (dashboard: #/leaderboard)")


FAILURES = {
    "error": "could not be scored (not in the means)",
    "refit_error": "had a refit that failed (the model before it went on scoring, as in the "
    "service)",
}


def _warn_failed(run: dict[str, Any]) -> None:
    """Warnings naming how many series a run could not score, or scored with a failed refit,
    and the first reason."""
    for key, what in FAILURES.items():
        reasons = [v[key] for v in run["series"].values() if key in v]
        if reasons:
            errors.print(
                f"[yellow]warning:[/yellow] {run['detector']}: {len(reasons)} of "
                f"{len(run['series'])} series {what}; first: {escape(reasons[0])}",
                highlight=False,
            )


@app.command()
def backfill(
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="a .csv, .parquet or .om file, a remote-write URL, or an anomalyd URL",
        ),
    ],
    source: Annotated[
        list[Path] | None, typer.Argument(help="CSV or Parquet files, or folders of them")
    ] = None,
    detector: Annotated[str | None, typer.Option(help="detector (default: the service's)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="detector parameter k=v")] = None,
    fit_window: Annotated[
        str | None, typer.Option(help="training span: points or a duration such as 7d")
    ] = None,
    fit_every: Annotated[
        str | None, typer.Option(help="refit period: points or a duration such as 1d")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            min=1, help="series scored at a time: processes (default 1), or Ray actors (all CPUs)"
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="local (processes) or ray")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start Ray here)")
    ] = None,
    assume_utc: Annotated[
        bool, typer.Option(help="read times without a UTC offset as UTC")
    ] = False,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv, parquet, openmetrics, remote-write or anomalyd (default: from --output)",
        ),
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option(help="also read series from this Prometheus (base URL)")
    ] = None,
    query: Annotated[str | None, typer.Option(help="PromQL, with --prometheus")] = None,
    start: Annotated[str | None, typer.Option(help="RFC 3339 or unix seconds")] = None,
    end: Annotated[str | None, typer.Option(help="RFC 3339 or unix seconds")] = None,
    step: Annotated[str | None, typer.Option(help="duration such as 15s or 1m")] = None,
    train_end: Annotated[
        str | None,
        typer.Option(help="the first model trains on the rows before this row count or time"),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="continue an interrupted run: keep the series it scored")
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(help="keep progress metrics here (node_exporter's textfile collector)"),
    ] = None,
) -> None:
    """Score history as the live service would have scored it (same models, refits and alert
    line): CSV or Parquet files (one series per file, or long tables with a `series` column),
    and/or the series a Prometheus range query returns."""
    from anomalyd.service.backfill import BackfillError, Schedule, run

    range_query = _range_query(prometheus, query, start, end, step)
    if not source and range_query is None:
        fail("give CSV or Parquet sources, or --prometheus URL with --query/--start/--end/--step.")

    base = service_settings().series_config()
    params = params_for(detector or base.detector, parse_params(param)) if param else None
    schedule = Schedule(detector, params, fit_window, fit_every, train_end)
    if output_format != "anomalyd" and address is None:  # else the scoring happens elsewhere
        _load_weights(detector or base.detector, base.params if params is None else params)
    reports = _backfill_reports(output, metrics_file)
    with _sigterm_as_ctrl_c():  # cleaned up as Ctrl-C: no partial file
        try:
            with reports:
                summary = run(
                    source or [],
                    output,
                    base,
                    schedule,
                    engine=_engine(engine, jobs, address),
                    assume_utc=assume_utc,
                    progress=reports,
                    fmt=output_format,
                    prometheus=range_query,
                    resume=resume,
                )
            reports.finish()
        except (BackfillError, OSError) as exc:  # OSError: the output cannot be written
            fail(str(exc) + _kept(output, str(exc)))
        except KeyboardInterrupt:
            errors.print(f"interrupted.{_kept(output)}", highlight=False)
            raise typer.Exit(130) from None
    if summary.resumed:
        were = "was" if summary.resumed == 1 else "were"
        console.print(f"{summary.resumed} series {were} scored by the interrupted run and kept")
    why = (
        "it ends before its --train-end (give an earlier --train-end, or more history)"
        if train_end is not None
        else "it is shorter than its first training span (lower --fit-window, or give more history)"
    )
    for name in summary.unscored:
        console.print(f"[yellow]warning:[/yellow] series {escape(name)} got no score: {why}")
    verb = "sent" if output.lower().startswith(("http://", "https://")) else "written"
    console.print(f"{summary.points} points ({summary.scored} scored) {verb} to {output}")


def _engine(name: str, jobs: int | None, address: str | None) -> Any:
    """The engine the options ask for; a bad combination ends the command with its message."""
    from anomalyd.service.backfill_engines import Engine, EngineError

    try:
        return Engine(name, jobs, address)
    except EngineError as exc:
        fail(str(exc))


def _backfill_reports(output: str, metrics_file: Path | None) -> Any:
    """The progress bar on a terminal (log lines otherwise), and the metrics file if asked."""
    from anomalyd.service.backfill_progress import BarProgress, LogProgress, MetricsFile, Reports

    shown = BarProgress(console) if console.is_terminal else LogProgress(sys.stderr)
    try:
        metrics = [MetricsFile(metrics_file, output)] if metrics_file else []
    except ValueError as exc:
        fail(str(exc))
    return Reports(shown, *metrics)


def _kept(output: str, message: str = "") -> str:
    """What to do about the series an interrupted run kept (nothing when it kept none)."""
    from anomalyd.service.backfill import job_table

    table = job_table(output)
    if not table.exists():
        return ""
    if str(table) in message:  # the message is about the table itself
        return ""
    return (
        f" The series scored so far are kept in {table}: run the same command with --resume "
        "to continue."
    )


def _range_query(
    url: str | None, query: str | None, start: str | None, end: str | None, step: str | None
) -> Any:
    """The Prometheus range query the options ask for (None without --prometheus)."""
    from anomalyd.service.durations import duration_seconds
    from anomalyd.service.faults import Refusal
    from anomalyd.service.parsing import parse_query_time
    from anomalyd.service.prometheus_source import RangeQuery

    if url is None:
        if query or start or end or step:
            fail("--query, --start, --end and --step go with --prometheus URL.")
        return None
    if not (query and start and end and step):
        fail("--prometheus needs --query, --start, --end and --step.")
    try:
        lo, hi = parse_query_time(start, "--start"), parse_query_time(end, "--end")
        seconds = duration_seconds(step) if not step.replace(".", "", 1).isdigit() else float(step)
    except (Refusal, ValueError) as exc:
        fail(getattr(exc, "detail", str(exc)))
    return RangeQuery(url, query, float(lo or 0.0), float(hi or 0.0), seconds)


@app.command()
def detectors() -> None:
    """List the registered detectors and their parameters."""
    from anomalyd.detectors import registry

    for name in registry.names():
        cls = registry.get_class(name)
        console.print(f"[bold]{name}[/bold]  {(cls.__doc__ or '').strip().splitlines()[0]}")
        for p in cls.params:
            console.print(f"    {p.name} = {p.default!r}  ({p.describe()}): {p.doc}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8080,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="SQLite store directory", show_default="ANOMALYD_DATA_DIR, else data"),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP service (REST API, remote-write receiver, /metrics)."""
    import sqlite3

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from anomalyd.service.datalock import DataDirLockedError
    from anomalyd.service.migrations import SchemaError
    from anomalyd.service.server import build_app, run_app
    from anomalyd.service.settings import load_settings

    try:
        app_ = build_app(data_dir, log_level=log_level)
    except (ValidationError, SettingsError) as exc:  # settings from the environment
        fail(refused_settings(exc))
    except DataDirLockedError as exc:
        fail(str(exc))
    except (SchemaError, sqlite3.DatabaseError, OSError) as exc:  # OSError: the folder itself
        fail(f"{data_dir or load_settings().data_dir}: {exc}")
    except ValueError as exc:  # the default series configuration
        fail(str(exc))
    run_app(app_, host, port, log_level)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    data_dir: Annotated[Path, typer.Option(help="SQLite store directory")] = Path("data/demo"),
    rate: Annotated[float, typer.Option(help="points per second to replay")] = 50.0,
) -> None:
    """Serve on the embedded defaults and replay a bundled NAB series as a live stream."""
    from anomalyd.service.demo import run_demo

    run_demo(host, port, data_dir, rate=rate)


def main() -> None:
    """Console-script entry point."""
    app()
