"""``caloforge geometry list|show|export``."""

from __future__ import annotations

from pathlib import Path

import typer

from caloforge.cli._common import command

app = typer.Typer(help="List, describe and export detector geometries.", no_args_is_help=True)


@command(app, "list")
def list_() -> None:
    """List the preset geometries."""
    from rich.console import Console
    from rich.table import Table

    from caloforge.geometry import get_preset, preset_names

    table = Table(title="preset geometries")
    for col in ("name", "layers", "voxels", "depth [X0]", "readout", "stack"):
        table.add_column(col, no_wrap=col == "name")
    for name in preset_names():
        g = get_preset(name)
        kind = "cartesian" if g.is_cartesian else "cylindrical" if g.is_cylindrical else "mixed"
        depth = f"{g.stack.depth_in_X0():.1f}" if g.stack else "-"
        stack = "readout only" if g.stack is None else " + ".join(g.stack.material_names)
        table.add_row(name, str(g.n_layers), str(g.n_voxels), depth, kind, stack)
    Console().print(table)


@command(app, "show")
def show(
    name: str = typer.Argument(..., help="Preset name or geometry file (.yaml/.json/.xml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full geometry JSON."),
) -> None:
    """Describe a geometry: layers, voxels, depth, materials."""
    import json

    from caloforge.geometry import resolve_geometry

    g = resolve_geometry(name)
    if as_json:
        typer.echo(json.dumps(g.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{g.name}[/bold]: {g.description}")
    for key, value in g.summary().items():
        if key not in ("name", "layer_voxels"):
            console.print(f"  {key}: {value}")
    table = Table()
    for col in ("layer", "id", "depth range [mm]", "segmentation", "voxels"):
        table.add_column(col)
    for i, layer in enumerate(g.layers):
        seg = layer.segmentation
        if seg.kind == "cartesian":
            desc = f"{seg.nx} x {seg.ny} cells of {seg.dx:g} x {seg.dy:g} mm"
        else:
            desc = f"{seg.n_alpha} alpha x {seg.n_r} r bins, r < {seg.r_edges[-1]:g} mm"
        z = "-" if layer.z_min is None else f"{layer.z_min:g} - {layer.z_max:g}"
        table.add_row(str(i), str(layer.id), z, desc, str(layer.n_voxels))
    console.print(table)


@command(app, "export")
def export(
    name: str = typer.Argument(..., help="Preset name or geometry file."),
    xml: bool = typer.Option(False, "--xml", help="CaloChallenge binning XML instead of JSON."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file instead of stdout."),
) -> None:
    """Export a geometry as JSON (caloforge schema) or CaloChallenge binning XML."""
    import json

    from caloforge.geometry import geometry_to_xml, resolve_geometry

    g = resolve_geometry(name)
    text = geometry_to_xml(g) if xml else json.dumps(g.to_dict(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    from caloforge.io.files import atomic_path

    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")
