"""The ``caloforge`` command: thin verbs that call the library (STYLE.md #9).

Each verb lives in its own module and imports its heavy dependencies inside the function body, so that
``caloforge --help`` stays instant. User errors (:class:`~caloforge.exceptions.CaloforgeError`) are printed
as one line, ``error: ...``, with exit status 1.
"""

from __future__ import annotations

import typer

__all__ = ["app", "main"]


app = typer.Typer(
    name="caloforge",
    help="Fast calorimeter shower simulation: reference Monte Carlo, generative models, validation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from caloforge import __version__

        typer.echo(f"caloforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """caloforge: simulate, train, generate, evaluate and deploy calorimeter shower models."""


def _register() -> None:
    # one line per verb module; each module imports its heavy dependencies lazily
    from caloforge.cli import benchmark as benchmark_cli
    from caloforge.cli import data, demo, geometry
    from caloforge.cli import evaluate as evaluate_cli
    from caloforge.cli import export as export_cli
    from caloforge.cli import generate as generate_cli
    from caloforge.cli import models as models_cli
    from caloforge.cli import simulate as simulate_cli
    from caloforge.cli import train as train_cli

    data.register(app)
    demo.register(app)
    app.add_typer(geometry.app, name="geometry")
    evaluate_cli.register(app)
    simulate_cli.register(app)
    train_cli.register(app)
    generate_cli.register(app)
    models_cli.register(app)
    export_cli.register(app)
    benchmark_cli.register(app)


_register()


def main() -> None:
    """Entry point of the ``caloforge`` console script."""
    app()
