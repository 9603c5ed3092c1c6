"""Property tests (hypothesis): voxel indexing and JSON/XML round trips of random geometries."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from caloforge.geometry import (
    Block,
    CartesianGrid,
    CylindricalBins,
    Geometry,
    ReadoutLayer,
    Slab,
    Stack,
    geometry_from_json,
    geometry_from_xml,
    geometry_to_xml,
)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

lengths = st.floats(min_value=0.05, max_value=200.0, allow_nan=False, allow_infinity=False)


@st.composite
def cartesian(draw: st.DrawFn) -> CartesianGrid:
    nx, ny = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    dx, dy = draw(lengths), draw(lengths)
    offset = draw(st.one_of(st.none(), st.floats(-500.0, 500.0, allow_nan=False)))
    return CartesianGrid(nx, ny, dx, dy, offset, None if offset is None else -offset)


@st.composite
def cylindrical(draw: st.DrawFn) -> CylindricalBins:
    widths = draw(st.lists(lengths, min_size=1, max_size=10))
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    return CylindricalBins(tuple(float(e) for e in edges), draw(st.integers(1, 24)))


@st.composite
def geometries(draw: st.DrawFn, kind: str = "any") -> Geometry:
    seg = {"cartesian": cartesian(), "cylindrical": cylindrical()}.get(kind, st.one_of(cartesian(), cylindrical()))
    segments = draw(st.lists(seg, min_size=1, max_size=6))
    with_stack = draw(st.booleans())
    layers = []
    z = 0.0
    ids = sorted(draw(st.sets(st.integers(0, 40), min_size=len(segments), max_size=len(segments))))
    for layer_id, s in zip(ids, segments, strict=True):
        depth = draw(lengths)
        layers.append(ReadoutLayer(s, z if with_stack else None, z + depth if with_stack else None, layer_id))
        z += depth
    stack = None
    if with_stack:
        stack = Stack(
            (Block((Slab("Pb", z / 2), Slab("LAr", z / 2)), 1),),
            draw(lengths),
            draw(lengths),
            draw(st.sampled_from([("*",), ("LAr",), ("Pb", "LAr")])),
        )
    return Geometry(
        name=draw(st.text("abcdefgh-0123", min_size=1, max_size=12)),
        layers=tuple(layers),
        stack=stack,
        energy_scale=draw(st.floats(0.01, 100.0)),
        threshold=draw(st.floats(0.0, 10.0)),
        particle=draw(st.one_of(st.none(), st.sampled_from([11, -11, 22, 211]))),
    )


@SETTINGS
@given(geometries(), st.data())
def test_voxel_index_and_layer_and_bin_are_inverse(g: Geometry, data: st.DataObject) -> None:
    voxels = np.arange(g.n_voxels)
    layer, bin_ = g.layer_and_bin(voxels)
    np.testing.assert_array_equal(g.voxel_index(layer, bin_), voxels)
    np.testing.assert_array_equal(layer, g.voxel_layer)
    i = data.draw(st.integers(0, g.n_layers - 1))
    b = data.draw(st.integers(0, g.layer_sizes[i] - 1))
    assert int(g.voxel_index(i, b)) == g.layer_offsets[i] + b
    assert g.layer_slice(i).start <= int(g.voxel_index(i, b)) < g.layer_slice(i).stop


@SETTINGS
@given(geometries())
def test_locate_finds_every_cell_centre(g: Geometry) -> None:
    centres = g.voxel_centers()
    for i in range(g.n_layers):
        sl = g.layer_slice(i)
        found = g.locate(i, centres[sl, 0], centres[sl, 1])
        np.testing.assert_array_equal(found, np.arange(sl.start, sl.stop))
        # far outside every cell: −1, and non-finite coordinates too (no warning, no wrap-around)
        far = np.array([1e9, -1e9, np.nan, np.inf])
        np.testing.assert_array_equal(g.locate(i, far, far), -1)


@SETTINGS
@given(geometries())
def test_layer_views_and_sums_agree(g: Geometry) -> None:
    rng = np.random.default_rng(0)
    showers = rng.random((3, g.n_voxels)).astype(np.float32)
    sums = g.layer_sums(showers)
    views = g.layer_views(showers)
    np.testing.assert_allclose(sums, np.stack([v.reshape(3, -1).sum(axis=1) for v in views], axis=1), rtol=1e-5)
    np.testing.assert_allclose(sums.sum(axis=1), showers.sum(axis=1), rtol=1e-5)


@SETTINGS
@given(geometries())
def test_json_round_trip(g: Geometry) -> None:
    back = geometry_from_json(json.dumps(g.to_dict()))
    assert back == g
    assert back.layers == g.layers
    assert back.n_voxels == g.n_voxels


@SETTINGS
@given(geometries("cylindrical"))
def test_xml_round_trip(g: Geometry) -> None:
    text = geometry_to_xml(g)
    back = geometry_from_xml("random.xml", text=text)
    assert [(layer.id, layer.segmentation) for layer in back.layers] == [
        (layer.id, layer.segmentation) for layer in g.layers
    ]
    assert geometry_to_xml(back) == text
