"""``anomalyd backfill``: score history with the live scoring path.

Each series is scored by ``anomalyd.service.replay`` (the service's own model schedule: the same
training spans, refits, masked incidents, alert line and echo rule), so a backfilled series
gets the scores the service would have stored for the same points. Sources are CSV files
(``timestamp`` and one or more value columns; a ``label`` column is ignored), one series per
file, or long tables with a ``series`` column (many series, their rows interleaved as they
come), or folders of them, and the series of a Prometheus range query. Scored series are kept in
a job table beside the output (``anomalyd.service.backfill_jobs``) as they finish, so an
interrupted run continues with ``--resume``. The output (CSV, Parquet or OpenMetrics:
``anomalyd.service.backfill_output``) is written from it under a temporary name and renamed
when complete, so a partial file is never taken for a whole one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.metadata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from anomalyd.detectors import registry
from anomalyd.service.atomicfile import partial_path
from anomalyd.service.backfill_engines import Engine, EngineError, scored
from anomalyd.service.backfill_into import IntoError, Service, check_names
from anomalyd.service.backfill_jobs import JobTable, JobTableError, series_key, table_path
from anomalyd.service.backfill_output import (
    COLUMNS,
    INTO,
    Output,
    OutputFormatError,
    Scored,
    is_url,
    output_format,
    write,
)
from anomalyd.service.durations import setting_points, step_seconds
from anomalyd.service.faults import Refusal
from anomalyd.service.parsing import MAX_ABS_VALUE, out_of_range, parse_time, seconds_text
from anomalyd.service.prometheus_source import PrometheusSourceError, RangeQuery, fetch
from anomalyd.service.remote_write_client import RemoteWriteError, send
from anomalyd.service.replay import replay
from anomalyd.service.series import SeriesConfig, validate_config

FloatArray = npt.NDArray[np.float64]
IGNORED = ("timestamp", "label", "series")
SERIES_COLUMN = "series"
SOURCE_SUFFIXES = (".csv", ".parquet")


class BackfillError(ValueError):
    """Input the command cannot score; the message says what to fix."""


@dataclass(frozen=True)
class Source:
    """One series read from a file: timestamps (s, shape (n,)), values (n, n_channels)."""

    name: str
    ts: FloatArray
    values: FloatArray


@dataclass
class Summary:
    """What a run wrote: ``points`` rows, ``scored`` of them with a score, the series that got
    no score at all (shorter than their first training span: the service's warm-up), and how
    many series an interrupted run had scored already (``--resume``)."""

    points: int = 0
    scored: int = 0
    unscored: list[str] = field(default_factory=list)
    resumed: int = 0

    def add(self, one: Scored) -> None:
        """Count one written series."""
        self.points += len(one.ts)
        self.scored += one.scored
        if one.scored == 0:
            self.unscored.append(one.name)


@dataclass(frozen=True)
class Schedule:
    """The configuration asked for: detector, parameters, and the training span and refit
    period as given (points or durations such as ``7d``; ``None``: the service's default);
    ``train_end``, a row count or a time: the first model trains on the points before it."""

    detector: str | None = None
    params: dict[str, object] | None = None
    fit_window: str | None = None
    fit_every: str | None = None
    train_end: str | None = None


def sources(paths: Sequence[Path], output: Path) -> list[Path]:
    """The CSV files named or inside the folders named, in order, each once; in a folder,
    ``output`` left out when it is an earlier run's output. Raises BackfillError for a missing
    source, no file, or ``output`` being a source (named, or a data file in a folder named)."""
    out: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            found = [p for p in sorted(path.iterdir()) if p.suffix.lower() in SOURCE_SUFFIXES]
            found = [p for p in found if not (_same(p, output) and _earlier_output(p))]
        elif path.is_file():
            found = [path]
        else:
            raise BackfillError(f"{path} is neither a file nor a folder.")
        if any(_same(p, output) for p in found):
            raise BackfillError(f"{output} is both a source and the output; write elsewhere.")
        out.update((p.resolve(), p) for p in found)
    if not out:
        raise BackfillError("No CSV or Parquet file found in the sources given.")
    return list(out.values())


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _earlier_output(path: Path) -> bool:
    """Whether ``path`` holds a backfill's output (its columns), not data to score."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names) == list(COLUMNS)
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return next(csv.reader(fh), []) == list(COLUMNS)
    except (ImportError, OSError, ValueError):
        return False


def _check_output(output: Path) -> Path:
    """The file to write: ``output``, or the file a symbolic link names. Raises
    BackfillError for a folder, a missing folder, or something that is not a regular file
    (a device, a pipe: the output is written whole and renamed into place)."""
    target = output.resolve() if output.is_symlink() else output
    if target.is_dir() or not target.parent.is_dir():
        raise BackfillError(f"--output {output}: needs a file name in an existing folder.")
    if target.exists() and not target.is_file():
        raise BackfillError(
            f"--output {output}: is not a regular file; the output is written whole under a "
            "temporary name and renamed into place, so name a file."
        )
    return target


def read_sources(path: Path, assume_utc: bool = False) -> list[Source]:
    """The series in ``path``: one named after the file, or with a ``series`` column one per
    value of it (in order of first appearance; rows of different series may interleave).
    ``assume_utc`` reads times without a UTC offset as UTC. Raises BackfillError naming the
    file, row and what to fix."""
    header, rows = _read_rows(path)
    value_columns = [c for c in header if c not in IGNORED]
    if "timestamp" not in header or not value_columns:
        raise BackfillError(
            f"{path}: needs a header with a `timestamp` column and at least one value column; "
            f"found columns {header}.{_delimiter_hint(header)}"
        )
    if not rows:
        raise BackfillError(f"{path}: has a header but no data rows.")
    if SERIES_COLUMN not in header:
        return [_source(path, path.stem, list(enumerate(rows)), value_columns, assume_utc)]
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(str(row[SERIES_COLUMN]), []).append((i, row))
    return [_source(path, n, g, value_columns, assume_utc) for n, g in groups.items()]


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and rows of a CSV file, or of a Parquet file (``.parquet``)."""
    if path.suffix.lower() == ".parquet":
        return _parquet_rows(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise BackfillError(f"{path}: is not UTF-8 text ({exc}).") from exc
    _check_shape(path, header, rows)
    return header, rows


def _parquet_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """A Parquet file's columns as rows; a ``timestamp`` column of a timestamp type becomes
    RFC 3339 text (so a time without a zone needs ``--assume-utc``, as in a CSV). Needs the
    ``parquet`` extra (pyarrow)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise BackfillError(
            f"{path}: reading Parquet needs pyarrow: pip install 'anomalyd[parquet]'."
        ) from exc
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise BackfillError(f"{path}: is not a readable Parquet file ({exc}).") from exc
    columns = {name: _parquet_column(table.column(name)) for name in table.column_names}
    rows = [dict(zip(columns, cells, strict=True)) for cells in zip(*columns.values(), strict=True)]
    return list(columns), rows


def _parquet_column(column: Any) -> list[Any]:
    """Python values of a column; timestamps as ISO text (their zone kept, if any)."""
    import pyarrow as pa

    if pa.types.is_timestamp(column.type):
        return [None if t is None else t.isoformat() for t in column.to_pylist()]
    return list(column.to_pylist())


def _source(
    path: Path,
    name: str,
    rows: list[tuple[int, dict[str, Any]]],
    value_columns: list[str],
    assume_utc: bool,
) -> Source:
    """One series from its numbered rows, whose times must increase in file order."""
    where = f"{path}" if name == path.stem else f"{path}, series {name!r}"
    try:
        ts = np.array([parse_time(_stamp(r["timestamp"]), f"row {i + 1}: timestamp",
                                  assume_utc=assume_utc) for i, r in rows])  # fmt: skip
    except Refusal as exc:
        hint = " (or pass --assume-utc)" if "UTC offset" in exc.detail else ""
        raise BackfillError(f"{where}: {exc.detail}{hint}") from exc
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        (i, _), (j, _) = rows[bad[0]], rows[bad[0] + 1]
        later, earlier = seconds_text(ts[bad[0] + 1]), seconds_text(ts[bad[0]])
        raise BackfillError(
            f"{where}: timestamps must be strictly increasing: row {j + 1} ({later}) is not "
            f"after row {i + 1} ({earlier}). Sort the rows by time and drop repeated timestamps."
        )
    values = np.array([_row_values(path, i, r, value_columns) for i, r in rows])
    if not np.isfinite(values).all():
        row = rows[int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])][0]
        raise BackfillError(f"{where}: row {row + 1} has a value that is not a finite number.")
    huge = np.flatnonzero((np.abs(values) > MAX_ABS_VALUE).any(axis=1))
    if len(huge):
        row = rows[int(huge[0])][0]
        raise BackfillError(f"{where}: row {row + 1}: {out_of_range(values[huge[0]])}")
    return Source(name, ts, values)


