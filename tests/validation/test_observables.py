"""Observables on hand-made showers whose answers are known, for Cartesian and cylindrical readouts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.exceptions import DataFormatError
from caloforge.geometry import get_preset
from caloforge.validation.observables import (
    apply_threshold,
    average_projections,
    centres_of_energy,
    deepest_layer,
    e_ratio,
    feature_specs,
    high_level_vector,
    layer_axes,
    layer_energies,
    projection_bins,
    response,
    shower_depth,
    shower_features,
    sparsity,
    voxel_spectrum,
    widths,
)


def _empty(geometry, n=1):
    return np.zeros((n, geometry.n_voxels), dtype=np.float32)


def test_single_cartesian_voxel_gives_its_centre_and_zero_width():
    g = get_preset("calogan")
    s = _empty(g)
    v = g.voxel_index(1, 5 * 12 + 7)  # layer 1 (12 x 12 of 40 mm), row 5, column 7
    s[0, v] = 100.0
    ec_x, ec_y, ec_r = centres_of_energy(s, g)
    x, y, _ = g.voxel_centers()[v]
    assert ec_x[0, 1] == pytest.approx(x)
    assert ec_y[0, 1] == pytest.approx(y)
    assert x == pytest.approx(-240 + 5.5 * 40)
    assert y == pytest.approx(-240 + 7.5 * 40)
    assert ec_r[0, 1] == pytest.approx(math.hypot(x, y))
    wx, wy, wr = widths(s, g)
    assert wx[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert wy[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert wr[0, 1] == pytest.approx(0.0, abs=1e-6)
    # empty layers: centre and width 0 (the CaloChallenge's +1e-16 convention)
    assert ec_x[0, 0] == 0.0
    assert wx[0, 2] == 0.0


def test_two_voxels_give_midpoint_and_half_distance_width():
    g = get_preset("calogan")
    s = _empty(g)
    a, b = g.voxel_index(1, 5 * 12 + 2), g.voxel_index(1, 5 * 12 + 9)  # same row, y differs by 7 cells
    s[0, a] = s[0, b] = 50.0
    ec_x, ec_y, _ = centres_of_energy(s, g)
    wx, wy, _ = widths(s, g)
    ya, yb = g.voxel_centers()[[a, b], 1]
    assert ec_y[0, 1] == pytest.approx(0.5 * (ya + yb))
    assert ec_x[0, 1] == pytest.approx(g.voxel_centers()[a, 0])
    assert wy[0, 1] == pytest.approx(0.5 * abs(yb - ya))
    assert wx[0, 1] == pytest.approx(0.0, abs=1e-6)


def test_cylindrical_voxel_centre_follows_calochallenge_convention():
    g = get_preset("calochallenge-2")
    s = _empty(g)
    layer, ia, ir = 10, 3, 4  # alpha bin 3 of 16, radial bin 4 (18.6-23.25 mm)
    s[0, g.voxel_index(layer, ia * 9 + ir)] = 10.0
    ec_x, ec_y, ec_r = centres_of_energy(s, g)
    r_mid = 0.5 * (18.6 + 23.25)
    alpha = -math.pi + (ia + 0.5) * 2 * math.pi / 16
    assert ec_r[0, layer] == pytest.approx(r_mid)
    assert ec_x[0, layer] == pytest.approx(r_mid * math.cos(alpha))
    assert ec_y[0, layer] == pytest.approx(r_mid * math.sin(alpha))


def test_threshold_zeroes_small_voxels_everywhere():
    g = get_preset("calochallenge-1-photons")  # 1 MeV threshold
    s = _empty(g)
    s[0, 0] = 0.5
    s[0, 1] = 2.0
    s[0, 20] = 3.0
    e = layer_energies(s, g)
    assert e.sum() == pytest.approx(5.0)
    assert layer_energies(s, g, threshold=0.0).sum() == pytest.approx(5.5)
    assert apply_threshold(s, 1.0)[0, 0] == 0.0
    sp = sparsity(s, g)
    assert sp[0, 0] == pytest.approx(1 - 1 / 8)  # layer 0: 8 voxels, one at or above 1 MeV
    assert response(s, [10.0], threshold=1.0)[0] == pytest.approx(0.5)
    assert sorted(voxel_spectrum(s, 1.0).tolist()) == [2.0, 3.0]


def test_e_ratio_depth_and_deepest_layer():
    g = get_preset("calogan")
    s = _empty(g)
    sl = g.layer_slice(1)
    s[0, sl.start] = 3.0
    s[0, sl.start + 1] = 1.0
    s[0, g.layer_slice(2).start] = 2.0  # one cell only: E_ratio 1
    r = e_ratio(s, g)
    assert r[0, 1] == pytest.approx(0.5)
    assert r[0, 2] == pytest.approx(1.0)
    assert r[0, 0] == 0.0
    e = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    d, w = shower_depth(e)
    assert d[0] == pytest.approx(1.0)
    assert w[0] == pytest.approx(1.0)
    assert d[2] == pytest.approx(1.0)
    assert w[2] == pytest.approx(0.0, abs=1e-6)
    assert deepest_layer(e).tolist() == [2, -1, 1]


def test_x_y_features_only_where_a_layer_measures_them():
    g = get_preset("calochallenge-1-photons")  # layers 0, 3, 12 have a single alpha bin
    has_x, has_y = layer_axes(g)
    assert has_x == (False, True, True, False, False)
    assert has_y == has_x
    names = {s.name for s in feature_specs(g)}
    assert "ec_x_layer_1" in names
    assert "ec_x_layer_0" not in names
    assert "width_y_layer_4" not in names
    assert {"ec_r_layer_0", "width_r_layer_0", "sparsity_layer_0", "e_layer_0"} <= names
    cal = {s.name for s in feature_specs(get_preset("calogan"))}
    assert {"ec_x_layer_0", "width_y_layer_2", "depth", "x_mean", "e_ratio_layer_1"} <= cal


def test_shower_features_agree_with_the_single_functions(calogan_pair):
    a, _ = calogan_pair
    g = a.geometry
    f = shower_features(a.showers, a.energy, g)
    for got, want in zip((f.ec_x, f.ec_y, f.ec_r), centres_of_energy(a.showers, g), strict=True):
        np.testing.assert_allclose(got, want)
    for got, want in zip((f.width_x, f.width_y, f.width_r), widths(a.showers, g), strict=True):
        np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(f.e_layer, layer_energies(a.showers, g))
    np.testing.assert_allclose(f.e_total, a.showers.sum(axis=1, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(f.sparsity, sparsity(a.showers, g))
    assert np.all((f.e_ratio >= 0) & (f.e_ratio <= 1))
    # x mean over all layers = the energy-weighted mean of the per-layer centres
    np.testing.assert_allclose(f.x_mean, (f.ec_x * f.e_layer).sum(1) / f.e_total, rtol=1e-6, atol=1e-6)
    cols = f.columns()
    assert set(cols) == {s.name for s in feature_specs(g)}
    assert all(v.shape == (len(a),) for v in cols.values())
    sub = f.subset(f.energy > 10_000)
    assert len(sub) == int((a.energy > 10_000).sum())
    hl = high_level_vector(f)
    # log10 E_inc, 3 log10 E_layer, 3 x 4 EC/width x/y, log10 E_tot, 3 sparsity, 3 EC_r, 3 width_r
    assert hl.shape == (len(a), 1 + 3 + 12 + 1 + 3 + 3 + 3)
    assert np.all(np.isfinite(hl))


def test_projections_sum_to_the_mean_energy():
    g = get_preset("clic-ecal")
    rng = np.random.default_rng(1)
    s = rng.exponential(1.0, (20, g.n_voxels)).astype(np.float32)
    proj = average_projections(s, g, threshold=0.0)
    mean_total = s.sum(axis=1, dtype=np.float64).mean()
    for axis in "xyz":
        edges, values = proj[axis]
        assert values.sum() == pytest.approx(mean_total, rel=1e-6)
    edges, _ = projection_bins(g, "x")
    assert len(edges) == 26  # the 25 cell columns of the 3DGAN grid
    np.testing.assert_allclose(np.diff(edges), 5.1)


def test_shape_mismatch_is_a_clear_error():
    g = get_preset("calogan")
    with pytest.raises(DataFormatError, match="504"):
        shower_features(np.zeros((2, 368), np.float32), [1.0, 1.0], g)
    with pytest.raises(DataFormatError, match="do not match"):
        shower_features(np.zeros((2, 504), np.float32), [1.0], g)
