"""``caloforge train``: train a model family on a shower file (also under ``torchrun`` for DDP)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import typer

from caloforge.cli._common import handle_errors


def train(
    data: Path | None = typer.Option(None, "--data", "-d", help="Training shower file (any layout caloforge reads)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model family (caloforge models lists them)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML/JSON training config (docs/models.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: config, checkpoint, logs, best/ and last/ models."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    epochs: int | None = typer.Option(None, "--epochs", help="Passes over the training split."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Showers per batch (all processes together)."),
    seed: int | None = typer.Option(None, "--seed", "-s", help="Seed of the split, weights, batches and noise."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads per process."),
    geometry: str | None = typer.Option(
        None, "--geometry", "-g", help="Preset or geometry file, if the data name none."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a generative model; the same command runs under `torchrun --nproc-per-node=N` (DDP)."""
    import json

    from caloforge.models.config import load_config_file, merge
    from caloforge.training import load_train_config
    from caloforge.training import train as run

    overrides: dict[str, Any] = {}
    for key, value in (
        ("model", model),
        ("epochs", epochs),
        ("max_steps", max_steps),
        ("batch_size", batch_size),
        ("seed", seed),
        ("device", device),
        ("threads", threads),
    ):
        if value is not None:
            overrides[key] = value
    data_overrides = {k: v for k, v in (("path", None if data is None else str(data)), ("geometry", geometry)) if v}
    if data_overrides:
        overrides["data"] = data_overrides
    base: dict[str, Any] = {}
    saved = out / "config.json"
    if resume and saved.is_file():
        base = json.loads(saved.read_text())  # the run's own config; options given now must agree with it
    if config is not None:
        base = merge(base, load_config_file(config))
    cfg = load_train_config(None, merge(base, overrides))

    main = int(os.environ.get("RANK", "0")) == 0
    command = shlex.join(["caloforge", "train", *_argv(data, model, config, out, resume)])
    if quiet or not main:
        result = run(cfg, out, resume=resume, command=command)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
        ) as bar:
            task = bar.add_task(f"training {cfg.model}", total=None, losses="")

            def progress(step: int, total: int, epoch: int, losses: dict[str, float]) -> None:
                text = " ".join(f"{k}={v:.3g}" for k, v in losses.items())
                bar.update(task, completed=step, total=total, description=f"epoch {epoch + 1}", losses=text)

            result = run(cfg, out, resume=resume, progress=progress, command=command)
    if main:
        if result.best_step < 0:
            best = "no epoch completed, so no best model"
        else:
            best = f"best {cfg.select_metric} = {result.best_metric:.4g} at step {result.best_step} in {out / 'best'}"
        typer.echo(f"trained {result.step} steps ({result.epoch} epochs); {best}; last model in {out / 'last'}")


def _argv(data: Path | None, model: str | None, config: Path | None, out: Path, resume: bool) -> list[str]:
    import sys

    argv = sys.argv[1:]
    if argv and argv[0] == "train":
        return argv[1:]
    parts = [] if data is None else ["--data", str(data)]
    parts += [] if model is None else ["--model", model]
    parts += [] if config is None else ["--config", str(config)]
    parts += ["--out", str(out)] + (["--resume"] if resume else [])
    return parts


def register(app: typer.Typer) -> None:
    app.command("train")(handle_errors(train))
