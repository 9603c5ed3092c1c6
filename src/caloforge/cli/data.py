"""``caloforge info`` and ``caloforge convert``: look into and translate shower files."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def info(
    file: Path = typer.Argument(..., help="An HDF5 shower file (any supported layout)."),
    geometry: str | None = typer.Option(
        None, "--geometry", "-g", help="Preset or geometry file, if the file names none."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Summarise a shower file: format, geometry, N, energy range, particles, energy sums."""
    import json

    from caloforge.io.info import file_info

    summary = file_info(file, geometry=geometry)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=str(file), show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if key == "file":
            continue
        if isinstance(value, float):
            value = f"{value:.6g}"
        table.add_row(key, str(value))
    Console().print(table)


def convert(
    source: Path = typer.Argument(..., help="Input shower file (layout auto-detected)."),
    target: Path = typer.Argument(..., help="Output file."),
    to: str = typer.Option("native", "--to", help="Output layout: native (CaloChallenge), calogan, 3dgan, par04."),
    geometry: str | None = typer.Option(
        None, "--geometry", "-g", help="Preset or geometry file, if the input names none."
    ),
    batch_size: int = typer.Option(10_000, "--batch-size", min=1, help="Showers per batch (bounds memory)."),
) -> None:
    """Convert a shower file between layouts, streaming in batches."""
    from caloforge.exceptions import DataFormatError
    from caloforge.io import count, iter_batches, open_writer

    if source.resolve() == target.resolve():
        raise DataFormatError(f"input and output are the same file {str(source)!r}")
    from rich.progress import Progress

    n = count(source)
    batches = iter_batches(source, batch_size, geometry=geometry)
    first = next(batches, None)
    if first is None:
        raise DataFormatError(f"{str(source)!r} holds no showers")
    optional = tuple(k for k in ("particle", "theta", "phi", "overflow") if getattr(first, k) is not None)
    with (
        open_writer(target, first.geometry, format=to, optional=optional) as writer,
        Progress(transient=True) as bar,
    ):
        task = bar.add_task("converting", total=n)
        writer.append(first)
        bar.advance(task, len(first))
        for batch in batches:
            writer.append(batch)
            bar.advance(task, len(batch))
    typer.echo(f"wrote {n} showers to {target} ({to})")
    dropped = getattr(writer, "dropped", ())
    if dropped:
        typer.echo(f"note: {to} does not store: {', '.join(dropped)}")


def register(app: typer.Typer) -> None:
    app.command("info")(handle_errors(info))
    app.command("convert")(handle_errors(convert))
