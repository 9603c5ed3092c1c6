"""Validation of the hadronic simulation against PHYSICS.md §5 and §10 (V18–V23): the hadronic rows of
``make validate`` (a fast subset runs in the tests).

Reference geometries built here: homogeneous blocks 10 λ_I deep with radial rings in units of λ_I, a
Pb/LAr stack (ATLAS-EM-like 1.53 mm Pb + 4.2 mm LAr, made 10 λ deep so that π showers are contained), a
TileCal-like Fe/scintillator stack (14 mm Fe + 3 mm PVT, as Geant4's TestEm3 ``tileCal.mac``) and their
combination (LAr EM section of 1.2 λ in front of the Tile section) for the ATLAS combined test beam.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from caloforge.detsim.gun import EnergySpectrum, ParticleGun
from caloforge.detsim.hadron import nucleon_inelastic_per_atom, pion_inelastic_per_atom
from caloforge.detsim.production import simulate_in_memory
from caloforge.detsim.transport import (
    S_BINDING,
    S_EDEP,
    S_EM_PI0,
    S_FIRST_INTERACTION,
    S_N_INELASTIC,
)
from caloforge.detsim.validation import Row, fit_longitudinal
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

__all__ = [
    "RADII_LAMBDA",
    "bock_profile",
    "bock_reference",
    "combined_geometry",
    "f_em_wigmans",
    "hadron_block_geometry",
    "hadron_rows",
    "interaction_length",
    "pb_lar_geometry",
    "tilecal_geometry",
]

RADII_LAMBDA = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
STEP_LAMBDA = 0.1
# Measured e/h (PHYSICS.md §5.5, V18): ATLAS barrel Pb/LAr EM (hep-ex/9911033), TileCal Fe/scint (JINR E1-2002-13)
EH_PB_LAR = 1.74
EH_FE_SCINT = 1.362
# f_em(E) = 1 − (E/E0)^(k−1): E0 = 0.7–1.3 GeV, k = 0.82–0.87 (PHYSICS.md §5.5, V20); Wigmans' values per medium
F_EM_E0 = (0.7, 1.3)
F_EM_K = (0.82, 0.87)
F_EM_WIGMANS = {"Pb": (1.3, 0.82), "Fe": (0.7, 0.82)}


def f_em_wigmans(e_gev: float, e0: float, k: float) -> float:
    """EM fraction of pion showers, 1 − (E/E0)^(k−1) (Gabriel et al., NIM A338 (1994) 336), 0 below E0."""
    return max(0.0, 1.0 - (e_gev / e0) ** (k - 1.0))


def f_em_interval(e_gev: float) -> tuple[float, float]:
    """The range of f_em(E) over E0 ∈ [0.7, 1.3] GeV and k ∈ [0.82, 0.87]."""
    values = [f_em_wigmans(e_gev, e0, k) for e0 in F_EM_E0 for k in F_EM_K]
    return min(values), max(values)


def interaction_length(material: str, energy: float, particle: str = "pi+") -> float:
    """Inelastic interaction length (mm) of ``particle`` at kinetic energy ``energy`` MeV from the cross
    sections of PHYSICS.md §5.2 (the ones the simulation samples)."""
    m = get_material(material)
    inv = 0.0
    for el, w in m.elements():
        n_atoms = m.density * w * 6.02214076e23 / el.A * 1e-3
        if particle in ("pi+", "pi-"):
            inv += n_atoms * float(pion_inelastic_per_atom(el.A, energy)[0])
        else:
            inv += n_atoms * nucleon_inelastic_per_atom(el.A)
    return 1.0 / inv


def _lambda_i_mm(material: str) -> float:
    """Nuclear interaction length λ_I (mm): PDG value of the material (PHYSICS.md §6.1)."""
    m = get_material(material)
    assert m.reference is not None
    return m.reference.lambda_I / m.density * 10.0


def hadron_block_geometry(material: str, depth_lambda: float = 10.0, width_lambda: float = 10.0) -> Geometry:
    """A block of ``material``: readout layers of 0.1 λ_I, rings at :data:`RADII_LAMBDA` λ_I (PDG λ_I)."""
    lam = _lambda_i_mm(material)
    n_layers = round(depth_lambda / STEP_LAMBDA)
    dz = STEP_LAMBDA * lam
    width = width_lambda * lam
    stack = Stack(blocks=(Block((Slab(material, dz),), repeat=n_layers),), width_x=width, width_y=width, range_cut=0.7)
    edges = (*(r * lam for r in RADII_LAMBDA), 0.5 * width * math.sqrt(2.0))
    layers = tuple(ReadoutLayer(CylindricalBins(edges, 1), k * dz, (k + 1) * dz, k) for k in range(n_layers))
    return Geometry(name=f"hadron-block-{material}", layers=layers, stack=stack, beam_z=-1.0)


def _sampling_stack(blocks: tuple[Block, ...], sensitive: tuple[str, ...], width: float) -> Stack:
    return Stack(blocks=blocks, width_x=width, width_y=width, sensitive=sensitive, range_cut=0.7)


def pb_lar_geometry(depth_lambda: float = 10.0) -> Geometry:
    """ATLAS-EM-like Pb/LAr (1.53 mm Pb + 4.2 mm LAr, PHYSICS.md §9.3) made ``depth_lambda`` λ deep, 3 m wide;
    one readout layer of LAr energy."""
    period = (Slab("Pb", 1.53), Slab("LAr", 4.2))
    lam = 5.73 / (1.53 / _lambda_i_mm("Pb") + 4.2 / _lambda_i_mm("LAr"))
    stack = _sampling_stack((Block(period, repeat=round(depth_lambda * lam / 5.73)),), ("LAr",), 3000.0)
    layers = (ReadoutLayer(CartesianGrid(1, 1, 3000.0, 3000.0), 0.0, stack.depth, 0),)
    return Geometry(name="pb-lar-deep", layers=layers, stack=stack, beam_z=-1.0)


def tilecal_geometry(depth_lambda: float = 10.0) -> Geometry:
    """TileCal-like Fe/scintillator (14 mm Fe + 3 mm PVT, Geant4 TestEm3 tileCal.mac; PHYSICS.md §9.3), the
    tiles normal to the beam (the real TileCal has them parallel), ``depth_lambda`` λ deep, 3 m wide."""
    period = (Slab("Fe", 14.0), Slab("PVT", 3.0))
    lam = 17.0 / (14.0 / _lambda_i_mm("Fe") + 3.0 / _lambda_i_mm("PVT"))
    stack = _sampling_stack((Block(period, repeat=round(depth_lambda * lam / 17.0)),), ("PVT",), 3000.0)
    layers = (ReadoutLayer(CartesianGrid(1, 1, 3000.0, 3000.0), 0.0, stack.depth, 0),)
    return Geometry(name="tilecal-like", layers=layers, stack=stack, beam_z=-1.0)


def combined_geometry() -> Geometry:
    """ATLAS barrel combined test beam, simplified: the LAr EM section (91 × (1.53 mm Pb + 4.2 mm LAr),
    27.6 X0, 1.2 λ) followed by 100 Tile periods (14 mm Fe + 3 mm PVT, 8.7 λ); readout layers = the two
    sections (LAr and PVT energy)."""
    em = Block((Slab("Pb", 1.53), Slab("LAr", 4.2)), repeat=91)
    tile = Block((Slab("Fe", 14.0), Slab("PVT", 3.0)), repeat=100)
    stack = _sampling_stack((em, tile), ("LAr", "PVT"), 3000.0)
    z_em = 91 * 5.73
    grid = CartesianGrid(1, 1, 3000.0, 3000.0)
    layers = (ReadoutLayer(grid, 0.0, z_em, 0), ReadoutLayer(grid, z_em, stack.depth, 1))
    return Geometry(name="atlas-combined-like", layers=layers, stack=stack, beam_z=-1.0)


def bock_profile(material: str, e_gev: float, x_lambda: np.ndarray) -> np.ndarray:
    """Mean longitudinal profile of pion showers from the shower start (unnormalised), x in PDG λ_I.

    Bock et al., NIM 186 (1981) 533 (PHYSICS.md §5.6 [mem]): w (x/X0)^(a−1) e^(−b x/X0) + (1 − w)(x/λ_I)^(a−1)
    e^(−d x/λ_I), a = 0.6165 + 0.3183 ln E, b = 0.2198, d = 0.9099 − 0.0237 ln E, w = 0.4634 (E in GeV).
    """
    m = get_material(material)
    assert m.reference is not None
    lam_over_x0 = m.reference.lambda_I / m.reference.X0
    a = 0.6165 + 0.3183 * math.log(e_gev)
    b = 0.2198
    d = 0.9099 - 0.0237 * math.log(e_gev)
    w = 0.4634
    xx0 = x_lambda * lam_over_x0
    return w * xx0 ** (a - 1.0) * np.exp(-b * xx0) + (1.0 - w) * x_lambda ** (a - 1.0) * np.exp(-d * x_lambda)


def bock_reference(material: str, e_gev: float, n_layers: int) -> tuple[float, float]:
    """t_max (the gamma fit used for the simulation, on the same 0.1 λ_I bins) and the 95 % depth (λ_I) of the
    Bock et al. profile over ``n_layers`` × 0.1 λ_I."""
    sub = 200
    x = (np.arange(n_layers * sub) + 0.5) * STEP_LAMBDA / sub
    prof = bock_profile(material, e_gev, x)
    binned = prof.reshape(n_layers, sub).sum(axis=1)
    t = (np.arange(n_layers) + 0.5) * STEP_LAMBDA
    a, b = fit_longitudinal(t, binned / (binned.sum() * STEP_LAMBDA))
    cum = np.cumsum(prof) / prof.sum()
    return (a - 1.0) / b, float(np.interp(0.95, cum, x + 0.5 * STEP_LAMBDA / sub))


# ------------------------------------------------------------------------------------------------
# homogeneous blocks: shower start (V21), f_em (V20), invisible energy (V23), profiles (V22)
# ------------------------------------------------------------------------------------------------
def _block_rows(material: str, energy: float, n: int, workers: int, full: bool) -> list[Row]:
    g = hadron_block_geometry(material)
    lam = _lambda_i_mm(material)
    gun = ParticleGun("pi+", EnergySpectrum("fixed", (energy,)))
    s, stats = simulate_in_memory(g, gun, n, seed=41, workers=workers)
    e_gev = energy / 1000.0
    cond = f"π+ {e_gev:g} GeV {material}"
    rows: list[Row] = []
    hit = stats[:, S_N_INELASTIC] > 0
    lam_pi = interaction_length(material, energy)
    start = stats[hit, S_FIRST_INTERACTION]
    rows.append(
        Row(
            "V21",
            "mean shower-start depth / λ_π",
            cond,
            1.0,
            float(start.mean() / lam_pi),
            max(0.05, 3.0 / math.sqrt(max(hit.sum(), 1))),
            False,
            f"λ_π = {lam_pi / 10:.1f} cm from §5.2 (Barashenkov)",
            ".3f",
        )
    )
    fem = stats[:, S_EM_PI0] / energy
    rows.append(
        Row(
            "V20",
            "f_em = E(π0)/E",
            cond,
            f_em_interval(e_gev),
            float(fem.mean()),
            2.0 * float(fem.std(ddof=1)) / math.sqrt(n),  # 2 standard errors of the mean
            False,
            "1 − (E/E0)^(k−1), E0 0.7–1.3 GeV, k 0.82–0.87",
            ".3f",
        )
    )
    if not full:
        return rows
    non_em = energy - stats[:, S_EM_PI0]
    targets = {"Pb": (0.32, 0.58), "Fe": (0.16, 0.79)}
    if material in targets:
        binding, visible = targets[material]
        rows.append(
            Row(
                "V23",
                "binding energy / non-EM energy",
                cond,
                binding,
                float(stats[:, S_BINDING].sum() / non_em.sum()),
                0.04,
                False,
                "Wigmans, Calorimetry Tab. 2.x [mem]",
                ".3f",
            )
        )
        em_dep = stats[:, S_EM_PI0]  # the π0 photons deposit (almost) all their energy in a 10 λ block
        rows.append(
            Row(
                "V23",
                "deposited non-EM / non-EM energy",
                cond,
                visible,
                float((stats[:, S_EDEP] - em_dep).sum() / non_em.sum()),
                0.05,
                False,
                "Wigmans: ionisation + recoil [mem]",
                ".3f",
            )
        )
    # longitudinal profile from the shower start, in λ_I (V22)
    n_rings = len(RADII_LAMBDA)
    vox = s.showers.astype(np.float64).reshape(n, g.n_layers, n_rings)
    layer_e = vox.sum(axis=2)
    aligned = np.zeros(g.n_layers)
    k0 = np.floor(stats[:, S_FIRST_INTERACTION] / (STEP_LAMBDA * lam)).astype(int)
    for i in np.flatnonzero(hit):
        aligned[: g.n_layers - k0[i]] += layer_e[i, k0[i] :]
    t = (np.arange(g.n_layers) + 0.5) * STEP_LAMBDA
    prof = aligned / (aligned.sum() * STEP_LAMBDA)
    a, b = fit_longitudinal(t, prof)
    t_max = (a - 1.0) / b
    rows.append(
        Row(
            "V22",
            "t_max from shower start [λ_I]",
            cond,
            0.2 * math.log(e_gev) + 0.7,
            t_max,
            0.3,
            False,
            "Fabjan–Gianotti/PDG [mem]",
            ".3g",
        )
    )
    cum = np.cumsum(aligned) / aligned.sum()
    l95 = float(np.interp(0.95, cum, (np.arange(g.n_layers) + 1) * STEP_LAMBDA))
    bock_t_max, bock_l95 = bock_reference(material, e_gev, g.n_layers)
    rows.append(
        Row(
            "V22",
            "t_max from shower start [λ_I], Bock profile",
            cond,
            bock_t_max,
            t_max,
            0.3,
            False,
            "same fit to the Bock et al. profile (§5.6) [mem]",
            ".3g",
        )
    )
    rows.append(
        Row(
            "V22",
            "L95 from shower start [λ_I]",
            cond,
            0.2 * math.log(e_gev) + 0.7 + 2.5 * e_gev**0.13,
            l95,
            0.15,
            True,
            "t_max + 2.5 λ_I E^0.13 [mem]",
            ".3g",
        )
    )
    rows.append(
        Row(
            "V22",
            "L95 from shower start [λ_I], Bock profile",
            cond,
            bock_l95,
            l95,
            0.15,
            True,
            "95 % quantile of the Bock et al. profile (§5.6) [mem]",
            ".3g",
        )
    )
    radial = np.cumsum(vox.sum(axis=(0, 1)))
    within = float(radial[RADII_LAMBDA.index(1.0) - 1] / radial[-1])
    rows.append(
        Row("V22", "fraction within r < 1 λ_I", cond, 0.95, within, 0.03, False, "PDG [mem]: ~95 % in 1 λ_I", ".3f")
    )
    return rows


# ------------------------------------------------------------------------------------------------
# sampling calorimeters: e/h and π/e (V18), resolution (V19)
# ------------------------------------------------------------------------------------------------
def _responses(
    geometry: Geometry, particle: str, energies: tuple[float, ...], n: int, workers: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per energy: the readout-layer signals ``(n, n_layers)`` and the kernel statistics."""
    out = []
    for e in energies:
        s, stats = simulate_in_memory(
            geometry, ParticleGun(particle, EnergySpectrum("fixed", (e,))), n, seed=seed, workers=workers
        )
        out.append((s.layer_energies().astype(np.float64), stats))
    return out


