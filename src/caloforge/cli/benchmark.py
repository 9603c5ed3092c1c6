"""``caloforge benchmark``: time per shower of every model, backend and precision beside the reference simulation."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import handle_errors

_VALID = {"torch": ("fp32", "bf16", "fp16"), "onnx": ("fp32", "fp16", "int8", "int8-static")}


def _list(text: str, option: str) -> list[str]:
    from caloforge.exceptions import ConfigError

    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{option}: give a comma-separated list, got {text!r}")
    return items


def benchmark(
    models: list[str] | None = typer.Argument(
        None,
        help="Pretrained names, model or run folders (default: every shipped model; with none, every family "
        "at its default size with random weights).",
    ),
    batch: str = typer.Option("1,100,10000", "--batch", help="Batch sizes, comma-separated."),
    backend: str | None = typer.Option(None, "--backend", help="Subset of torch,onnx (default: both)."),
    precision: str | None = typer.Option(
        None, "--precision", help="Subset of fp32,bf16,fp16,int8,int8-static (default: all but torch fp16)."
    ),
    threads: int = typer.Option(2, "--threads", help="CPU threads of the models (the simulation uses one core)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, or cpu,cuda; auto = cpu and cuda if present."),
    energy: float = typer.Option(50.0, "--energy", "-e", help="Incident energy of every shower, GeV."),
    sim_showers: int = typer.Option(3, "--sim-showers", help="Reference-simulation showers (0: skip it)."),
    geometry: str = typer.Option("calogan", "--geometry", help="Geometry of the random-weight models."),
    family: list[str] | None = typer.Option(None, "--family", help="Random-weight families to time (repeatable)."),
    fidelity_showers: int = typer.Option(
        2000, "--fidelity-showers", help="Showers per reduced-precision fidelity check (0: skip)."
    ),
    reference: Path | None = typer.Option(
        None, "--reference", help="Reference sample (HDF5) to compare fp32 and each precision with."
    ),
    max_reference: int = typer.Option(20_000, "--max-reference", help="At most this many reference showers."),
    classifier: str | None = typer.Option(
        None, "--classifier", help="With --reference: classifier preset (quick, default) for AUCs."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the full report as JSON."),
    markdown: Path | None = typer.Option(None, "--markdown", help="Write the table as Markdown (for the docs)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Noise seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Time models on every backend and precision, with peak memory, fidelity and speed-up over the simulation."""
    import math

    from caloforge.exceptions import ConfigError
    from caloforge.inference.benchmark import (
        DEFAULT_VARIANTS,
        models_to_benchmark,
        run_benchmark,
        write_report,
    )
    from caloforge.inference.spec import canonical_precision

    try:
        batches = [int(b) for b in _list(batch, "--batch")]
    except ValueError:
        raise ConfigError(f"--batch: {batch!r} is not a list of integers") from None
    if min(batches) < 1:
        raise ConfigError(f"--batch: batch sizes must be >= 1, got {batch!r}")
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    if not math.isfinite(energy) or energy <= 0:
        raise ConfigError(f"--energy must be a positive number of GeV, got {energy}")
    backends = _list(backend, "--backend") if backend else list(_VALID)
    unknown = [b for b in backends if b not in _VALID]
    if unknown:
        raise ConfigError(f"--backend: unknown {', '.join(unknown)}; choose from torch, onnx")
    precisions = [canonical_precision(p) for p in _list(precision, "--precision")] if precision else None
    if precisions is None and backend is None:
        variants = list(DEFAULT_VARIANTS)
    else:
        wanted = precisions or sorted({p for ps in _VALID.values() for p in ps})
        variants = [(b, p) for b in backends for p in _VALID[b] if p in wanted]
        if precisions is None:
            variants = [v for v in variants if v in DEFAULT_VARIANTS]
    if not variants:
        raise ConfigError("--backend/--precision leave nothing to run (int8 runs on onnx, bf16 on torch)")
    devices = ["cpu", "cuda"] if device == "auto" else _list(device, "--device")

    entries, notes = models_to_benchmark(models or [], geometry=geometry, families=family)
    ref_set = None
    if reference is not None:
        from caloforge.validation.samples import load_sample

        ref_set = load_sample(reference, role="reference", max_showers=max_reference, seed=seed)
        for e in entries:
            if e.model.geometry.layers != ref_set.geometry.layers:
                raise ConfigError(
                    f"--reference {str(reference)!r} has geometry {ref_set.geometry.name!r}, but model {e.label!r} "
                    f"generates {e.model.geometry.name!r}; benchmark models of that geometry only"
                )
    say = None if quiet else (lambda m: typer.echo(f"... {m}", err=True))
    report = run_benchmark(
        entries,
        batches=batches,
        variants=variants,
        devices=devices,
        threads=threads,
        energy=energy * 1000.0,
        sim_showers=sim_showers,
        fidelity_showers=fidelity_showers,
        reference=ref_set,
        reference_source=str(reference) if reference else "",
        classifier=classifier,
        seed=seed,
        notes=notes,
        progress=say,
    )
    report.print_table()
    write_report(report, json_out, markdown)
    for path in (json_out, markdown):
        if path is not None:
            typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("benchmark")(handle_errors(benchmark))
