"""``caloforge models``: the model families and the trained models available by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from caloforge.cli._common import handle_errors

app = typer.Typer(
    help="List model families and pretrained models; show a model card; package a trained model.",
    invoke_without_command=True,
    no_args_is_help=False,
)


def _listing() -> dict[str, Any]:
    from caloforge.io import particle_name
    from caloforge.models import family_names, get_family, pretrained_models

    families = []
    for name in family_names():
        cls = get_family(name)
        families.append({"name": name, "summary": cls.summary, "papers": list(cls.papers)})
    models = []
    for m in pretrained_models().values():
        card = m.card
        training = card.get("training", {}) if isinstance(card.get("training"), dict) else {}
        models.append(
            {
                "name": m.name,
                "family": m.family,
                "geometry": m.geometry,
                "particles": [particle_name(p) for p in m.particles],
                "builtin": m.builtin,
                "path": str(m.path),
                "n_training_showers": training.get("n_showers"),
                "date": card.get("date", training.get("date")),
                "metrics": card.get("metrics", {}),
                "summary": card.get("summary", ""),
            }
        )
    return {"families": families, "pretrained": models}


@app.callback()
def models(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the listing as JSON."),
) -> None:
    """List the model families and the pretrained models with their geometry, particle and card summary."""
    if ctx.invoked_subcommand is not None:
        return
    listing = handle_errors(_listing)()
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    fam = Table(title="model families")
    fam.add_column("family", no_wrap=True)
    for col in ("summary", "papers"):
        fam.add_column(col)
    for f in listing["families"]:
        fam.add_row(f["name"], f["summary"], ", ".join(f["papers"]))
    console.print(fam)
    pre = Table(title="pretrained models")
    pre.add_column("name", no_wrap=True)
    for col in ("family", "geometry", "particle", "training showers", "metrics", "date"):
        pre.add_column(col)
    for m in listing["pretrained"]:
        numbers = [(k, v) for k, v in m["metrics"].items() if isinstance(v, int | float) and not isinstance(v, bool)]
        metrics = ", ".join(f"{k}={v:.3g}" for k, v in numbers[:4])  # the AUCs come first in evaluate's summary
        pre.add_row(
            m["name"] + ("" if m["builtin"] else " *"),
            m["family"],
            m["geometry"],
            ", ".join(m["particles"]) or "-",
            str(m["n_training_showers"] or "-"),
            metrics or "-",
            str(m["date"] or "-"),
        )
    console.print(pre)
    if not listing["pretrained"]:
        console.print("no pretrained models installed")
    elif any(not m["builtin"] for m in listing["pretrained"]):
        console.print("* found through CALOFORGE_MODEL_PATH")


@app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="Pretrained name, model folder or run folder.")) -> None:
    """Print a model's card and configuration summary as JSON."""
    from caloforge.models import read_card, read_model_config, resolve_model_path

    path = resolve_model_path(name)
    config = read_model_config(path)
    out = {
        "path": str(path),
        "family": config["family"],
        "geometry": config["geometry"].get("name"),
        "model": config["model"],
        "preprocessing": config["preprocessing"],
        "n_parameters": config["weights"].get("n_parameters"),
        "card": read_card(path),
    }
    typer.echo(json.dumps(out, indent=2))


@app.command("package")
@handle_errors
def package(
    source: Path = typer.Argument(..., help="A model folder or a training run (its best model)."),
    name: str = typer.Option(..., "--name", help="Pretrained name, e.g. calogan-eplus."),
    dest: Path | None = typer.Option(None, "--dest", help="Folder of named models (default: the package's)."),
    metrics: Path | None = typer.Option(
        None, "--metrics", help="metrics.json of `caloforge evaluate` (or any JSON object of metrics) for the card."
    ),
    label: str | None = typer.Option(None, "--label", help="Which generated sample of the metrics.json."),
    card: Path | None = typer.Option(None, "--card", help="JSON file of further card entries (sample, command...)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing model of that name."),
) -> None:
    """Copy a trained model under a pretrained name and complete its model card."""
    from caloforge.exceptions import ModelError
    from caloforge.models import evaluation_summary, package_pretrained

    extra: dict[str, Any] = {}
    for option, path in (("--card", card), ("--metrics", metrics)):
        if path is None:
            continue
        try:
            value = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{option} {str(path)!r}: cannot read JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ModelError(f"{option} {str(path)!r}: must hold a JSON object")
        if option == "--metrics":
            extra["metrics"] = evaluation_summary(value, label)
        else:
            extra.update(value)
    target = package_pretrained(source, name, dest=dest, card=extra, overwrite=overwrite)
    size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    typer.echo(f"packaged {name} in {target} ({size:.2f} MB)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="models")
