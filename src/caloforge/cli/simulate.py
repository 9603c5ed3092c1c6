"""``caloforge simulate``: run the reference simulation (e±, γ, π±, p, n) into a shower file."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def simulate(
    geometry: str = typer.Option(..., "--geometry", "-g", help="Preset name or geometry file with a physical stack."),
    particle: str = typer.Option(
        "e-",
        "--particle",
        "-p",
        help="e-, e+, gamma, pi+, pi-, proton or neutron (aliases: electron, positron, photon, γ, piplus, p, n).",
    ),
    energy: str = typer.Option(
        ..., "--energy", "-e", help="Kinetic energy in GeV: 50 (fixed), 1:100 (range) or 10,20,50 (list, cycled)."
    ),
    spectrum: str | None = typer.Option(None, "--spectrum", help="For a range: uniform (default) or log."),
    n: int = typer.Option(..., "--n", "-n", help="Number of showers."),
    seed: int = typer.Option(0, "--seed", "-s", help="Run seed; shower i depends only on (seed, i)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output HDF5 file (native/CaloChallenge layout)."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes (default: all cores)."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run from <output>.partial (a finished output of the same run is left as is).",
    ),
    x: float = typer.Option(0.0, "--x", help="Impact point on the front face, x (mm)."),
    y: float = typer.Option(0.0, "--y", help="Impact point on the front face, y (mm)."),
    theta: float = typer.Option(0.0, "--theta", help="Incidence angle to the stack axis (degrees)."),
    phi: float = typer.Option(0.0, "--phi", help="Azimuth of the direction (degrees)."),
    range_cut: float | None = typer.Option(
        None, "--range-cut", help="Production range cut in mm (default: the geometry's)."
    ),
    hits: Path | None = typer.Option(
        None, "--hits", help="Also write every scored deposit (x, y, z, E) to this HDF5 file."
    ),
    chunk_size: int | None = typer.Option(
        None, "--chunk-size", help="Showers per work unit (does not change results)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Simulate showers with the detailed reference Monte Carlo (caloforge.detsim)."""
    from caloforge.detsim import PhysicsConfig, parse_energy
    from caloforge.detsim import simulate as run
    from caloforge.exceptions import SimulationError
    from caloforge.geometry import resolve_geometry
    from caloforge.io.files import partial_path

    if n <= 0:
        raise SimulationError(f"--n must be a positive number of showers, got {n}")
    if workers is not None and workers < 1:
        raise SimulationError(f"--workers must be >= 1, got {workers}")
    if chunk_size is not None and chunk_size < 1:
        raise SimulationError(f"--chunk-size must be >= 1, got {chunk_size}")
    if range_cut is not None and not (range_cut > 0 and math.isfinite(range_cut)):
        raise SimulationError(f"--range-cut must be a positive length in mm, got {range_cut}")
    spec = parse_energy(energy, spectrum)
    g = resolve_geometry(geometry)
    physics = PhysicsConfig(range_cut=range_cut)
    kwargs = {
        "seed": seed,
        "position": (x, y),
        "theta": math.radians(theta),
        "phi": math.radians(phi),
        "physics": physics,
        "workers": workers,
        "output": output,
        "resume": resume,
        "hits": hits,
        "chunk_size": chunk_size,
    }
    finished = resume and output.exists() and not partial_path(output).exists()  # produce() then checks it
    try:
        path = run(g, particle, spec, n, **kwargs) if quiet else _with_progress(run, g, particle, spec, n, kwargs)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        typer.echo(f"interrupted: rerun the same command with --resume to continue {output}.partial", err=True)
        raise typer.Exit(130) from None
    if finished:
        typer.echo(f"nothing to do: {path} already holds the {n} {particle} showers of this run")
    else:
        typer.echo(f"wrote {n} {particle} showers to {path}")


def _with_progress(run: object, g: object, particle: str, spec: object, n: int, kwargs: dict[str, object]) -> object:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    started: dict[str, float] = {}

    class RateColumn(ProgressColumn):
        """Showers per second of this session (resumed showers are not counted)."""

        def render(self, task: object) -> Text:
            done = getattr(task, "completed", 0.0) - started.get("done", 0.0)
            elapsed = time.monotonic() - started.get("t", time.monotonic())
            rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
            return Text(f"{rate:.2f} showers/s", style="progress.data.speed")

    with Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("showers", total=n)

        def progress(done: int, total: int) -> None:
            if "t" not in started:
                started["t"] = time.monotonic()
                started["done"] = float(done)
            bar.update(task, completed=done, total=total)

        return run(g, particle, spec, n, progress=progress, **kwargs)  # type: ignore[operator]


def register(app: typer.Typer) -> None:
    app.command("simulate")(handle_errors(simulate))
