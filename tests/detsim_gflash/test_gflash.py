"""GFlash-style generator: GP shower maximum, energy conservation, determinism, every preset with a stack."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.detsim.gflash import effective_medium, longitudinal_parameters, simulate_gflash
from caloforge.exceptions import SimulationError
from caloforge.geometry import Block, CylindricalBins, Geometry, ReadoutLayer, Slab, Stack, get_preset, preset_names


def _fine(slabs: tuple[Slab, ...], repeat: int, sensitive: tuple[str, ...], n_layers: int) -> Geometry:
    """A wide stack read out in ``n_layers`` thin layers of one big cell each (a longitudinal profile)."""
    stack = Stack((Block(slabs, repeat),), 2000.0, 2000.0, sensitive)
    d = stack.depth / n_layers
    layers = tuple(ReadoutLayer(CylindricalBins((0.0, 3000.0), 1), d * k, d * (k + 1), k) for k in range(n_layers))
    return Geometry("profile", layers, stack)


def _shower_max(g: Geometry, energy: float, particle: str = "e-") -> float:
    """Depth (X0) of the maximum of the mean longitudinal profile (parabola through the peak)."""
    medium = effective_medium(g.stack)  # type: ignore[arg-type]
    s = simulate_gflash(g, np.full(300, energy), particle=particle, seed=7, spots_per_gev=60)
    profile = s.layer_energies().mean(axis=0)
    z = np.array([0.5 * (layer.z_min + layer.z_max) for layer in g.layers]) / medium.X0  # type: ignore[operator]
    i = int(np.argmax(profile))
    window = slice(max(i - 6, 0), i + 7)
    c = np.polyfit(z[window], profile[window], 2)
    return float(-c[1] / (2 * c[0]))


@pytest.mark.parametrize(("material", "energy"), [("PbWO4", 10_000.0), ("Pb", 50_000.0), ("Fe", 5_000.0)])
def test_shower_maximum_homogeneous(material: str, energy: float) -> None:
    # 40 X0 of one material, 0.2 X0 readout layers; GP average profile: T = ln y - 0.858 (PHYSICS.md §8.2)
    x0 = {"PbWO4": 8.903, "Pb": 5.612, "Fe": 17.57}[material]
    g = _fine((Slab(material, x0),), 40, ("*",), 200)
    medium = effective_medium(g.stack)  # type: ignore[arg-type]
    assert medium.homogeneous
    expected = math.log(energy / medium.Ec) - 0.858
    assert _shower_max(g, energy) == pytest.approx(expected, abs=0.25)


def test_shower_maximum_sampling() -> None:
    # Pb/LAr 2:4 mm read out per period; GP sampling average T_sam = T_hom - 0.59/F_S - 0.53 (1 - e^)
    # (PHYSICS.md §8.2; those average-profile constants are quoted from memory there, hence 0.4 X0)
    g = _fine((Slab("Pb", 2.0), Slab("LAr", 4.0)), 100, ("LAr",), 100)
    medium = effective_medium(g.stack)  # type: ignore[arg-type]
    assert not medium.homogeneous
    energy = 20_000.0
    t_hom = math.log(energy / medium.Ec) - 0.858
    expected = t_hom - 0.59 / medium.F_S - 0.53 * (1 - medium.e_hat)
    assert _shower_max(g, energy) == pytest.approx(expected, abs=0.4)


def test_photons_start_later() -> None:
    g = _fine((Slab("PbWO4", 8.903),), 30, ("*",), 150)
    shift = _shower_max(g, 10_000.0, "gamma") - _shower_max(g, 10_000.0, "e-")
    assert shift == pytest.approx(9 / 7, abs=0.3)  # mean conversion depth 9/7 X0 (PDG)


def test_energy_conservation_homogeneous() -> None:
    # 50 X0 deep: stored + overflow = E for every shower (leakage behind < 1e-4)
    g = _fine((Slab("PbWO4", 8.903),), 50, ("*",), 25)
    e = np.array([1_000.0, 10_000.0, 100_000.0, 300_000.0])
    s = simulate_gflash(g, e, seed=3)
    assert s.overflow is not None
    np.testing.assert_allclose((s.total_energy() + s.overflow.sum(axis=1)) / e, 1.0, atol=2e-4)
    # with a narrow readout part of it goes to overflow, nothing is lost
    narrow = Geometry(
        "narrow",
        tuple(ReadoutLayer(CylindricalBins((0.0, 5.0, 10.0), 4), l.z_min, l.z_max, l.id) for l in g.layers),
        g.stack,
    )
    s2 = simulate_gflash(narrow, e, seed=3)
    assert s2.overflow is not None
    assert np.all(s2.overflow.sum(axis=1) > 0.05 * e)
    np.testing.assert_allclose((s2.total_energy() + s2.overflow.sum(axis=1)) / e, 1.0, atol=2e-4)


def test_energy_scale_and_visible_fraction() -> None:
    g = get_preset("calochallenge-2")  # W/Si, stored = Si energy / 0.033
    medium = effective_medium(g.stack)  # type: ignore[arg-type]
    # PHYSICS.md §9.2 derived values: f_mip 0.0362, F_S 2.48, e^ 0.70, X0_eff 4.22 mm, R_M 10.9 mm
    assert medium.f_mip == pytest.approx(0.0362, rel=0.02)
    assert pytest.approx(2.48, rel=0.02) == medium.F_S
    assert medium.e_hat == pytest.approx(0.70, abs=0.01)
    assert pytest.approx(4.22, rel=0.01) == medium.X0
    assert medium.moliere_radius == pytest.approx(10.9, rel=0.03)
    e = np.full(200, 50_000.0)
    s = simulate_gflash(g, e, seed=5, spots_per_gev=20)
    assert s.overflow is not None
    seen = (s.total_energy() + s.overflow.sum(axis=1)) / (e * medium.visible_fraction * g.energy_scale)
    # 36 X0 deep: the mean is the longitudinal containment; the spread is the sampling term c_S/sqrt(E)
    assert 0.97 < seen.mean() < 1.0 + 4 * seen.std() / math.sqrt(len(seen))
    assert seen.std() == pytest.approx(medium.sampling_resolution / math.sqrt(50.0), rel=0.25)
    calibrated = simulate_gflash(g, e[:20], seed=5, spots_per_gev=20, sampling_fraction=0.033)
    ratio = (calibrated.total_energy() + calibrated.overflow.sum(axis=1)) / e[:20]  # type: ignore[union-attr]
    assert ratio.mean() == pytest.approx(0.99, abs=0.03)


def test_calogan_medium_matches_physics_notes() -> None:
    # PHYSICS.md §9.1: X0_eff 15.6 mm, f_mip 0.2475, F_S 2.60, e^ 0.69 (calogan-lar scores LAr only)
    m = effective_medium(get_preset("calogan-lar").stack)  # type: ignore[arg-type]
    assert pytest.approx(15.6, rel=0.01) == m.X0
    assert m.f_mip == pytest.approx(0.2475, rel=0.02)
    assert pytest.approx(2.60, rel=0.01) == m.F_S
    assert m.e_hat == pytest.approx(0.69, abs=0.01)
    assert effective_medium(get_preset("calogan").stack).homogeneous  # type: ignore[arg-type]


def test_fluctuated_parameters_follow_gp() -> None:
    m = effective_medium(get_preset("calogan").stack)  # type: ignore[arg-type]
    p = longitudinal_parameters(m, np.array([10_000.0]))
    ln_y = math.log(10_000.0 / m.Ec)
    assert float(np.exp(p.mean_ln_t[0])) == pytest.approx(ln_y - 0.812)
    assert float(p.sigma_ln_t[0]) == pytest.approx(1 / (-1.4 + 1.26 * ln_y))
    assert float(p.rho[0]) == pytest.approx(0.705 - 0.023 * ln_y)


def test_same_seed_same_showers() -> None:
    g = get_preset("calogan")
    e = np.array([5_000.0, 50_000.0, 20_000.0])
    a = simulate_gflash("calogan", e, seed=42)
    b = simulate_gflash(g, e, seed=42)
    c = simulate_gflash(g, e, seed=43)
    np.testing.assert_array_equal(a.showers, b.showers)
    np.testing.assert_array_equal(a.overflow, b.overflow)  # type: ignore[arg-type]
    assert not np.array_equal(a.showers, c.showers)


@pytest.mark.parametrize("name", [n for n in preset_names() if get_preset(n).stack is not None])
def test_every_preset_with_a_stack(name: str) -> None:
    g = get_preset(name)
    e = np.array([2_000.0, 20_000.0])
    s = simulate_gflash(g, e, particle="e+", seed=1, spots_per_gev=30)
    assert s.showers.shape == (2, g.n_voxels)
    assert s.showers.dtype == np.float32
    assert s.particles() == ["e+"]
    assert np.all(s.showers >= 0)
    medium = effective_medium(g.stack)  # type: ignore[arg-type]
    visible = 1.0 if medium.homogeneous else medium.visible_fraction
    total = s.total_energy() + s.overflow.sum(axis=1)  # type: ignore[union-attr]
    assert np.all(total > 0.5 * visible * g.energy_scale * e)
    assert np.all(total < 1.5 * visible * g.energy_scale * e)
    # the shower is centred: the layer with the most energy lies within the first 20 X0
    profile = s.layer_energies().mean(axis=0)
    peak = g.layers[int(np.argmax(profile))]
    assert peak.z_min is not None
    assert peak.z_min / medium.X0 < 20


def test_bad_requests() -> None:
    with pytest.raises(SimulationError, match="readout-only"):
        simulate_gflash(get_preset("calochallenge-1-photons"), [1e4], seed=0)
    with pytest.raises(SimulationError, match="electromagnetic showers"):
        simulate_gflash(get_preset("calogan"), [1e4], particle="pi+", seed=0)
    with pytest.raises(SimulationError, match="above 20 E_c"):
        simulate_gflash(get_preset("calogan"), [50.0], seed=0)
    with pytest.raises(SimulationError, match="finite and > 0"):
        simulate_gflash(get_preset("calogan"), [float("nan")], seed=0)
    with pytest.raises(SimulationError, match="sampling_fraction"):
        simulate_gflash(get_preset("calogan"), [1e4], seed=0, sampling_fraction=2.0)
