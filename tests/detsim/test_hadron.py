"""The hadronic simulation: cross sections and stopping powers against PHYSICS.md, samplers, the final state,
energy bookkeeping, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from caloforge.detsim import PhysicsConfig, produce, simulate, transport
from caloforge.detsim.config import prepare
from caloforge.detsim.gun import EnergySpectrum, ParticleGun
from caloforge.detsim.hadron import (
    PI0_MASS,
    PION_MASS,
    PROTON_MASS,
    HadronPhysics,
    binding_energy_per_nucleon,
    delta_ray_per_volume,
    hadron_dedx,
    nucleon_inelastic_per_atom,
    pion_inelastic_per_atom,
)
from caloforge.detsim.hadron_validation import interaction_length, tilecal_geometry
from caloforge.detsim.production import Simulator
from caloforge.exceptions import DataFormatError, SimulationError
from caloforge.geometry import Block, CartesianGrid, Geometry, ReadoutLayer, Slab, Stack, get_material, get_preset
from caloforge.io import read, read_metadata

MB = 1e-25  # mm^2


def _state(seed: int) -> np.ndarray:
    return np.random.SeedSequence(seed).generate_state(4, dtype=np.uint64)


# ------------------------------------------------------------------------------------------------
# tables (PHYSICS.md §4, §5.2)
# ------------------------------------------------------------------------------------------------
def test_pion_cross_sections_reproduce_the_barashenkov_table() -> None:
    assert pion_inelastic_per_atom(207.2, 100_000.0)[0] / MB == pytest.approx(1530.0)
    assert pion_inelastic_per_atom(55.845, 10_000.0)[0] / MB == pytest.approx(615.0)
    assert pion_inelastic_per_atom(26.98, 1000.0)[0] / MB == pytest.approx(460.0)
    # flat outside 1-100 GeV, between targets log-log in A, A^0.75 below Al
    assert pion_inelastic_per_atom(207.2, 300_000.0)[0] == pion_inelastic_per_atom(207.2, 100_000.0)[0]
    assert 585.0 < pion_inelastic_per_atom(60.0, 100_000.0)[0] / MB < 630.0  # between Fe and Cu
    assert pion_inelastic_per_atom(1.008, 100_000.0)[0] / MB == pytest.approx(332.0 * (1.008 / 26.98) ** 0.75)
    # V21: lambda_pi at 100 GeV, 224.9 g/cm2 in Pb and 158.5 g/cm2 in Fe (PHYSICS.md §5.2)
    for material, target in (("Pb", 224.9), ("Fe", 158.5)):
        m = get_material(material)
        assert interaction_length(material, 100_000.0) / 10.0 * m.density == pytest.approx(target, rel=0.005)


def test_nucleon_cross_section_is_lambda_i_based() -> None:
    # lambda_I = 35 g/cm2 A^(1/3): Pb 207.1, Fe 133.8 g/cm2 (PDG 199.6, 132.1)
    for material, lam in (("Pb", 207.1), ("Fe", 133.8)):
        m = get_material(material)
        assert interaction_length(material, 10_000.0, "proton") / 10.0 * m.density == pytest.approx(lam, rel=0.005)
    assert nucleon_inelastic_per_atom(1.008) / MB == pytest.approx(32.2, rel=0.01)


def test_bethe_bloch_minimum_and_restriction() -> None:
    fe = get_material("Fe")
    t = np.geomspace(10.0, 1e5, 400)
    unrestricted = hadron_dedx(fe, t, PION_MASS, 1e9, False) * 10.0 / fe.density  # MeV cm2/g
    assert unrestricted.min() == pytest.approx(1.450, rel=0.01)  # PDG dE/dx_min of Fe (PHYSICS.md §6.1)
    restricted = hadron_dedx(fe, t, PION_MASS, 0.955, False) * 10.0 / fe.density
    assert np.all(restricted <= unrestricted + 1e-12)
    assert restricted[-1] < 0.9 * unrestricted[-1]  # the relativistic rise goes to delta rays above the cut
    # protons at 100 MeV in Fe: K Z/A/β² [½ ln(2 m β²γ² W/I²) − β²] = 0.7794 × 6.504 = 5.07 MeV cm2/g (by hand)
    p100 = hadron_dedx(fe, np.array([100.0]), PROTON_MASS, 1e9, True)[0] * 10.0 / fe.density
    assert p100 == pytest.approx(5.07, rel=0.01)
    # delta rays above the cut: none while W_max is below it
    d = delta_ray_per_volume(fe, np.array([50.0, 1e4]), PROTON_MASS, 0.955, True)
    assert d[0] == 0.0
    assert d[1] > 0.0


def test_binding_energies() -> None:
    assert binding_energy_per_nucleon(207.2, 82) == pytest.approx(7.87, abs=0.15)
    assert binding_energy_per_nucleon(55.845, 26) == pytest.approx(8.79, abs=0.15)
    assert binding_energy_per_nucleon(1.008, 1) == 0.0


def test_hadronic_settings_are_validated() -> None:
    with pytest.raises(SimulationError, match="pion_charge_exchange"):
        HadronPhysics(pion_charge_exchange=1.5)
    with pytest.raises(SimulationError, match="inelasticity"):
        HadronPhysics(inelasticity_min=0.8, inelasticity_max=0.5)
    with pytest.raises(SimulationError, match="cascade_energy"):
        HadronPhysics(cascade_energy=-1.0)
    # the kernel reads the parameters by position: the field order is part of the contract
    names = [n.removeprefix("H_").lower() for n in dir(transport) if n.startswith("H_")]
    order = {n: getattr(transport, "H_" + n.upper()) for n in names}
    assert sorted(order, key=order.__getitem__) == list(HadronPhysics().to_dict())
    assert len(HadronPhysics().to_array()) == transport.N_HPAR


def test_em_description_has_no_hadronic_settings() -> None:
    assert "hadronic" not in PhysicsConfig().to_dict()
    assert PhysicsConfig().to_dict(hadronic=True)["hadronic"]["tracking_cut"] == 5.0


# ------------------------------------------------------------------------------------------------
# samplers
# ------------------------------------------------------------------------------------------------
def test_delta_rays_follow_the_spin_zero_cross_section() -> None:
    t, cut = 5000.0, 1.0
    s = _state(1)
    x = np.array([transport.sample_delta_hadron(t, PION_MASS, cut, False, s) for _ in range(30000)])
    gam = 1.0 + t / PION_MASS
    beta2 = 1.0 - 1.0 / gam**2
    r = 0.51099895 / PION_MASS
    wmax = 2 * 0.51099895 * (gam**2 - 1) / (1 + 2 * gam * r + r * r)
    assert x.min() >= cut
    assert x.max() <= wmax
    grid = np.geomspace(cut, wmax, 20001)
    pdf = (1 - beta2 * grid / wmax) / grid**2
    mean_log = np.trapezoid(np.log(grid) * pdf, grid) / np.trapezoid(pdf, grid)
    assert np.log(x).mean() == pytest.approx(mean_log, abs=0.02)


def test_michel_and_feynman_x_spectra() -> None:
    s = _state(2)
    x = np.array([transport.sample_michel(s) for _ in range(40000)])
    assert x.mean() == pytest.approx(0.7, abs=0.005)  # <x> of x^2 (3 - 2x)
    xf = np.array([transport.sample_feynman_x(0.01, 3.0, s) for _ in range(40000)])
    grid = np.geomspace(0.01, 1.0, 20001)
    pdf = (1 - grid) ** 3 / grid
    assert xf.mean() == pytest.approx(np.trapezoid(grid * pdf, grid) / np.trapezoid(pdf, grid), rel=0.03)


def test_pi0_decays_into_two_photons_of_the_pi0_mass() -> None:
    sf = np.zeros((4, 7))
    si = np.zeros((4, 2), dtype=np.int64)
    stats = np.zeros(transport.STATS_SIZE)
    s = _state(3)
    for t in (0.0, 50.0, 5000.0):
        sf[0] = (t, 1.0, 2.0, 3.0, 0.0, 0.6, 0.8)
        si[0] = (transport.PI_ZERO, 7)
        n = transport._decay_pi0(sf, si, 0, 1, stats, s)
        assert n == 2
        assert list(si[:2, 0]) == [transport.GAMMA, transport.GAMMA]
        e = sf[:2, 0]
        p = e[:, None] * sf[:2, 4:7]
        assert e.sum() == pytest.approx(t + PI0_MASS)
        mass2 = e.sum() ** 2 - np.sum(p.sum(axis=0) ** 2)
        assert math.sqrt(mass2) == pytest.approx(PI0_MASS, rel=1e-6)
        if t > 0.0:  # the pair flies along the pi0
            np.testing.assert_allclose(p.sum(axis=0) / np.linalg.norm(p.sum(axis=0)), (0.0, 0.6, 0.8), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# showers: bookkeeping, physics trends, determinism
# ------------------------------------------------------------------------------------------------
def _balance(stats: np.ndarray) -> np.ndarray:
    t = transport
    visible_or_lost = (
        stats[:, t.S_EDEP] + stats[:, t.S_ESCAPED] + stats[:, t.S_BINDING] + stats[:, t.S_NEUTRON_UNDETECTED]
    )
    return visible_or_lost + stats[:, t.S_NEUTRINO] - stats[:, t.S_REST]


@pytest.mark.parametrize("particle", ["pi+", "pi-", "proton", "neutron"])
def test_energy_is_conserved_in_hadron_showers(particle: str) -> None:
    for g in (get_preset("calogan"), tilecal_geometry(2.0)):  # the second has hydrogen (scintillator)
        r = Simulator(g, ParticleGun(particle, EnergySpectrum("fixed", (3000.0,))), seed=4).run(0, 4)
        np.testing.assert_allclose(_balance(r.stats), 3000.0, rtol=1e-9)
        assert np.all(r.stats[:, transport.S_MAX_STACK] > 0)
        if g.name == "calogan":
            scored = r.showers.sum(axis=1) + r.overflow.sum(axis=1) + r.stats[:, transport.S_UNSCORED]
            np.testing.assert_allclose(scored, r.stats[:, transport.S_EDEP], rtol=1e-5)


def _block(material: str, depth: float, width: float = 4000.0) -> Geometry:
    stack = Stack(blocks=(Block((Slab(material, depth),), repeat=1),), width_x=width, width_y=width, range_cut=0.7)
    return Geometry(
        name=f"block-{material}",
        layers=(ReadoutLayer(CartesianGrid(1, 1, width, width), 0.0, depth, 0),),
        stack=stack,
        beam_z=-1.0,
    )


def test_shower_start_follows_the_interaction_length() -> None:
    g = _block("Fe", 3000.0)
    n = 300
    r = Simulator(g, ParticleGun("pi-", EnergySpectrum("fixed", (2000.0,))), seed=5).run(0, n)
    start = r.stats[:, transport.S_FIRST_INTERACTION]
    assert np.all(r.stats[:, transport.S_N_INELASTIC] > 0)
    lam = interaction_length("Fe", 2000.0)
    # ionisation slows the pion by < 15 % before it interacts; 3 sigma of an exponential mean
    assert start.mean() == pytest.approx(lam, rel=3.0 / math.sqrt(n) + 0.03)


def test_em_fraction_and_invisible_energy_in_lead() -> None:
    g = _block("Pb", 3000.0)
    r = Simulator(g, ParticleGun("pi+", EnergySpectrum("fixed", (10_000.0,))), seed=6).run(0, 60)
    f_em = r.stats[:, transport.S_EM_PI0].mean() / 10_000.0
    assert 0.2 < f_em < 0.45  # 1 - (E/E0)^(k-1) = 0.23-0.38 at 10 GeV (PHYSICS.md §5.5)
    non_em = 10_000.0 - r.stats[:, transport.S_EM_PI0]
    binding = r.stats[:, transport.S_BINDING].sum() / non_em.sum()
    assert 0.25 < binding < 0.4  # Wigmans: 32 % of the non-EM energy in lead (PHYSICS.md §5.3)
    assert np.all(r.stats[:, transport.S_N_INELASTIC] >= 1)


def test_pions_deposit_little_in_the_first_calogan_layer() -> None:
    g = get_preset("calogan")
    pi = simulate(g, "pi+", 10_000.0, n=12, seed=7)
    e = simulate(g, "e+", 10_000.0, n=3, seed=7)
    assert not isinstance(pi, Path)
    assert not isinstance(e, Path)
    assert pi.layer_energies()[:, 0].mean() < 0.5 * e.layer_energies()[:, 0].mean()
    assert pi.total_energy().mean() < 0.6 * e.total_energy().mean()


def test_hadron_files_are_deterministic_and_worker_independent(tmp_path: Path) -> None:
    g = get_preset("calogan")
    gun = ParticleGun("pi+", EnergySpectrum("uniform", (1000.0, 3000.0)))
    one = produce(tmp_path / "one.h5", g, gun, 4, seed=8, workers=1, chunk_size=2)
    two = produce(tmp_path / "two.h5", g, gun, 4, seed=8, workers=2, chunk_size=1)
    np.testing.assert_array_equal(read(one).showers, read(two).showers)
    part = Simulator(g, gun, seed=8).run(2, 4)
    np.testing.assert_array_equal(read(one).showers[2:], part.showers)
    meta = read_metadata(one)
    assert meta["detsim_version"] == 2
    assert meta["physics"]["hadronic"]["neutron_cut"] == 20.0
    assert set(read(one).particle) == {211}  # type: ignore[arg-type]


def test_hadronic_settings_change_hadron_showers_only() -> None:
    g = get_preset("calogan")
    other = PhysicsConfig(hadronic=HadronPhysics(inelasticity_min=0.1, inelasticity_max=0.2))
    for particle, same in (("e-", True), ("pi+", False)):
        gun = ParticleGun(particle, EnergySpectrum("fixed", (5000.0,)))
        a = Simulator(g, gun, seed=9).run(0, 6)
        b = Simulator(g, gun, seed=9, physics=other, setup=prepare(g, other)).run(0, 6)
        assert np.array_equal(a.showers, b.showers) == same


def test_hadron_runs_resume_and_refuse_other_hadronic_settings(tmp_path: Path) -> None:
    g = get_preset("calogan")
    gun = ParticleGun("proton", EnergySpectrum("uniform", (1000.0, 3000.0)))
    out = tmp_path / "run.h5"

    def stop_after_first_chunk(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        produce(out, g, gun, 4, seed=10, workers=1, chunk_size=2, progress=stop_after_first_chunk)
    other = PhysicsConfig(hadronic=HadronPhysics(cascade_energy=50.0))
    with pytest.raises(DataFormatError, match="different settings"):
        produce(out, g, gun, 4, seed=10, physics=other, workers=1, chunk_size=2, resume=True)
    produce(out, g, gun, 4, seed=10, workers=1, chunk_size=2, resume=True)
    full = produce(tmp_path / "full.h5", g, gun, 4, seed=10, workers=1)
    np.testing.assert_array_equal(read(out).showers, read(full).showers)
