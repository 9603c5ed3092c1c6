"""The numba kernel: samplers against their distributions, conservation, scoring, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caloforge.detsim import electron, transport
from caloforge.detsim.config import PhysicsConfig, prepare
from caloforge.detsim.gun import EnergySpectrum, ParticleGun
from caloforge.detsim.production import Simulator
from caloforge.detsim.tables import P_CUT_GAMMA
from caloforge.geometry import (
    Block,
    CartesianGrid,
    CylindricalBins,
    Geometry,
    ReadoutLayer,
    Slab,
    Stack,
    get_material,
    get_preset,
)

MASS = 0.51099895


def _state(seed: int) -> np.ndarray:
    return np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)


def test_rng_is_uniform_and_reproducible() -> None:
    s1, s2 = _state(1), _state(1)
    a = np.array([transport.rand(s1) for _ in range(20000)])
    b = np.array([transport.rand(s2) for _ in range(20000)])
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0
    assert a.max() < 1
    assert a.mean() == pytest.approx(0.5, abs=0.01)
    assert np.histogram(a, 10, (0, 1))[0].min() > 1800


def test_compton_matches_klein_nishina() -> None:
    e = 1.0
    s = _state(2)
    eps = np.array([transport.sample_compton(e, s)[0] for _ in range(40000)])
    k = e / MASS
    grid = np.linspace(1 / (1 + 2 * k), 1, 20001)
    sin2 = (lambda onecost: onecost * (2 - onecost))((1 - grid) / (grid * k))
    pdf = (1 / grid + grid) * (1 - grid * sin2 / (1 + grid**2))
    mean = np.trapezoid(grid * pdf, grid) / np.trapezoid(pdf, grid)
    assert eps.mean() == pytest.approx(mean, abs=0.004)


def test_moller_and_bhabha_follow_their_cross_sections() -> None:
    t, cut = 10.0, 1.0
    s = _state(3)
    for positron in (False, True):
        x = np.array([transport.sample_moller_bhabha(t, cut, positron, s) for _ in range(30000)]) / t
        xmax = 1.0 if positron else 0.5
        assert x.min() >= cut / t - 1e-12
        assert x.max() <= xmax + 1e-12
        # mean of x from the differential cross section d sigma/dx (numerical derivative of the integrated one)
        mat = get_material("Pb")
        edges = np.linspace(cut, xmax * t, 4001)
        sig = np.array([float(electron.moller_bhabha_per_volume(mat, t, c, positron)[0]) for c in edges])
        dsig = -np.diff(sig)
        mid = 0.5 * (edges[1:] + edges[:-1]) / t
        assert x.mean() == pytest.approx(np.sum(mid * dsig) / np.sum(dsig), rel=0.02)


def test_brems_photon_spectrum_follows_the_dcs() -> None:
    setup = prepare(get_preset("calogan"))
    tab = setup.tables
    m = 0  # lead
    mp = tab.mat_par[m]
    ep = tab.el_par[m, 0]
    t = 50.0
    kc = mp[P_CUT_GAMMA]
    s = _state(4)
    k = np.array([transport.sample_brems_k(ep, t, kc, mp, True, s) for _ in range(30000)])
    el = electron.brems_element(get_material("Pb").elements()[0][0])
    kk = np.exp(np.linspace(np.log(kc), np.log(t), 4001))
    kp2 = mp[6] * (t + MASS) ** 2  # P_KP2
    pdf = electron.brems_dcs_bracket(el, t + MASS, kk) * kk**2 / (kk**2 + kp2)  # per d ln k
    mean_log = np.trapezoid(np.log(kk) * pdf, np.log(kk)) / np.trapezoid(pdf, np.log(kk))
    assert np.log(k).mean() == pytest.approx(mean_log, abs=0.03)


@pytest.mark.parametrize("tau", [0.05, 0.5, 2.0])
def test_msc_mean_cosine_is_exp_minus_tau(tau: float) -> None:
    tab = prepare(get_preset("calogan")).tables
    mp = tab.mat_par[0]
    lam = 0.2
    s = _state(5)
    c = np.array([transport.msc_cos_theta(tau * lam, 5.0, 4.9, lam, lam, mp, 1e-6, s)[0] for _ in range(20000)])
    assert c.mean() == pytest.approx(math.exp(-tau), abs=0.02)


def test_fluctuations_keep_the_mean() -> None:
    tab = prepare(get_preset("calogan")).tables
    s = _state(6)
    for mean in (0.01, 0.3):
        x = np.array([transport.sample_fluctuation(mean, 0.27, 20.0, tab.mat_par[1], s) for _ in range(20000)])
        assert x.min() >= 0
        assert x.mean() == pytest.approx(mean, rel=0.03)
        assert x.std() > 0


def test_pair_energy_fraction_range() -> None:
    s = _state(7)
    e = 100.0
    eps = np.array([transport.sample_pair_eps(e, 82 ** (1 / 3), math.log(82), 0.33, s) for _ in range(5000)])
    assert eps.min() >= MASS / e
    assert eps.max() <= 0.5


@pytest.mark.parametrize(("particle", "extra"), [("e-", 0.0), ("e+", 2 * MASS), ("gamma", 0.0)])
def test_energy_is_conserved(particle: str, extra: float) -> None:
    g = get_preset("calogan")
    sim = Simulator(g, ParticleGun(particle, EnergySpectrum("fixed", (2000.0,))), seed=3)
    r = sim.run(0, 3)
    balance = r.stats[:, transport.S_EDEP] + r.stats[:, transport.S_ESCAPED]
    np.testing.assert_allclose(balance, 2000.0 + extra, rtol=1e-9)
    # calogan scores every volume: voxels + overflow + energy outside every layer's depth = deposited energy
    scored = r.showers.sum(axis=1) + r.overflow.sum(axis=1) + r.stats[:, transport.S_UNSCORED]
    np.testing.assert_allclose(scored, r.stats[:, transport.S_EDEP], rtol=1e-5)


def test_same_seed_same_shower_other_seed_other_shower() -> None:
    g = get_preset("calogan")
    gun = ParticleGun("e-", EnergySpectrum("uniform", (1000.0, 3000.0)))
    a = Simulator(g, gun, seed=5).run(0, 4)
    b = Simulator(g, gun, seed=5).run(2, 4)  # shower i depends only on (seed, i)
    c = Simulator(g, gun, seed=6).run(0, 4)
    np.testing.assert_array_equal(a.showers[2:], b.showers)
    np.testing.assert_array_equal(a.energy[2:], b.energy)
    assert not np.array_equal(a.showers, c.showers)


def _tiny_geometry(cylindrical: bool) -> Geometry:
    stack = Stack(
        blocks=(Block((Slab("Pb", 2.0), Slab("Si", 1.0)), repeat=3),), width_x=200.0, width_y=200.0, sensitive=("*",)
    )
    if cylindrical:
        seg = CylindricalBins((0.0, 5.0, 10.0, 20.0), 4)
    else:
        seg = CartesianGrid(4, 3, 10.0, 7.0)
    layers = (ReadoutLayer(seg, 0.0, 3.0, 0), ReadoutLayer(seg, 3.0, 9.0, 1))
    return Geometry(name="tiny", layers=layers, stack=stack, beam_z=-1.0)


@pytest.mark.parametrize("cylindrical", [False, True])
def test_scoring_puts_local_deposits_into_the_right_voxel(cylindrical: bool) -> None:
    g = _tiny_geometry(cylindrical)
    rng = np.random.default_rng(1)
    seg = g.layers[0].segmentation
    for _ in range(20):
        x, y = rng.uniform(-25, 25, 2)
        # a 0.5 keV photon is below the photon cut: deposited where it enters the stack
        sim = Simulator(g, ParticleGun("gamma", EnergySpectrum("fixed", (5e-4,)), position=(x, y)), seed=1)
        r = sim.run(0, 1)
        cell = int(seg.locate(np.array([x]), np.array([y]))[0])
        if cell < 0:
            assert r.overflow[0, 0] == pytest.approx(5e-4)
            assert r.showers.sum() == 0
        else:
            assert r.showers[0, cell] == pytest.approx(5e-4)
            assert r.showers.sum() == pytest.approx(5e-4)


def test_sensitive_volumes_and_energy_scale() -> None:
    g = get_preset("calochallenge-2")
    r = Simulator(g, ParticleGun("e-", EnergySpectrum("fixed", (5000.0,))), seed=2).run(0, 2)
    si = r.stats[:, transport.S_EDEP_SENSITIVE]
    assert np.all(si < 0.1 * r.stats[:, transport.S_EDEP])  # only silicon is scored
    stored = r.showers.sum(axis=1) + r.overflow.sum(axis=1)
    np.testing.assert_allclose(stored, si * g.energy_scale, rtol=1e-4)


def test_physics_switches_are_validated() -> None:
    from caloforge.exceptions import SimulationError

    with pytest.raises(SimulationError, match="tracking_cut"):
        PhysicsConfig(tracking_cut=-1.0)