def _check_shape(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    """Refuse a column named twice and a row with more or fewer cells than the header."""
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise BackfillError(f"{path}: column(s) {twice} appear more than once in the header.")
    for i, row in enumerate(rows):
        if None in row or None in row.values():
            raise BackfillError(
                f"{path}: data row {i + 1} does not have the header's {len(header)} cells."
            )


def _delimiter_hint(header: list[str]) -> str:
    """What to do when the header reads as one column holding another delimiter."""
    found = [d for d in (";", "\t", "|") if len(header) == 1 and d in header[0]]
    return (
        f" The file looks {found[0]!r}-separated; save it with ',' between cells." if found else ""
    )


def _row_values(path: Path, i: int, row: dict[str, Any], columns: list[str]) -> list[float]:
    out = []
    for c in columns:
        try:
            out.append(float(row[c]))
        except (TypeError, ValueError) as exc:
            raise BackfillError(
                f"{path}: row {i + 1}, column {c!r}: {row.get(c)!r} is not a number. Every "
                f"column but {', '.join(IGNORED)} is a value of the series ({columns}); remove "
                "other columns."
            ) from exc
    return out


def _stamp(text: object) -> float | str:
    """A timestamp cell: unix seconds as a number, else the text (an RFC 3339 time)."""
    if isinstance(text, int | float):
        return float(text)
    try:
        return float(str(text or ""))
    except ValueError:
        return str(text or "")


def config_for(
    base: SeriesConfig, schedule: Schedule, ts: FloatArray, name: str = ""
) -> SeriesConfig:
    """``base`` with the asked overrides; durations converted at the step of series ``name``.
    Raises BackfillError, naming the series, for an unknown detector, bad parameters or a
    malformed duration."""

    def step() -> float | None:
        return step_seconds(ts)

    try:
        config = SeriesConfig(
            schedule.detector or base.detector,
            dict(schedule.params if schedule.params is not None else base.params),
            setting_points("--fit-window", schedule.fit_window, base.train_points, step),
            setting_points("--fit-every", schedule.fit_every, base.refit_every, step),
            base.quantile,
        )
        validate_config(config)
        return config
    except (Refusal, ValueError) as exc:
        why = exc.detail if isinstance(exc, Refusal) else str(exc)
        why = why.replace("train_points", "--fit-window").replace("refit_every", "--fit-every")
        raise BackfillError(f"series {name!r}: {why}" if name else why) from exc


def train_end_index(text: str | None, ts: FloatArray) -> int | None:
    """The row the first model scores from: ``text`` rows, or the first point at or after the
    time ``text`` (RFC 3339 or unix seconds); None without one. Raises BackfillError."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        at = parse_time(_stamp(text), "--train-end")
    except Refusal as exc:
        raise BackfillError(f"{exc.detail} (--train-end takes a row count or a time)") from exc
    return int(np.searchsorted(ts, at, side="left"))


def score(src: Source, base: SeriesConfig, schedule: Schedule) -> Scored:
    """One series as the service would have scored it. Raises BackfillError."""
    first = train_end_index(schedule.train_end, src.ts)
    config = config_for(base, schedule, src.ts, src.name)
    out = replay(config, src.values, first=first)
    if out.error and np.isnan(out.score).all():
        raise BackfillError(f"series {src.name!r}: {_unscored(config, first, out.error)}")
    return Scored(src.name, src.ts, src.values, out.raw, out.score)


def _unscored(config: SeriesConfig, first: int | None, error: str) -> str:
    """Why a series has no score: ``error``, or, when ``--train-end`` (row ``first``) left
    the first model fewer rows than its detector needs, that."""
    det = registry.create(config.detector, config.params)
    if first is None or first >= det.min_train_points():
        return error
    return (
        f"--train-end leaves {first} rows to train the first model on; {config.detector} "
        f"with {det.get_params()} needs at least {det.min_train_points()}: give a later "
        "--train-end or lower the window."
    )


def job_key(src: Source, base: SeriesConfig, schedule: Schedule) -> str:
    """What a scored series is kept under in the job table: the package version, the series'
    configuration and first scored row, and its data. Raises BackfillError."""
    config = {
        "anomalyd": importlib.metadata.version("anomalyd"),
        "series": dataclasses.asdict(config_for(base, schedule, src.ts, src.name)),
        "first": train_end_index(schedule.train_end, src.ts),
    }
    return series_key(config, src.ts.tobytes(), src.values.tobytes())


class Progress(Protocol):
    """What a run reports as it goes (the command's progress bar, log lines, metrics file)."""

    def start(self, series: int, points: int) -> None:
        """Before the first series: how many series and points the run holds."""

    def advance(self, one: Scored, resumed: bool) -> None:
        """After each series: scored now, or found in the job table (``resumed``)."""


def run(
    paths: Sequence[Path],
    output: Path | str,
    base: SeriesConfig,
    schedule: Schedule,
    *,
    engine: Engine | None = None,
    assume_utc: bool = False,
    progress: Progress | None = None,
    fmt: str | None = None,
    prometheus: RangeQuery | None = None,
    resume: bool = False,
) -> Summary:
    """Score every file, and every series of the ``prometheus`` range query, into ``output``:
    a file (CSV, Parquet or OpenMetrics) or a remote-write URL (see
    :func:`~anomalyd.service.backfill_output.output_format`). ``progress`` hears of each series
    as it is scored or found in the job table (``resume``). Raises BackfillError, and writes
    no output, when a source is bad; series scored before it stay in the job table."""
    out = _output(output, fmt, schedule.detector or base.detector)
    files = sources(paths, out.path) if paths or prometheus is None else []
    origins = [(str(path), src) for path in files for src in read_sources(path, assume_utc)]
    origins += [(prometheus.url, src) for src in _from_prometheus(prometheus)] if prometheus else []
    series = _unique(origins)
    keys = [job_key(src, base, schedule) for src in series]
    out = dataclasses.replace(out, multichannel=any(s.values.shape[1] > 1 for s in series))
    if out.fmt == INTO:
        _check_into(series, schedule)
    table = _open_table(out.path, resume)
    try:
        if progress is not None:
            progress.start(len(series), sum(len(src.ts) for src in series))
        job = _Job(base, schedule)
        if out.fmt == INTO:
            summary = _send_into(str(out.url), table, series, keys, job, progress)
        else:
            summary = _score_into(table, series, keys, job, engine or Engine(), progress)
            _deliver(out, _held(table, series, keys))
    except BaseException:
        _keep_or_drop(table)
        raise
    table.delete()
    return summary


def _output(output: Path | str, fmt: str | None, detector: str) -> Output:
    """Where the scores go. A remote-write URL's job table is kept in the working folder,
    named after the URL. Raises BackfillError."""
    url = str(output) if is_url(output) else None
    path = _check_output(Path(output)) if url is None else _named(output)
    return Output(path, _format(output, fmt), detector, url=url)


def _named(output: Path | str) -> Path:
    """The output file (the file a link names), or for a URL a name in the working folder."""
    if not is_url(output):
        path = Path(output)
        return path.resolve() if path.is_symlink() else path
    return Path.cwd() / f"remote-write-{hashlib.sha256(str(output).encode()).hexdigest()[:12]}"


def job_table(output: Path | str) -> Path:
    """Where the job table of a run writing to ``output`` is kept."""
    return table_path(_named(output))


def _check_into(series: list[Source], schedule: Schedule) -> None:
    """Refuse what a running anomalyd cannot take. Raises BackfillError."""
    if schedule.train_end is not None:
        raise BackfillError(
            "--train-end cannot be used with --format anomalyd: the service fits its first "
            "model on its own schedule; drop --train-end."
        )
    try:
        check_names([src.name for src in series])
    except IntoError as exc:
        raise BackfillError(str(exc)) from exc


def _send_into(
    url: str,
    table: JobTable,
    series: list[Source],
    keys: list[str],
    job: _Job,
    progress: Progress | None,
) -> Summary:
    """Send the series the table does not hold to the anomalyd at ``url`` (each kept in the
    table once acknowledged, without scores; none sent when the service holds one of them
    with points and other settings), then wait until the service has scored every series;
    the summary counts the service's scored points."""
    summary = Summary()
    todo = _report_held(table, series, keys, summary, progress)
    configs = [config_for(job.base, job.schedule, src.ts, src.name) for src, _ in todo]
    try:
        with Service(url) as service:
            pairs = zip(todo, configs, strict=True)
            held = [service.check_settings(src.name, config) for (src, _), config in pairs]
            for (src, key), config, same in zip(todo, configs, held, strict=True):
                service.send(src.name, None if same else config, src.ts, src.values)
                sent = Scored(src.name, src.ts, src.values, _nan(src.ts), _nan(src.ts))
                table.put(sent, key)
                _report(summary, sent, False, progress)
            summary.scored = sum(service.wait(src.name) for src in series)
    except IntoError as exc:
        raise BackfillError(str(exc)) from exc
    summary.unscored = []  # the service scores them; what it could not is in its series API
    return summary


def _nan(ts: FloatArray) -> FloatArray:
    return np.full(len(ts), np.nan)


def _deliver(out: Output, series: Iterator[Scored]) -> None:
    """Write the output file whole, or send the scores to the remote-write URL."""
    if out.url is not None:
        try:
            send(out.url, out.detector, series)
        except RemoteWriteError as exc:
            raise BackfillError(str(exc)) from exc
        return
    with partial_path(out.path) as tmp:
        write(dataclasses.replace(out, path=tmp), series)


def _format(output: Path | str, fmt: str | None) -> str:
    try:
        return output_format(output, fmt)
    except OutputFormatError as exc:
        raise BackfillError(str(exc)) from exc


def _open_table(output: Path, resume: bool) -> JobTable:
    try:
        return JobTable.open(output, resume)
    except JobTableError as exc:
        raise BackfillError(str(exc)) from exc


def _keep_or_drop(table: JobTable) -> None:
    """After a run stopped: the table stays if it holds a series, else it goes."""
    if table.count():
        table.close()
    else:
        table.delete()


def _score_into(
    table: JobTable,
    series: list[Source],
    keys: list[str],
    job: _Job,
    engine: Engine,
    progress: Progress | None,
) -> Summary:
    """Score the series the table does not hold (with an equal key) into it, committing each;
    the summary counts every series, held or scored."""
    summary = Summary()
    todo = _report_held(table, series, keys, summary, progress)
    detector = job.schedule.detector or job.base.detector
    try:
        results = scored(engine, [src for src, _ in todo], job, detector)
        for (_, key), one in zip(todo, results, strict=True):
            table.put(one, key)
            _report(summary, one, False, progress)
    except EngineError as exc:
        raise BackfillError(str(exc)) from exc
    return summary


def _report_held(
    table: JobTable,
    series: list[Source],
    keys: list[str],
    summary: Summary,
    progress: Progress | None,
) -> list[tuple[Source, str]]:
    """Report the series the table holds; the others, with their keys, are to be scored."""
    todo = []
    for src, key in zip(series, keys, strict=True):
        held = table.get(src.name, key)
        if held is None:
            todo.append((src, key))
            continue
        summary.resumed += 1
        _report(summary, held, True, progress)
    return todo


def _report(summary: Summary, one: Scored, resumed: bool, progress: Progress | None) -> None:
    summary.add(one)
    if progress is not None:
        progress.advance(one, resumed)


def _held(table: JobTable, series: list[Source], keys: list[str]) -> Iterator[Scored]:
    """The scored series, in order, from the table."""
    for src, key in zip(series, keys, strict=True):
        one = table.get(src.name, key)
        if one is None:  # only if the file was changed under the run
            raise BackfillError(f"{table.path}: series {src.name!r} vanished; run again.")
        yield one


def _from_prometheus(query: RangeQuery) -> list[Source]:
    """The series of a Prometheus range query. Raises BackfillError."""
    try:
        found = fetch(query)
    except PrometheusSourceError as exc:
        raise BackfillError(str(exc)) from exc
    if not found:
        raise BackfillError(
            f"{query.url} returned no series for the query {query.query!r} between the start "
            "and end given; check the query and the time range in Prometheus' graph page."
        )
    # NaN and infinities are not data, and values beyond MAX_ABS_VALUE are not scored: the live
    # service's remote-write skips the first and refuses the second
    kept = [
        np.isfinite(f.values).all(axis=1) & (np.abs(f.values) <= MAX_ABS_VALUE).all(axis=1)
        for f in found
    ]
    return [Source(f.name, f.ts[k], f.values[k]) for f, k in zip(found, kept, strict=True)]


def _unique(origins: list[tuple[str, Source]]) -> list[Source]:
    """The series, in order. Raises BackfillError, naming both sources, when two share a name
    (two files of one name, a long table naming a series another source has)."""
    seen: dict[str, str] = {}
    for origin, src in origins:
        if src.name in seen:
            raise BackfillError(
                f"{seen[src.name]} and {origin} both hold series {src.name!r}; rename one."
            )
        seen[src.name] = origin
    return [src for _, src in origins]


@dataclass(frozen=True)
class _Job:
    base: SeriesConfig
    schedule: Schedule

    def __call__(self, src: Source) -> Scored:
        return score(src, self.base, self.schedule)
