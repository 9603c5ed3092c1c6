"""``caloforge export``: a trained model as one self-contained ONNX file (optionally in Geant4 Par04's convention)."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import handle_errors


def export(
    model: str = typer.Argument(..., help="Pretrained name (caloforge models), model folder or run folder."),
    output: Path = typer.Option(..., "--output", "-o", help="The .onnx file to write."),
    par04: bool = typer.Option(
        False,
        "--par04",
        help="Geant4 Par04 convention: one float32 input [latent, E/1024000 MeV, angle/90 deg, 0, 1], "
        "energy fractions out in r, phi, z order (docs/deployment.md). Cylindrical readouts only.",
    ),
    precision: str = typer.Option("fp32", "--precision", help="fp32, fp16, int8 (dynamic) or int8-static."),
    particle: str | None = typer.Option(
        None, "--particle", "-p", help="With --par04: the particle baked into the graph (multi-particle models)."
    ),
    opset: int | None = typer.Option(None, "--opset", help="ONNX opset (default: torch's exporter default)."),
    fidelity_showers: int = typer.Option(
        2000, "--fidelity-showers", help="Showers to measure a reduced precision against fp32 (0: skip)."
    ),
    calibration_showers: int = typer.Option(
        512, "--calibration-showers", help="Noise + condition samples for int8-static and fp16 range checks."
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="Seeds the check, calibration and fidelity inputs."),
) -> None:
    """Export a model to ONNX (checked against PyTorch); reduced precisions report their fidelity."""
    from caloforge.exceptions import ModelError
    from caloforge.inference.export import export_onnx

    if particle is not None and not par04:
        raise ModelError("--particle is for --par04 only: the caloforge convention takes the particle as an input")
    if fidelity_showers < 0 or calibration_showers < 1:
        raise ModelError("--fidelity-showers must be >= 0 and --calibration-showers >= 1")
    typer.echo(f"exporting {model} (tracing and optimising the graph takes a while)...", err=True)
    result = export_onnx(
        model,
        output,
        par04=par04,
        precision=precision,
        particle=particle,
        opset=opset,
        calibration_showers=calibration_showers,
        fidelity_showers=fidelity_showers,
        seed=seed,
    )
    typer.echo(
        f"wrote {result.path} ({result.n_bytes / 1e6:.2f} MB, {result.convention} convention, {result.precision})"
    )
    typer.echo(f"inputs:  {result.inputs}")
    typer.echo(f"outputs: {result.outputs}")
    typer.echo(
        f"check: the float32 graph agrees with PyTorch within {result.deviation:.2g} x the tolerance "
        "(|diff| <= 1e-4 |x| + 1e-5 E_inc)"
    )
    if result.fidelity is not None:
        f = result.fidelity
        typer.echo(
            f"fidelity of {result.precision} vs fp32 on {f['n_showers']} showers: separation power mean "
            f"{f['sep_mean']:.2g}, max {f['sep_max']:.2g} ({f['sep_worst_feature']}); projection MSE max "
            f"{max(f['projection_mse'].values()):.2g}; |dE_tot|/E_tot median {f['etot_rel_median']:.2g}"
        )
    if result.par04_macro:
        typer.echo("Par04 macro commands for this model:")
        typer.echo(result.par04_macro)


def register(app: typer.Typer) -> None:
    app.command("export")(handle_errors(export))
