"""Geometry ↔ plain dict (JSON, YAML) with a validated schema.

The schema (documented in docs/geometry.md) is the same for the JSON stored inside every caloforge HDF5 file
and for user-written YAML/JSON geometry files. Unknown keys and impossible values raise
:class:`~caloforge.exceptions.GeometryError` naming the key path, e.g. ``readout[2].cartesian.nx``.

User files may abbreviate: a stack block may be a single slab; a readout entry may carry ``repeat: n`` with
``depth`` (mm) instead of explicit ``z`` ranges, its layers then following each other from ``z_start``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from caloforge.geometry.materials import MATERIALS, Material, mixture

__all__ = ["GEOMETRY_SCHEMA_VERSION", "geometry_from_dict", "geometry_to_dict", "load_geometry_file"]

GEOMETRY_SCHEMA_VERSION = 1


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
def _segmentation_to_dict(seg: CartesianGrid | CylindricalBins) -> dict[str, Any]:
    if isinstance(seg, CartesianGrid):
        d: dict[str, Any] = {"nx": seg.nx, "ny": seg.ny, "dx": seg.dx, "dy": seg.dy}
        if seg.x0 is not None:
            d["x0"] = seg.x0
        if seg.y0 is not None:
            d["y0"] = seg.y0
        return {"cartesian": d}
    return {"cylindrical": {"r_edges": list(seg.r_edges), "n_alpha": seg.n_alpha}}


def _material_to_dict(m: Material) -> dict[str, Any]:
    return {
        "density": m.density,
        "mass_fractions": dict(m.components),
        "I": m.I,
        "state": m.state,
    }


def geometry_to_dict(geometry: Geometry) -> dict[str, Any]:
    """The geometry as a plain, JSON-serialisable dict (fully expanded readout)."""
    out: dict[str, Any] = {
        "schema_version": GEOMETRY_SCHEMA_VERSION,
        "name": geometry.name,
        "description": geometry.description,
    }
    if geometry.stack is not None:
        st = geometry.stack
        stack: dict[str, Any] = {
            "width": [st.width_x, st.width_y],
            "blocks": [
                {
                    "repeat": b.repeat,
                    "slabs": [{"material": s.material, "thickness": s.thickness} for s in b.slabs],
                }
                for b in st.blocks
            ],
            "sensitive": list(st.sensitive),
            "range_cut": st.range_cut,
        }
        if st.materials:
            stack["materials"] = {name: _material_to_dict(m) for name, m in st.materials.items()}
        out["stack"] = stack
    readout = []
    for layer in geometry.layers:
        entry: dict[str, Any] = {"id": layer.id}
        if layer.z_min is not None and layer.z_max is not None:
            entry["z"] = [layer.z_min, layer.z_max]
        entry.update(_segmentation_to_dict(layer.segmentation))
        readout.append(entry)
    out["readout"] = readout
    out["energy_scale"] = geometry.energy_scale
    out["threshold"] = geometry.threshold
    out["beam_z"] = geometry.beam_z
    if geometry.particle is not None:
        out["particle"] = geometry.particle
    if geometry.xml_layer_ids is not None:
        out["xml_layer_ids"] = geometry.xml_layer_ids
    if geometry.xml_attributes:
        out["xml_attributes"] = dict(geometry.xml_attributes)
    return out


# --------------------------------------------------------------------------------------------------
# reading, with validation
# --------------------------------------------------------------------------------------------------
class _Reader:
    """Pulls typed values out of nested dicts, naming the key path in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> GeometryError:
        where = f"{self.source}: " if self.source else ""
        return GeometryError(f"{where}{path}: {message}")

    def mapping(
        self, value: Any, path: str, allowed: set[str], required: set[str] | frozenset[str] = frozenset()
    ) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path or "<top>", f"must be a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                raise self.fail(_join(path, str(key)), f"unknown key; allowed: {', '.join(sorted(allowed))}")
        for key in required:
            if key not in value:
                raise self.fail(_join(path, key), "is required")
        return value

    def number(self, value: Any, path: str, *, positive: bool = False, nonneg: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(path, f"must be a finite number, got {value!r}")
        if positive and not value > 0:
            raise self.fail(path, f"must be > 0, got {value!r}")
        if nonneg and value < 0:
            raise self.fail(path, f"must be >= 0, got {value!r}")
        return float(value)

    def integer(self, value: Any, path: str, *, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(path, f"must be >= {minimum}, got {value}")
        return int(value)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"must be a non-empty string, got {value!r}")
        return value

    def sequence(self, value: Any, path: str, *, min_len: int = 1) -> Sequence[Any]:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise self.fail(path, f"must be a list, got {type(value).__name__}")
        if len(value) < min_len:
            raise self.fail(path, f"must have at least {min_len} entries")
        return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _read_material(r: _Reader, name: str, value: Any, path: str) -> Material:
    d = r.mapping(value, path, {"density", "mass_fractions", "formula", "materials", "I", "state"}, {"density"})
    density = r.number(d["density"], _join(path, "density"), positive=True)
    kinds = [k for k in ("mass_fractions", "formula", "materials") if k in d]
    if len(kinds) != 1:
        raise r.fail(path, "give exactly one of mass_fractions, formula, materials")
    state = d.get("state", "solid")
    if state not in ("solid", "liquid", "gas"):
        raise r.fail(_join(path, "state"), f"must be solid, liquid or gas, got {state!r}")
    I = r.number(d["I"], _join(path, "I"), positive=True) if "I" in d else None
    try:
        if kinds[0] == "formula":
            return mixture(name, density, formula=r.string(d["formula"], _join(path, "formula")), I=I, state=state)
        parts = r.mapping(
            d[kinds[0]],
            _join(path, kinds[0]),
            set(d[kinds[0]]) if isinstance(d[kinds[0]], Mapping) else set(),
        )
        fractions = {str(k): r.number(v, _join(_join(path, kinds[0]), str(k)), positive=True) for k, v in parts.items()}
        if kinds[0] == "mass_fractions":
            return mixture(name, density, mass_fractions=fractions, I=I, state=state)
        return mixture(name, density, materials=fractions, I=I, state=state)
    except GeometryError as exc:
        raise r.fail(path, str(exc)) from None


def _read_stack(r: _Reader, value: Any) -> Stack:
    path = "stack"
    d = r.mapping(value, path, {"width", "blocks", "sensitive", "range_cut", "materials"}, {"width", "blocks"})
    width = d["width"]
    if isinstance(width, int | float) and not isinstance(width, bool):
        wx = wy = r.number(width, _join(path, "width"), positive=True)
    else:
        w = r.sequence(width, _join(path, "width"), min_len=2)
        if len(w) != 2:
            raise r.fail(_join(path, "width"), "must be a number or [width_x, width_y] in mm")
        wx = r.number(w[0], _join(path, "width") + "[0]", positive=True)
        wy = r.number(w[1], _join(path, "width") + "[1]", positive=True)
    materials: dict[str, Material] = {}
    if "materials" in d:
        mats = r.mapping(
            d["materials"],
            _join(path, "materials"),
            set(d["materials"]) if isinstance(d["materials"], Mapping) else set(),
        )
        for name, spec in mats.items():
            materials[str(name)] = _read_material(r, str(name), spec, _join(_join(path, "materials"), str(name)))
    blocks = []
    for i, b in enumerate(r.sequence(d["blocks"], _join(path, "blocks"))):
        bpath = _join(_join(path, "blocks"), i)
        if isinstance(b, Mapping) and "material" in b:  # a single slab as a block
            b = {"slabs": [{k: v for k, v in b.items() if k != "repeat"}], "repeat": b.get("repeat", 1)}
        bd = r.mapping(b, bpath, {"repeat", "slabs"}, {"slabs"})
        repeat = r.integer(bd.get("repeat", 1), _join(bpath, "repeat"))
        slabs = []
        for j, s in enumerate(r.sequence(bd["slabs"], _join(bpath, "slabs"))):
            spath = _join(_join(bpath, "slabs"), j)
            sd = r.mapping(s, spath, {"material", "thickness"}, {"material", "thickness"})
            mat = r.string(sd["material"], _join(spath, "material"))
            if mat not in materials and mat not in MATERIALS:
                known = sorted({m.name for m in MATERIALS.values()} | set(materials))
                raise r.fail(_join(spath, "material"), f"unknown material {mat!r}; known: {', '.join(known)}")
            slabs.append(Slab(mat, r.number(sd["thickness"], _join(spath, "thickness"), positive=True)))
        blocks.append(Block(tuple(slabs), repeat))
    sensitive_raw = d.get("sensitive", ["*"])
    if isinstance(sensitive_raw, str):
        sensitive_raw = [sensitive_raw]
    sensitive = tuple(
        r.string(s, _join(path, "sensitive")) for s in r.sequence(sensitive_raw, _join(path, "sensitive"))
    )
    if sensitive in (("all",), ("*",)):
        sensitive = ("*",)
    else:
        used = {s.material for b in blocks for s in b.slabs}
        for s in sensitive:
            if s not in used:
                raise r.fail(_join(path, "sensitive"), f"material {s!r} is not in the stack (stack has {sorted(used)})")
    range_cut = r.number(d.get("range_cut", 0.7), _join(path, "range_cut"), positive=True)
    return Stack(tuple(blocks), wx, wy, sensitive, range_cut, materials)


def _read_segmentation(r: _Reader, d: Mapping[str, Any], path: str) -> CartesianGrid | CylindricalBins:
    kinds = [k for k in ("cartesian", "cylindrical") if k in d]
    if len(kinds) != 1:
        raise r.fail(path, "give exactly one of 'cartesian' or 'cylindrical'")
    spath = _join(path, kinds[0])
    if kinds[0] == "cartesian":
        c = r.mapping(d["cartesian"], spath, {"nx", "ny", "dx", "dy", "x0", "y0"}, {"nx", "ny", "dx", "dy"})
        return CartesianGrid(
            nx=r.integer(c["nx"], _join(spath, "nx")),
            ny=r.integer(c["ny"], _join(spath, "ny")),
            dx=r.number(c["dx"], _join(spath, "dx"), positive=True),
            dy=r.number(c["dy"], _join(spath, "dy"), positive=True),
            x0=r.number(c["x0"], _join(spath, "x0")) if "x0" in c else None,
            y0=r.number(c["y0"], _join(spath, "y0")) if "y0" in c else None,
        )
    c = r.mapping(d["cylindrical"], spath, {"r_edges", "n_alpha"}, {"r_edges"})
    edges = tuple(
        r.number(e, f"{_join(spath, 'r_edges')}[{k}]", nonneg=True)
        for k, e in enumerate(r.sequence(c["r_edges"], _join(spath, "r_edges"), min_len=2))
    )
    if edges[0] != 0.0:
        raise r.fail(_join(spath, "r_edges"), f"must start at 0, got {edges[0]}")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise r.fail(_join(spath, "r_edges"), "must be strictly increasing")
    return CylindricalBins(edges, r.integer(c.get("n_alpha", 1), _join(spath, "n_alpha")))


def _read_readout(r: _Reader, value: Any, stack: Stack | None) -> tuple[ReadoutLayer, ...]:
    layers: list[ReadoutLayer] = []
    z_next = 0.0
    for i, entry in enumerate(r.sequence(value, "readout")):
        path = _join("readout", i)
        d = r.mapping(entry, path, {"id", "z", "z_start", "depth", "repeat", "cartesian", "cylindrical"})
        seg = _read_segmentation(r, d, path)
        repeat = r.integer(d.get("repeat", 1), _join(path, "repeat"))
        if "z" in d and ("depth" in d or repeat != 1):
            raise r.fail(path, "give either 'z: [z_min, z_max]' or 'depth' (with optional 'repeat'), not both")
        first_id = (
            r.integer(d["id"], _join(path, "id"), minimum=0) if "id" in d else (layers[-1].id + 1 if layers else 0)
        )
        if "z" in d:
            z = r.sequence(d["z"], _join(path, "z"), min_len=2)
            if len(z) != 2:
                raise r.fail(_join(path, "z"), "must be [z_min, z_max] in mm")
            z0 = r.number(z[0], _join(path, "z") + "[0]")
            z1 = r.number(z[1], _join(path, "z") + "[1]")
            if z1 <= z0:
                raise r.fail(_join(path, "z"), f"z_max must exceed z_min, got [{z0}, {z1}]")
            layers.append(ReadoutLayer(seg, z0, z1, first_id))
            z_next = z1
        elif "depth" in d:
            depth = r.number(d["depth"], _join(path, "depth"), positive=True)
            z0 = r.number(d["z_start"], _join(path, "z_start")) if "z_start" in d else z_next
            for k in range(repeat):
                # multiply rather than accumulate so that edges are exact multiples of the depth
                layers.append(ReadoutLayer(seg, z0 + k * depth, z0 + (k + 1) * depth, first_id + k))
            z_next = z0 + repeat * depth
        else:
            if stack is not None:
                raise r.fail(path, "a geometry with a stack needs 'z' or 'depth' for every readout layer")
            for k in range(repeat):
                layers.append(ReadoutLayer(seg, None, None, first_id + k))
    ids = [layer.id for layer in layers]
    if len(set(ids)) != len(ids):
        raise r.fail("readout", f"layer ids must be unique, got {ids}")
    if stack is not None:
        for i, layer in enumerate(layers):
            assert layer.z_min is not None
            assert layer.z_max is not None
            if layer.z_min < -1e-9 or layer.z_max > stack.depth + 1e-6:
                raise r.fail(
                    _join("readout", i),
                    f"depth range [{layer.z_min}, {layer.z_max}] mm lies outside the stack (0 to {stack.depth:g} mm)",
                )
        for a, b in itertools.pairwise(layers):
            assert a.z_max is not None
            assert b.z_min is not None
            if b.z_min < a.z_max - 1e-9:
                raise r.fail("readout", f"layers {a.id} and {b.id} overlap in depth")
    return tuple(layers)


_TOP_KEYS = {
    "schema_version",
    "name",
    "description",
    "stack",
    "readout",
    "energy_scale",
    "threshold",
    "beam_z",
    "particle",
    "xml_layer_ids",
    "xml_attributes",
}


def geometry_from_dict(data: Any, source: str = "") -> Geometry:
    """Build and validate a :class:`Geometry` from a plain dict (JSON/YAML).

    Args:
        data: the parsed document.
        source: the file it came from, quoted in error messages.

    Raises:
        GeometryError: an unknown key or an impossible value; the message names the key path.
    """
    r = _Reader(source)
    d = r.mapping(data, "", _TOP_KEYS, {"name", "readout"})
    version = d.get("schema_version", GEOMETRY_SCHEMA_VERSION)
    if version != GEOMETRY_SCHEMA_VERSION:
        raise r.fail("schema_version", f"this caloforge reads version {GEOMETRY_SCHEMA_VERSION}, got {version!r}")
    stack = _read_stack(r, d["stack"]) if d.get("stack") is not None else None
    layers = _read_readout(r, d["readout"], stack)
    xml_attributes = d.get("xml_attributes", {})
    xml_attributes = r.mapping(
        xml_attributes,
        "xml_attributes",
        set(xml_attributes) if isinstance(xml_attributes, Mapping) else set(),
    )
    xml_ids = r.integer(d["xml_layer_ids"], "xml_layer_ids") if "xml_layer_ids" in d else None
    if xml_ids is not None and layers and xml_ids <= max(layer.id for layer in layers):
        raise r.fail("xml_layer_ids", f"must exceed the largest layer id ({max(layer.id for layer in layers)})")
    return Geometry(
        name=r.string(d["name"], "name"),
        layers=layers,
        stack=stack,
        energy_scale=r.number(d.get("energy_scale", 1.0), "energy_scale", positive=True),
        threshold=r.number(d.get("threshold", 0.0), "threshold", nonneg=True),
        beam_z=r.number(d.get("beam_z", -1.0), "beam_z"),
        description=str(d.get("description", "")),
        particle=r.integer(d["particle"], "particle", minimum=-(10**9)) if d.get("particle") is not None else None,
        xml_layer_ids=xml_ids,
        xml_attributes=tuple((str(k), str(v)) for k, v in xml_attributes.items()),
    )


def load_geometry_file(path: str | Path) -> Geometry:
    """Read a user geometry from a ``.yaml``/``.yml``/``.json`` file (or CaloChallenge ``.xml`` binning).

    Raises:
        GeometryError: the file is missing, unparsable, or fails validation; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise GeometryError(f"geometry file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix == ".xml":
        from caloforge.geometry.xml import geometry_from_xml

        return geometry_from_xml(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GeometryError(f"geometry file {str(p)!r} cannot be read as UTF-8 text: {exc}") from None
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise GeometryError(f"geometry file {str(p)!r}: use a .yaml, .yml, .json or .xml file")
    except (json.JSONDecodeError, ValueError) as exc:
        if isinstance(exc, GeometryError):
            raise
        raise GeometryError(f"geometry file {str(p)!r} is not valid {suffix[1:].upper()}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise GeometryError(f"geometry file {str(p)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return geometry_from_dict(data, source=str(p))
