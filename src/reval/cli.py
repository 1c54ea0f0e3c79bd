"""The ``reval`` command: a thin typer adapter over ``reval.pipeline``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from reval.config import SAMPLE_DATA_DIR, load_settings

app = typer.Typer(
    name="reval",
    help="Participatory evaluation for people-powered health programmes.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def init() -> None:
    """Create the workspace (warehouse, archive, inbox, reports) if missing."""
    from reval.pipeline import init_workspace

    home = init_workspace(load_settings())
    typer.echo(f"Workspace ready at {home}")


@app.command("sample-data")
def sample_data(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write into.")
    ] = SAMPLE_DATA_DIR,
    seed: Annotated[
        int, typer.Option(help="Random seed; the committed sample uses the default.")
    ] = 2016,
) -> None:
    """Write the synthetic six-site programme (workbooks, catalogue, truth.json)."""
    from reval.synthetic_programme import synthetic_programme, write_sample_data

    for path in write_sample_data(synthetic_programme(seed), out):
        typer.echo(str(path))


@app.command()
def templates(
    out: Annotated[Path, typer.Argument(help="Folder for the blank templates.")],
    statements: Annotated[
        Path | None,
        typer.Option(help="Paradigm statements CSV whose items become survey columns."),
    ] = SAMPLE_DATA_DIR / "paradigm_statements.csv",
) -> None:
    """Write a blank .xlsx template per table, with instructions and dropdowns."""
    from reval.site_templates import write_templates

    catalogue = pd.read_csv(statements) if statements is not None else None
    for path in write_templates(out, catalogue):
        typer.echo(str(path))


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="Spreadsheets (.xlsx, .ods, .csv) to load.")],
) -> None:
    """Validate files and load what is accepted into the warehouse."""
    from reval.pipeline import ingest_file, init_workspace

    settings = load_settings()
    init_workspace(settings)
    failed = False
    for path in files:
        if not path.is_file():
            typer.echo(f"{path}: no such file", err=True)
            failed = True
            continue
        report = ingest_file(settings, path)
        typer.echo(report.summary())
        for problem in report.problems:
            typer.echo(f"  - {problem.message()}")
        failed |= report.status == "rejected"
    raise typer.Exit(1 if failed else 0)


@app.command()
def demo() -> None:
    """Set up a workspace, load sample_data/ and say where everything is."""
    from reval.pipeline import load_sample_data
    from reval.warehouse import Warehouse

    settings = load_settings()
    for report in load_sample_data(settings):
        typer.echo(report.summary())
    with Warehouse(settings.warehouse_path, read_only=True) as warehouse:
        counts = warehouse.row_counts()
    typer.echo("\nCurrent rows in the warehouse:")
    for table, count in counts.items():
        typer.echo(f"  {table:<22}{count:>8}")
    typer.echo(f"\nWorkspace: {settings.home}")
    typer.echo(f"Warehouse: {settings.warehouse_path}")
    typer.echo(f"Archive:   {settings.archive_dir}")


if __name__ == "__main__":
    app()
