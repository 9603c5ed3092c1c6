"""``caloforge evaluate``: compare generated showers with a reference and write an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def evaluate(
    reference: Path = typer.Option(..., "--reference", "-r", help="Reference (detailed simulation) shower file."),
    generated: list[Path] = typer.Option(..., "--generated", help="Generated shower file; repeat for several samples."),
    output: Path = typer.Option(Path("report"), "--output", "-o", help="Report folder (index.html, metrics.json)."),
    label: list[str] | None = typer.Option(
        None, "--label", help="Name of each generated sample, in --generated order (default: the file name)."
    ),
    train: Path | None = typer.Option(
        None, "--train", help="The generator's training file, for the memorisation check."
    ),
    classifier: bool = typer.Option(True, "--classifier/--no-classifier", help="Run the classifier two-sample test."),
    classifier_preset: str = typer.Option(
        "default",
        "--classifier-preset",
        help="default (3 x 256, <= 20 epochs, early stopping), calochallenge (the paper's 3 x 2048, 50 epochs), quick.",
    ),
    classifier_inputs: str = typer.Option(
        "low,low_normed,high", "--classifier-inputs", help="Comma-separated classifier inputs: low, low_normed, high."
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the classifier's maximum epochs."),
    classifier_threads: int | None = typer.Option(
        None,
        "--classifier-threads",
        min=1,
        help="torch threads for the classifier (default 1: the same AUC for a seed on any machine).",
    ),
    classifier_repeats: int = typer.Option(
        1,
        "--classifier-repeats",
        min=1,
        help="Train the classifier this many times per input kind, each with its own seed, and report the mean AUC "
        "± its standard deviation (one run's AUC moves by a few hundredths with the seed).",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Small classifier (<= 5 epochs), fewer FPD/KPD batches: smoke runs."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random step."),
    max_showers: int | None = typer.Option(
        None, "--max-showers", min=1, help="Use at most this many showers per file (a seeded random subset)."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", min=0.0, help="Voxel threshold in MeV (default: the geometry's)."
    ),
    geometry: str | None = typer.Option(None, "--geometry", help="Preset or geometry file for files that name none."),
    timing: list[str] | None = typer.Option(
        None,
        "--timing",
        help="Generation time per sample, in --generated order: ms per shower, or a JSON file "
        '{"ms_per_shower": ..., "device": ..., "batch_size": ...}.',
    ),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw and embed the plots (needs caloforge[plot])."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print progress."),
) -> None:
    """Evaluate generated showers against a reference: CaloChallenge metrics, classifier test, FPD/KPD, report."""
    from caloforge.exceptions import ConfigError
    from caloforge.validation.classifier import classifier_preset as get_classifier_preset
    from caloforge.validation.evaluation import EvaluationConfig, Timing
    from caloforge.validation.evaluation import evaluate as run_evaluation
    from caloforge.validation.report import write_report
    from caloforge.validation.samples import load_sample

    labels = _labels(generated, label or [])
    timings_in = timing or []
    if len(timings_in) > len(generated):
        raise ConfigError(f"{len(timings_in)} --timing values for {len(generated)} --generated files")
    timings = {labels[i]: Timing.parse(text) for i, text in enumerate(timings_in)}
    inputs = tuple(x.strip() for x in classifier_inputs.split(",") if x.strip())
    cls_config = get_classifier_preset("quick" if quick and classifier_preset == "default" else classifier_preset)
    if epochs is not None:
        cls_config = cls_config.with_changes(max_epochs=epochs)
    if classifier_threads is not None:
        cls_config = cls_config.with_changes(threads=classifier_threads)
    make = EvaluationConfig.quick if quick else EvaluationConfig
    config = make(
        threshold=threshold,
        seed=seed,
        classifier=classifier,
        classifier_inputs=inputs,
        classifier_config=cls_config,
        classifier_repeats=classifier_repeats,
    )

    def say(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    say(f"reading {reference}")
    ref = load_sample(reference, role="reference", geometry=geometry, max_showers=max_showers, seed=seed)
    samples = {}
    sources = {"reference": str(reference)}
    for path, name in zip(generated, labels, strict=True):
        say(f"reading {path}")
        samples[name] = load_sample(path, role="generated", geometry=geometry, max_showers=max_showers, seed=seed)
        sources[name] = str(path)
    train_set = None
    if train is not None:
        say(f"reading {train}")
        train_set = load_sample(train, role="training", geometry=geometry, max_showers=max_showers, seed=seed)
        sources["training"] = str(train)
    result = run_evaluation(
        ref, samples, config=config, train=train_set, sources=sources, timings=timings, progress=say
    )
    page = write_report(result, output, plots=plots)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"caloforge evaluate: {reference.name} (reference)")
    table.add_column("metric", style="bold")
    for name in samples:
        table.add_column(name)
    for row_name, values in result.summary_rows():
        table.add_row(row_name, *(values[name] for name in samples))
    Console().print(table)
    typer.echo(f"report: {page}")
    typer.echo(f"metrics: {page.parent / 'metrics.json'}")


def _labels(files: list[Path], given: list[str]) -> list[str]:
    """One unique label per generated file: the given ones, else the file stems (numbered if repeated)."""
    from caloforge.exceptions import ConfigError

    if given and len(given) != len(files):
        raise ConfigError(f"{len(given)} --label values for {len(files)} --generated files; give one per file")
    labels = list(given) if given else [f.stem for f in files]
    if len(set(labels)) != len(labels):
        if given:
            raise ConfigError(f"--label values must be unique, got {', '.join(given)}")
        labels = [f"{name} ({i + 1})" for i, name in enumerate(labels)]
    if "reference" in labels:
        raise ConfigError("'reference' is reserved; pass --label to name the generated sample")
    return labels


def register(app: typer.Typer) -> None:
    app.command("evaluate")(handle_errors(evaluate))
