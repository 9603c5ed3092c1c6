"""Detector geometry: materials, physical stacks, readouts, presets, JSON/YAML/XML I/O.

>>> from caloforge.geometry import resolve_geometry
>>> g = resolve_geometry("calogan")
>>> g.n_voxels, g.layer_sizes
(504, (288, 144, 72))
"""

from __future__ import annotations

from pathlib import Path

from caloforge.exceptions import GeometryError
from caloforge.geometry.core import (
    Block,
    CartesianGrid,
    CylindricalBins,
    Geometry,
    ReadoutLayer,
    Slab,
    Stack,
)
from caloforge.geometry.materials import MATERIALS, Material, get_material, mixture, radiation_length
from caloforge.geometry.presets import PRESETS, get_preset, preset_names
from caloforge.geometry.serialize import geometry_from_dict, geometry_to_dict, load_geometry_file
from caloforge.geometry.xml import geometry_from_xml, geometry_to_xml

__all__ = [
    "MATERIALS",
    "PRESETS",
    "Block",
    "CartesianGrid",
    "CylindricalBins",
    "Geometry",
    "Material",
    "ReadoutLayer",
    "Slab",
    "Stack",
    "geometry_from_dict",
    "geometry_from_json",
    "geometry_from_xml",
    "geometry_to_dict",
    "geometry_to_xml",
    "get_material",
    "get_preset",
    "load_geometry_file",
    "mixture",
    "preset_names",
    "radiation_length",
    "resolve_geometry",
]


def geometry_from_json(text: str, source: str = "") -> Geometry:
    """Parse the geometry JSON stored in caloforge files."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeometryError(f"{source or 'geometry JSON'}: not valid JSON ({exc})") from None
    return geometry_from_dict(data, source=source)


def resolve_geometry(spec: str | Path | Geometry) -> Geometry:
    """A geometry from a preset name, a geometry file path (.yaml/.yml/.json/.xml), or a Geometry.

    Raises:
        GeometryError: unknown preset name or bad file.
    """
    if isinstance(spec, Geometry):
        return spec
    text = str(spec)
    if text in PRESETS:
        return get_preset(text)
    if isinstance(spec, Path) or text.lower().endswith((".yaml", ".yml", ".json", ".xml")) or "/" in text:
        return load_geometry_file(text)
    return get_preset(text)  # raises with the list of presets
