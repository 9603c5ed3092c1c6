"""CaloChallenge binning XML (the schema ATLAS's FastCaloGAN production code reads too).

``<Bins><Bin pid=".." name=".."><Layer id="k" r_edges="0,5,10" n_bin_alpha="n"/>...</Bin></Bins>``.
A layer with ``r_edges="0"`` has no voxels; ATLAS lists empty samplings too, which we keep by recording how
many layer ids the file lists (``Geometry.xml_layer_ids``).
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from caloforge.exceptions import GeometryError
from caloforge.geometry.core import CylindricalBins, Geometry, ReadoutLayer

__all__ = ["geometry_from_xml", "geometry_to_xml"]


def _format_edge(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def geometry_to_xml(geometry: Geometry) -> str:
    """The readout of a cylindrical geometry as CaloChallenge binning XML.

    Raises:
        GeometryError: the geometry has Cartesian layers (the schema only describes (r, α) bins).
    """
    if not geometry.is_cylindrical:
        raise GeometryError(
            f"geometry {geometry.name!r} has Cartesian layers; CaloChallenge XML describes only cylindrical bins"
        )
    attrs = dict(geometry.xml_attributes)
    attrs.setdefault("pid", str(geometry.particle if geometry.particle is not None else 0))
    attrs.setdefault("name", geometry.name)
    by_id = {layer.id: layer for layer in geometry.layers}
    n_ids = geometry.xml_layer_ids or (max(by_id) + 1 if by_id else 0)
    # keep pid and name first, as the published files do
    order = ["pid", *[k for k in attrs if k not in ("pid", "name")], "name"]
    bin_attrs = " ".join(f'{k}="{attrs[k]}"' for k in order)
    lines = ["<Bins>", f"   <Bin {bin_attrs}>"]
    for layer_id in range(n_ids):
        layer = by_id.get(layer_id)
        if layer is None:
            lines.append(f'      <Layer id="{layer_id}" r_edges="0" n_bin_alpha="1" />')
            continue
        seg = layer.segmentation
        assert isinstance(seg, CylindricalBins)
        edges = ",".join(_format_edge(e) for e in seg.r_edges)
        lines.append(f'      <Layer id="{layer_id}" r_edges="{edges}" n_bin_alpha="{seg.n_alpha}" />')
    lines += ["   </Bin>", "</Bins>", ""]
    return "\n".join(lines)


def geometry_from_xml(source: str | Path, *, name: str | None = None, text: str | None = None) -> Geometry:
    """A readout-only geometry from a CaloChallenge binning XML file (or ``text``).

    Raises:
        GeometryError: unparsable XML or a layer with bad attributes; the message names the file.
    """
    label = str(source)
    try:
        root = ET.fromstring(text) if text is not None else ET.parse(source).getroot()
    except (ET.ParseError, OSError) as exc:
        raise GeometryError(f"binning XML {label!r} cannot be read: {exc}") from None
    bins = root.findall("Bin") if root.tag == "Bins" else []
    if len(bins) != 1:
        raise GeometryError(f"binning XML {label!r}: expected <Bins> holding one <Bin>, found {len(bins)}")
    b = bins[0]
    layers = []
    ids = []
    for k, el in enumerate(b.findall("Layer")):
        try:
            layer_id = int(el.attrib["id"])
            edges = tuple(float(x) for x in el.attrib["r_edges"].split(","))
            n_alpha = int(el.attrib.get("n_bin_alpha", "1"))
        except (KeyError, ValueError) as exc:
            raise GeometryError(f"binning XML {label!r}: Layer #{k} has a missing or bad attribute ({exc})") from None
        ids.append(layer_id)
        if len(edges) < 2:
            continue  # r_edges="0": an empty sampling
        bad_edges = not all(math.isfinite(e) for e in edges) or any(b2 <= b1 for b1, b2 in itertools.pairwise(edges))
        if edges[0] != 0 or bad_edges or n_alpha < 1:
            raise GeometryError(f"binning XML {label!r}: Layer id={layer_id} has invalid r_edges or n_bin_alpha")
        layers.append(ReadoutLayer(CylindricalBins(edges, n_alpha), None, None, layer_id))
    if not layers:
        raise GeometryError(f"binning XML {label!r} has no layer with voxels")
    attrs = dict(b.attrib)
    pid = attrs.get("pid")
    try:
        particle = int(pid) if pid is not None else None
    except ValueError:
        particle = None
    geometry_name = name or attrs.get("name") or Path(label).stem
    return Geometry(
        name=geometry_name,
        layers=tuple(layers),
        stack=None,
        description=f"readout-only geometry read from {Path(label).name}",
        particle=particle,
        xml_layer_ids=max(ids) + 1,
        xml_attributes=tuple(attrs.items()),
    )