def _eh_rows(
    name: str, geometry: Geometry, eh_measured: float, medium: str, energies: tuple[float, ...], n_pi: int,
    n_e: int, workers: int, say: Callable[[str], None],
) -> list[Row]:  # fmt: skip
    rows: list[Row] = []
    electrons = _responses(geometry, "e-", energies, n_e, workers, 51)
    pions = _responses(geometry, "pi+", energies, n_pi, workers, 52)
    e0w, kw = F_EM_WIGMANS[medium]
    ehs = []
    for e, (sig_e, _), (sig_pi, st) in zip(energies, electrons, pions, strict=True):
        e_resp = float(sig_e.sum(axis=1).mean())
        pi_resp = float(sig_pi.sum(axis=1).mean())
        pi_e = pi_resp / e_resp
        f_em = float(st[:, S_EM_PI0].mean() / e)
        eh = (1.0 - f_em) / (pi_e - f_em)
        ehs.append(eh)
        e_gev = e / 1000.0
        f_w = f_em_wigmans(e_gev, e0w, kw)
        target = f_w + (1.0 - f_w) / eh_measured
        say(f"  {name} {e_gev:g} GeV: e/E = {e_resp / e:.4f}, π/e = {pi_e:.3f}, f_em = {f_em:.3f}, e/h = {eh:.2f}")
        rows.append(
            Row(
                "V18",
                "π/e",
                f"{name}, {e_gev:g} GeV",
                target,
                pi_e,
                0.05,
                True,
                f"f_em(Wigmans) + (1 − f_em)/{eh_measured}",
                ".3f",
            )
        )
    rows.append(
        Row(
            "V18",
            "e/h = (1 − f_em)/(π/e − f_em), mean over E",
            f"{name}, {energies[0] / 1000:g}–{energies[-1] / 1000:g} GeV",
            eh_measured,
            float(np.mean(ehs)),
            0.1,
            True,
            "hep-ex/9911033" if medium == "Pb" else "JINR E1-2002-13",
            ".3f",
        )
    )
    return rows


