"""``caloforge demo``: the main job on the embedded defaults (``make demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def demo(
    output: Path = typer.Option(Path("demo-output"), "-o", "--output", help="Folder for the samples and the report."),
    model: str = typer.Option("calogan-eplus", "--model", "-m", help="Pretrained model name or model/run folder."),
    n: int = typer.Option(2_000, "--n", "-n", min=1, help="Showers in the reference and generated samples."),
    seed: int = typer.Option(1, "--seed", "-s", help="Seeds simulation, generation and evaluation."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Cores to use (default: all)."),
    classifier: bool = typer.Option(True, "--classifier/--no-classifier", help="Run the classifier test."),
) -> None:
    """Simulate a fresh reference sample, generate the same energies with a pretrained model, evaluate.

    Writes OUTPUT/reference.h5, OUTPUT/generated.h5, OUTPUT/report/index.html and OUTPUT/summary.json, and
    prints the measured speed-up, the classifier AUCs and the worst separation powers.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from caloforge.demo import run_demo

    console = Console()
    with Progress(
        TextColumn("simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=n)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_demo(
            output,
            model=model,
            n=n,
            seed=seed,
            workers=workers,
            classifier=classifier,
            say=lambda m: console.print(f"[dim]{m}[/dim]"),
            sim_progress=progress,
        )
    table = Table(
        title=f"caloforge demo: {result.model} vs the reference simulation ({result.n_showers} {result.particle})"
    )
    table.add_column("quantity", style="bold")
    table.add_column("value")
    table.add_row("reference simulation", f"{result.simulation_ms_per_shower:.1f} ms/shower")
    table.add_row("generation", f"{result.generation_ms_per_shower:.4f} ms/shower")
    table.add_row("speed-up (measured)", f"{result.speedup:,.0f}x")
    for kind, auc in result.aucs.items():
        table.add_row(f"classifier AUC ({kind})", f"{auc:.3f}")
    for name, sep in result.worst_separation[:3]:
        table.add_row(f"separation power: {name}", f"{sep:.3f}")
    console.print(table)
    console.print(f"report: {result.report}")


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_errors(demo))
