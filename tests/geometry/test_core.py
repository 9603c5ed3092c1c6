"""Geometry details that the property tests do not reach: empty layers, conventions of the flat order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.exceptions import GeometryError
from caloforge.geometry import CartesianGrid, CylindricalBins, Geometry, ReadoutLayer, get_preset, mixture


def test_layer_sums_with_an_empty_layer() -> None:
    # an empty cylindrical layer (r_edges = (0,)) must sum to 0, not repeat a neighbour's voxel
    g = Geometry(
        "gappy",
        (
            ReadoutLayer(CylindricalBins((0.0, 1.0), 2)),
            ReadoutLayer(CylindricalBins((0.0,), 1), id=1),
            ReadoutLayer(CylindricalBins((0.0, 1.0, 2.0), 1), id=2),
            ReadoutLayer(CylindricalBins((0.0,), 1), id=3),
        ),
    )
    showers = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(g.layer_sums(showers), [[3.0, 0.0, 7.0, 0.0]])
    assert g.layer_and_bin(2) == (2, 0)


def test_cylindrical_order_is_alpha_then_r() -> None:
    seg = CylindricalBins((0.0, 1.0, 2.0, 3.0), 4)
    r, alpha = seg.polar_centers()
    np.testing.assert_allclose(r[:3], [0.5, 1.5, 2.5])  # r fastest
    np.testing.assert_allclose(alpha[[0, 3, 6, 9]], -math.pi + (np.arange(4) + 0.5) * math.pi / 2)
    # a point at r = 1.2, alpha just above -pi/2 (second sector) -> voxel 1*3 + 1
    assert int(seg.locate(np.array(1.2 * math.cos(-1.5)), np.array(1.2 * math.sin(-1.5)))) == 4


def test_cartesian_order_is_rows_x_then_columns_y() -> None:
    grid = CartesianGrid(3, 4, 10.0, 5.0)
    x, y = grid.centers()
    assert (x[0], y[0], x[1], y[1]) == (-10.0, -7.5, -10.0, -2.5)  # second cell: same row (x), next column (y)
    assert int(grid.locate(np.array(1.0), np.array(-9.0))) == 1 * 4 + 0


def test_calogan_layer_view_shapes() -> None:
    g = get_preset("calogan")
    views = g.layer_views(np.zeros((2, g.n_voxels), dtype=np.float32))
    assert [v.shape for v in views] == [(2, 3, 96), (2, 12, 12), (2, 12, 6)]
    with pytest.raises(GeometryError, match="503 voxels but geometry 'calogan' has 504"):
        g.layer_sums(np.zeros((1, 503)))


def test_mixture_fractions_survive_a_round_trip() -> None:
    m = mixture("glue", 1.2, formula="C9H10")
    again = mixture("glue", 1.2, mass_fractions=dict(m.components))
    assert again.components == m.components