def _resolution_rows(workers: int, n: int, say: Callable[[str], None]) -> list[Row]:
    """V19: π resolution of the LAr + Tile combination calibrated at the electron scale (no weighting)."""
    g = combined_geometry()
    energies = (10000.0, 20000.0, 50000.0, 100000.0)
    # electron scale of each section from electrons in the stand-alone stacks at 20 GeV
    scale = []
    for gs in (pb_lar_geometry(3.0), tilecal_geometry(3.0)):
        s, _ = simulate_in_memory(
            gs, ParticleGun("e-", EnergySpectrum("fixed", (20000.0,))), 60, seed=61, workers=workers
        )
        scale.append(20000.0 / float(s.total_energy().mean()))
    rel, err = [], []
    for e, (sig, _st) in zip(energies, _responses(g, "pi+", energies, n, workers, 62), strict=True):
        resp = sig @ np.array(scale)
        rel.append(float(resp.std(ddof=1) / resp.mean()))
        err.append(rel[-1] / math.sqrt(2.0 * (n - 1)))
        say(f"  combined {e / 1000:g} GeV: π/e = {resp.mean() / e:.3f}, σ/E = {100 * rel[-1]:.1f} %")
    from scipy.optimize import curve_fit

    e_gev = np.array(energies) / 1000.0
    p, _ = curve_fit(lambda x, a, c: a / np.sqrt(x) + c, e_gev, np.array(rel), p0=(0.5, 0.02), sigma=np.array(err))
    a, c = float(p[0]), float(p[1])
    cond = "LAr + Tile (1.2 + 8.7 λ), e-scale, 10–100 GeV"
    return [
        Row("V19", "π stochastic term a [%·√GeV] (σ/E = a/√E + c)", cond, 58.0, 100 * a, 0.15, True, "hep-ex/0004009 (58 ± 3)", ".3g"),
        Row("V19", "π constant term c [%]", cond, 2.5, 100 * c, 1.5, False, "hep-ex/0004009 (2.5 ± 0.3)", ".3g"),
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------
# the calogan geometry: π+ against e+
# ------------------------------------------------------------------------------------------------
def calogan_rows(n: int, workers: int, energies: tuple[float, ...], say: Callable[[str], None]) -> list[Row]:
    """π+ vs e+ in the calogan stack: no-interaction probability, energy seen and its spread, first layer."""
    g = get_preset("calogan")
    rows: list[Row] = []
    depth = g.stack.depth if g.stack is not None else 480.0
    for e in energies:
        res = {}
        for particle in ("e+", "pi+"):
            s, stats = simulate_in_memory(
                g, ParticleGun(particle, EnergySpectrum("fixed", (e,))), n, seed=71, workers=workers
            )
            layers = s.layer_energies().astype(np.float64)
            res[particle] = (layers.sum(axis=1) / e, layers[:, 0] / e, stats)
        frac_pi, l0_pi, st_pi = res["pi+"]
        frac_e, l0_e, _ = res["e+"]
        e_gev = e / 1000.0
        cond = f"calogan, {e_gev:g} GeV"
        lam = 6.0 / (2.0 / interaction_length("Pb", e) + 4.0 / interaction_length("LAr-CaloGAN", e))
        p_none = math.exp(-depth / lam)
        p_first = 1.0 - math.exp(-g.layers[0].z_max / lam) if g.layers[0].z_max is not None else 1.0
        mip = 3.39 * 15 / e  # 15 periods of layer 0 at 3.39 MeV (PHYSICS.md §9.1)
        spread_pi = float(frac_pi.std() / frac_pi.mean())
        say(
            f"  calogan {e_gev:g} GeV: sum/E e+ {frac_e.mean():.4f} ± {frac_e.std():.4f}, π+ {frac_pi.mean():.3f} ± "
            f"{frac_pi.std():.3f}; layer 0/E e+ {l0_e.mean():.3f}, π+ {l0_pi.mean():.4f}"
        )
        rows += [
            Row(
                "V21",
                "π+ without inelastic interaction",
                cond,
                p_none,
                float(np.mean(st_pi[:, S_N_INELASTIC] == 0)),
                max(0.03, 3.0 * math.sqrt(p_none * (1 - p_none) / n)),
                False,
                f"exp(−L/λ_π), L = {depth / lam:.2f} λ_π",
                ".3f",
            ),
            Row("CG", "π+ sum/E", cond, (0.0, 0.5 * float(frac_e.mean())), float(frac_pi.mean()), 0.0, False,
                f"well below e+ ({frac_e.mean():.3f}): leakage, invisible energy", ".3f"),
            Row("CG", "π+ σ/mean of the sum", cond, (math.sqrt(p_none / (1.0 - p_none)), math.inf), spread_pi, 0.0,
                False, f"≥ punch-through bound; e+ {frac_e.std() / frac_e.mean():.4f}", ".3g"),
            Row("CG", "π+ layer-0 energy / E", cond, (0.0, p_first + mip), float(l0_pi.mean()), 0.0, False,
                f"≤ P(interaction in layer 0) + mip/E; e+ {l0_e.mean():.3f}", ".4f"),
        ]  # fmt: skip
    return rows


def hadron_rows(quick: bool = False, workers: int = 1, log: Callable[[str], None] | None = None) -> list[Row]:
    """Every hadronic row (``quick``: a subset of a few tens of seconds for the tests)."""
    say = log or (lambda _msg: None)
    rows: list[Row] = []
    if quick:
        rows += _block_rows("Pb", 10000.0, 40, workers, full=False)
        rows += calogan_rows(40, workers, (10000.0,), say)
        return rows
    for material in ("Pb", "Fe"):
        for e, n in ((10000.0, 400), (20000.0, 300), (50000.0, 200), (100000.0, 150)):
            say(f"  block {material} π+ {e / 1000:g} GeV")
            rows += _block_rows(material, e, n, workers, full=True)
    energies = (10000.0, 20000.0, 50000.0, 100000.0)
    rows += _eh_rows("Pb/LAr 1.53/4.2 mm", pb_lar_geometry(), EH_PB_LAR, "Pb", energies, 150, 40, workers, say)
    rows += _eh_rows("Fe/PVT 14/3 mm", tilecal_geometry(), EH_FE_SCINT, "Fe", energies, 150, 40, workers, say)
    rows += _resolution_rows(workers, 200, say)
    rows += calogan_rows(300, workers, (10000.0, 50000.0), say)
    return rows
