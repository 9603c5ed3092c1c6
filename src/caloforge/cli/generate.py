"""``caloforge generate``: sample showers from a trained model into a native HDF5 file."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def generate(
    model: str = typer.Option(
        ..., "--model", "-m", help="Pretrained name (caloforge models), model folder or run folder."
    ),
    n: int = typer.Option(..., "--n", "-n", help="Number of showers."),
    energy: str = typer.Option(..., "--energy", "-e", help="GeV: 50 (fixed), 1:100 (range) or 10,20,50 (list)."),
    spectrum: str = typer.Option("uniform", "--spectrum", help="For a range: uniform or log."),
    particle: str | None = typer.Option(
        None, "--particle", "-p", help="e+, gamma, pi+... (optional for one-particle models)."
    ),
    theta: float | None = typer.Option(None, "--theta", help="Incidence angle in degrees (models conditioned on it)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Random seed; the same seed gives the same file."),
    output: Path = typer.Option(..., "--output", "-o", help="Output HDF5 file (native/CaloChallenge layout)."),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Showers per batch (bounds memory)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (the output is the same for any)."),
    backend: str | None = typer.Option(
        None, "--backend", help="torch (default for models) or onnx (exports the model; default for .onnx files)."
    ),
    precision: str | None = typer.Option(
        None, "--precision", help="fp32 (default), bf16/fp16 (torch), fp16/int8/int8-static (onnx)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from <output>.partial."),
    strict: bool = typer.Option(
        False, "--strict", help="Refuse energies/angles outside the model's training range (default: warn)."
    ),
    allow_extrapolation: bool = typer.Option(
        False, "--allow-extrapolation", help="Accept energies outside the training range without a warning."
    ),
    steps: int | None = typer.Option(
        None, "--steps", help="Flow-matching models: ODE solver steps per stage (fewer: faster; default: the model's)."
    ),
    solver: str | None = typer.Option(None, "--solver", help="Flow-matching models: euler, midpoint or heun."),
    time_shift: float | None = typer.Option(
        None,
        "--time-shift",
        help="Flow-matching models: shift of the solver's time grid (>1: shorter steps near the data; "
        "default: the model's).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Generate showers with a trained model (or an exported .onnx file), streamed in batches."""
    from caloforge.exceptions import ModelError
    from caloforge.inference import EnergySpectrum, FastSim, generate_to_file

    if n < 1:
        raise ModelError(f"--n must be a positive number of showers, got {n}")
    if threads is not None and threads < 1:
        raise ModelError(f"--threads must be >= 1, got {threads}")
    if theta is not None and not math.isfinite(theta):
        raise ModelError(f"--theta must be a finite angle in degrees, got {theta}")
    if strict and allow_extrapolation:
        raise ModelError("--strict and --allow-extrapolation contradict each other; choose one")
    spec = EnergySpectrum.parse(energy, spectrum=spectrum)
    sim = FastSim.load(
        model,
        device=device,
        threads=threads,
        backend=backend,
        precision=precision,
        steps=steps,
        solver=solver,
        time_shift=time_shift,
    )
    theta_rad = None if theta is None else math.radians(theta)
    outside = sim.extrapolation_message([spec.low, spec.high], theta_rad)
    if outside is not None and strict:
        raise ModelError(f"{outside} (--strict)")
    if outside is not None and not allow_extrapolation:
        typer.echo(
            f"warning: {outside}; the showers there are extrapolations (--strict refuses, "
            "--allow-extrapolation silences this)",
            err=True,
        )
    kwargs = {
        "seed": seed,
        "particle": particle,
        "theta": theta_rad,
        "batch_size": batch_size,
        "resume": resume,
        "extrapolation": "error" if strict else "allow",
    }
    if quiet:
        generate_to_file(sim, output, n, spec, **kwargs)  # type: ignore[arg-type]
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"generating with {sim.name}", total=n)
            generate_to_file(sim, output, n, spec, progress=lambda k: bar.advance(task, k), **kwargs)  # type: ignore[arg-type]
    typer.echo(f"wrote {n} showers to {output} ({sim.name}, {sim.geometry.name}, {sim.backend_name} {sim.precision})")


def register(app: typer.Typer) -> None:
    app.command("generate")(handle_errors(generate))
