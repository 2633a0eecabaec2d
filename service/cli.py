"""The `anomalyd` command line: serve, evaluate, detectors, demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()
DEMO_CSV = Path(__file__).parent / "demo" / "nab_ec2_cpu_utilization_825cc2.csv"


def _parse_params(pairs: list[str]) -> dict[str, Any]:
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


@app.command()
def evaluate(
    suite: Annotated[Path, typer.Option(help="benchmark folder (manifest.json) or CSV folder")],
    output: Annotated[Path, typer.Option(help="where to write results.json")] = Path(
        "results.json"
    ),
    detector: Annotated[list[str] | None, typer.Option(help="detector name (repeatable)")] = None,
    param: Annotated[list[str] | None, typer.Option(help="detector parameter k=v")] = None,
    train_fraction: Annotated[float | None, typer.Option(help="for CSV folders")] = None,
    quantile: Annotated[float, typer.Option(help="calibration quantile")] = 0.995,
    univariate_only: Annotated[bool, typer.Option(help="skip multivariate series")] = False,
) -> None:
    """Evaluate detectors on a labelled suite; print a table and write results.json."""
    from detectors import DEFAULT_DETECTOR
    from service.evaluation import load_reference, run_suite
    from service.report import print_table
    from service.suite import load_suite

    series = load_suite(suite, train_fraction=train_fraction, univariate_only=univariate_only)
    names = detector or [DEFAULT_DETECTOR]
    params = _parse_params(param or [])
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("evaluating", total=len(series) * len(names))
        doc = run_suite(
            series,
            [(n, params) for n in names],
            quantile=quantile,
            progress=lambda what: bar.update(task, advance=1, description=what),
        )
    output.write_text(json.dumps(doc, indent=1))
    print_table(console, doc, series, load_reference(suite))
    console.print(f"results written to {output}")


@app.command()
def detectors() -> None:
    """List the registered detectors and their parameters."""
    from detectors import registry

    for name in registry.names():
        cls = registry.get_class(name)
        console.print(f"[bold]{name}[/bold]  {(cls.__doc__ or '').strip().splitlines()[0]}")
        for p in cls.params:
            console.print(f"    {p.name} = {p.default!r}  ({p.describe()}): {p.doc}")


@app.command()
def demo() -> None:
    """Score the bundled NAB series with the default detector and print its metrics."""
    from detectors import DEFAULT_DETECTOR
    from service.evaluation import evaluate_series
    from service.suite import load_suite

    series = load_suite(DEMO_CSV.parent, train_fraction=0.15)
    result = evaluate_series(series[0], DEFAULT_DETECTOR, {})
    table = Table(title=f"{DEFAULT_DETECTOR} on {series[0].name} (NAB, MIT)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, val in result.items():
        table.add_row(key, f"{val:.4f}" if isinstance(val, float) else str(val))
    console.print(table)


def main() -> None:
    """Console-script entry point."""
    app()
