"""Hadron physics of the reference simulation: stopping powers, cross sections and the final-state model.

Charged hadrons (π±, p) lose energy by restricted Bethe–Bloch ionisation with delta rays above the electron
production cut and scatter by the Highland formula; neutrons above :attr:`HadronPhysics.neutron_cut` only
interact inelastically, below it they scatter elastically off nuclei and protons (PHYSICS.md §4, §5.1).
Inelastic hadron–nucleus interactions use the pion–nucleus cross sections of PHYSICS.md §5.2 (Barashenkov, as
in Geant4's G4UPiNuclearCrossSection) and λ_I-based nucleon cross sections. Their final state is a simplified
mechanistic model — a leading particle, produced pions, an intranuclear cascade, evaporation and binding-energy
losses — **not** Geant4's Bertini or FTF models. Every parameter is a field of :class:`HadronPhysics` with its
source; docs/physics.md §9 describes the model and the tuning targets.

This module builds the tables (numpy); the sampling runs in :mod:`caloforge.detsim.transport`, which reads
the parameters from :attr:`HadronTables.par` (never from module globals, so that numba's cache cannot keep
stale values). Units: MeV, mm; cross sections in mm² unless named otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from caloforge.detsim.constants import AVOGADRO, ELECTRON_MASS, TWO_PI_MC2_RCL2
from caloforge.detsim.electron import _delta, density_effect_parameters
from caloforge.detsim.tables import MAX_ELEMENTS, _range_table, energy_grid
from caloforge.exceptions import SimulationError
from caloforge.geometry.materials import Material

__all__ = [
    "MUON_MASS",
    "NEUTRON_MASS",
    "PI0_MASS",
    "PION_MASS",
    "PROTON_MASS",
    "HadronPhysics",
    "HadronTables",
    "binding_energy_per_nucleon",
    "delta_ray_per_volume",
    "hadron_dedx",
    "hadron_tables",
    "nucleon_inelastic_per_atom",
    "pion_inelastic_per_atom",
]

# PDG 2024 masses (MeV)
PION_MASS = 139.57039
PI0_MASS = 134.9768
PROTON_MASS = 938.27208816
NEUTRON_MASS = 939.56542052
MUON_MASS = 105.6583755

_MB = 1e-25  # 1 millibarn in mm^2

# pi+–nucleus inelastic cross sections (mb) at kinetic energies 1, 2, 5, 10, 20, 50, 100 GeV: Barashenkov's
# evaluation as hard-coded in Geant4 11.4 G4UPiNuclearCrossSection.cc (PHYSICS.md §5.2, V21). Ca stands in for Ar.
_PI_TABLE_E = np.array([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]) * 1000.0
_PI_TABLE_A = np.array([26.98, 40.078, 55.845, 63.546, 183.84, 207.2])
_PI_TABLE = np.array(
    [
        [460.0, 408.0, 376.0, 356.0, 347.0, 338.0, 332.0],  # Al
        [608.0, 550.0, 510.0, 488.0, 470.0, 450.0, 450.0],  # Ca
        [755.0, 690.0, 635.0, 615.0, 600.0, 585.0, 585.0],  # Fe
        [855.0, 780.0, 705.0, 680.0, 650.0, 630.0, 630.0],  # Cu
        [1660.0, 1620.0, 1530.0, 1460.0, 1440.0, 1410.0, 1410.0],  # W
        [1800.0, 1775.0, 1620.0, 1620.0, 1570.0, 1530.0, 1530.0],  # Pb
    ]
)
# A^0.75 scaling outside the tabulated targets (PHYSICS.md §5.2: sigma_inel ≈ 28 mb A^0.75 at 100 GeV)
_A_EXPONENT = 0.75
# nucleon–nucleus: lambda_I ≈ 35 g cm^-2 A^(1/3) (PHYSICS.md §5.2; what Geant4's G4Material prints), i.e.
# sigma_inel = A^(2/3)/(N_A 35 g cm^-2); hydrogen: PDG lambda_I of H2 = 52.0 g cm^-2 (pp inelastic ≈ 32 mb)
_LAMBDA_I_COEFF = 35.0  # g/cm^2
_LAMBDA_I_HYDROGEN = 52.0  # g/cm^2

# semi-empirical mass formula (Weizsäcker; coefficients of K. Krane, Introductory Nuclear Physics, 1988), MeV
_SEMF = (15.5, 16.8, 0.72, 23.0, 34.0)


def pion_inelastic_per_atom(A: float, t: np.ndarray | float) -> np.ndarray:
    """Pion–nucleus inelastic cross section (mm²) at kinetic energy ``t`` (MeV).

    Log-linear in E between the tabulated energies of PHYSICS.md §5.2 and constant outside 1–100 GeV (the table
    is flat above 50 GeV; below 1 GeV the Δ-resonance region is not modelled); log-log in A between the tabulated
    targets, A^0.75 outside (hydrogen: 332 mb (1/27)^0.75 ≈ 28 mb). π− is given the π+ values (they differ only
    below 1 GeV).
    """
    log_e = np.log(np.clip(np.atleast_1d(np.asarray(t, dtype=float)), _PI_TABLE_E[0], _PI_TABLE_E[-1]))
    per_target = np.array([np.interp(log_e, np.log(_PI_TABLE_E), row) for row in _PI_TABLE])  # (n_A, n_E)
    la = np.log(_PI_TABLE_A)
    if _PI_TABLE_A[0] >= A:
        sigma = per_target[0] * (A / _PI_TABLE_A[0]) ** _A_EXPONENT
    elif _PI_TABLE_A[-1] <= A:
        sigma = per_target[-1] * (A / _PI_TABLE_A[-1]) ** _A_EXPONENT
    else:
        k = int(np.searchsorted(_PI_TABLE_A, A)) - 1
        w = (math.log(A) - la[k]) / (la[k + 1] - la[k])
        sigma = np.exp((1.0 - w) * np.log(per_target[k]) + w * np.log(per_target[k + 1]))
    return sigma * _MB


def nucleon_inelastic_per_atom(A: float) -> float:
    """Nucleon–nucleus inelastic cross section (mm²), energy independent (λ_I-based, PHYSICS.md §5.2)."""
    lam = _LAMBDA_I_HYDROGEN if A < 1.5 else _LAMBDA_I_COEFF * A ** (1.0 / 3.0)
    return A / (AVOGADRO * lam) * 100.0  # cm^2 -> mm^2


def binding_energy_per_nucleon(A: float, Z: float) -> float:
    """Mean binding energy per nucleon B/A (MeV) from the semi-empirical mass formula; 0 for hydrogen.

    This is the energy lost per nucleon knocked out of the nucleus (Wigmans' "~8 MeV per released nucleon",
    PHYSICS.md §5.1): Pb 7.76, Fe 8.83, Ar 8.80 MeV (measured 7.87, 8.79, 8.60).
    """
    if A < 1.5:
        return 0.0
    a_v, a_s, a_c, a_a, a_p = _SEMF
    b = a_v * A - a_s * A ** (2.0 / 3.0) - a_c * Z * (Z - 1.0) / A ** (1.0 / 3.0) - a_a * (A - 2.0 * Z) ** 2 / A
    b += a_p * A ** (-0.75)  # even-even pairing term (most stable isotopes of the absorbers are even-even)
    return max(b / A, 0.0)


def hadron_dedx(material: Material, t: np.ndarray, mass: float, cut: float, spin_half: bool) -> np.ndarray:
    """Restricted Bethe–Bloch stopping power (MeV/mm) of a singly charged hadron (G4BetheBlochModel; §4).

    dE/dx = 2π r_e² m_e c² n_e/β² [ln(2 m_e c² β²γ² T_up/I²) − β²(1 + T_up/W_max) − δ (+ (T_up/2E)² spin ½)],
    T_up = min(cut, W_max). Below 2 MeV × M/m_p (Geant4's Bragg region) dE/dx ∝ √T is continued from there
    (the range below is microns; the tracking cut is higher).
    """
    t = np.asarray(t, dtype=float)
    t_low = 2.0 * mass / PROTON_MASS
    te = np.maximum(t, t_low)
    p = density_effect_parameters(material)
    n_e = material.electron_density * 1e-3  # 1/mm^3
    i2 = (material.I * 1e-6) ** 2
    gam = 1.0 + te / mass
    bg2 = gam * gam - 1.0
    beta2 = bg2 / (gam * gam)
    ratio = ELECTRON_MASS / mass
    wmax = 2.0 * ELECTRON_MASS * bg2 / (1.0 + 2.0 * gam * ratio + ratio * ratio)
    tup = np.minimum(cut, wmax)
    bracket = np.log(2.0 * ELECTRON_MASS * bg2 * tup / i2) - beta2 * (1.0 + tup / wmax)
    if spin_half:
        bracket += (0.5 * tup / (te + mass)) ** 2
    bracket -= _delta(p, 0.5 * np.log10(bg2))
    dedx = np.maximum(TWO_PI_MC2_RCL2 * n_e / beta2 * bracket, 0.0)
    return np.where(t < t_low, dedx * np.sqrt(np.maximum(t, 1e-30) / t_low), dedx)


def delta_ray_per_volume(material: Material, t: np.ndarray, mass: float, cut: float, spin_half: bool) -> np.ndarray:
    """Macroscopic cross section (1/mm) of delta-ray production above ``cut`` (G4BetheBlochModel; §4)."""
    t = np.asarray(t, dtype=float)
    n_e = material.electron_density * 1e-3
    etot = t + mass
    gam = etot / mass
    bg2 = gam * gam - 1.0
    beta2 = bg2 / (gam * gam)
    ratio = ELECTRON_MASS / mass
    wmax = 2.0 * ELECTRON_MASS * bg2 / (1.0 + 2.0 * gam * ratio + ratio * ratio)
    tmax = np.maximum(wmax, cut)
    cross = (tmax - cut) / (cut * tmax) - beta2 * np.log(tmax / cut) / np.maximum(wmax, 1e-300)
    if spin_half:
        cross += 0.5 * (tmax - cut) / (etot * etot)
    out = TWO_PI_MC2_RCL2 * n_e / beta2 * np.maximum(cross, 0.0)
    return np.where(wmax > cut, out, 0.0)


@dataclass(frozen=True)
class HadronPhysics:
    """Tracking settings and final-state parameters of the hadronic simulation (MeV, mm, mb).

    Sources: [§n] PHYSICS.md section; [mem] a textbook value PHYSICS.md quotes from memory; [model] a choice of
    this simplified model; [tuned] set so that the emergent invisible energy and EM fraction match PHYSICS.md
    §5.3/§5.5 (docs/physics.md §9 and docs/validation.md give the targets and the result).

    Attributes:
        tracking_cut: charged hadrons below stop and deposit locally (π+ then decays, π− is captured) [model:
            low enough that slow protons are sampled by thin active layers].
        final_range, dr_over_range: continuous-loss step function of Geant4 for muons and hadrons
            (finalRangeMuHad 0.1 mm, dRoverRangeMuHad 0.2; G4EmParameters).
        neutron_cut: below this kinetic energy neutrons only scatter elastically (20 MeV, the upper limit of
            Geant4's evaluated low-energy neutron data) [model].
        neutron_stop, neutron_max_collisions: a slow neutron is followed until below ``neutron_stop`` or for
            at most this many collisions; the rest of its energy counts as undetected (thermalisation and
            capture take microseconds to milliseconds, outside test-beam integration times) [model].
        nuclear_radius: r0 of R = r0 A^(1/3) in the elastic cross section π(R + ƛ)² of slow neutrons (fm) [mem].
        inelasticity_min, inelasticity_max: inelasticity K uniform in this range (mean 0.55; K ≈ 0.5–0.6 [§5.1]).
        pion_charge_exchange: probability that a leading pion emerges as a π0 [tuned to f_em(E), §5.5].
        nucleon_charge_exchange: probability that a leading nucleon changes isospin (p ↔ n) [model].
        mean_pt: mean transverse momentum of produced particles (MeV/c); p_T ~ p_T exp(−2 p_T/<p_T>) [§5.1].
        sigma_pion_nucleon, sigma_nucleon_nucleon: hadron–nucleon inelastic cross sections (mb) in the mean
            number of collisions ν = A σ_hN/σ_hA and R_A = (1 + ν)/2 [§5.4; πN ≈ 20 mb, NN ≈ 30 mb, PDG].
        nch_a0, nch_a1, nch_a2: pp charged multiplicity ⟨n_ch⟩ = a0 + a1 ln s + a2 ln² s (s in GeV²) [§5.4].
        pions_per_charged: total/charged pion ratio (isospin: 3/2) [§5.1].
        leading_charged: charged particles of ⟨n_ch⟩ counted as the leading particle, not produced [model].
        feynman_x_power: produced pions share their energy as Feynman-x from (1 − x)^n/x [§5.1].
        cascade_nucleons: mean number of intranuclear-cascade nucleons = this × A^(1/3) [tuned to §5.3].
        cascade_energy: mean kinetic energy of a cascade nucleon (exponential spectrum) [§5.1, "tens–hundreds
            of MeV"].
        excitation: mean excitation energy left after the cascade = this × A^(2/3) (exponential) [tuned, §5.3].
        level_density: Fermi-gas level-density parameter a = A/this (MeV⁻¹); evaporation temperature
            θ = √(E*/a), spectrum T exp(−T/θ) [mem; θ ≈ 1.5–2 MeV §5.1].
        coulomb_radius: r_c (fm) of the proton Coulomb barrier V_c = 1.44 MeV fm · Z/(r_c (A^(1/3) + 1)) in
            evaporation; Γ_p/Γ_n = (Z/N) exp(−V_c/θ) [mem, Weisskopf–Ewing].
    """

    tracking_cut: float = 5.0
    final_range: float = 0.1
    dr_over_range: float = 0.2
    neutron_cut: float = 20.0
    neutron_stop: float = 0.1
    neutron_max_collisions: int = 20
    nuclear_radius: float = 1.2
    inelasticity_min: float = 0.35
    inelasticity_max: float = 0.75
    pion_charge_exchange: float = 0.08
    nucleon_charge_exchange: float = 0.25
    mean_pt: float = 350.0
    sigma_pion_nucleon: float = 20.0
    sigma_nucleon_nucleon: float = 30.0
    nch_a0: float = 0.88
    nch_a1: float = 0.44
    nch_a2: float = 0.118
    pions_per_charged: float = 1.5
    leading_charged: float = 1.0
    feynman_x_power: float = 3.0
    cascade_nucleons: float = 0.5
    cascade_energy: float = 60.0
    excitation: float = 0.015
    excitation_power: float = 2.0
    level_density: float = 8.0
    coulomb_radius: float = 1.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or value < 0:
                raise SimulationError(f"hadronic setting {f.name} must be a non-negative number, got {value!r}")
        for name in ("pion_charge_exchange", "nucleon_charge_exchange"):
            if getattr(self, name) > 1.0:
                raise SimulationError(f"hadronic setting {name} is a probability, got {getattr(self, name)}")
        if not 0.0 <= self.inelasticity_min <= self.inelasticity_max <= 1.0:
            raise SimulationError("hadronic settings need 0 <= inelasticity_min <= inelasticity_max <= 1")
        if self.tracking_cut <= 0 or self.neutron_cut <= self.neutron_stop or self.dr_over_range > 1.0:
            raise SimulationError(
                "hadronic settings need tracking_cut > 0, neutron_cut > neutron_stop and dr_over_range <= 1"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_array(self) -> np.ndarray:
        """The parameters in the order of the ``H_*`` indices of :mod:`caloforge.detsim.transport`."""
        return np.array([float(getattr(self, f.name)) for f in fields(self)])


# kernel element constants (HadronTables.nuc last axis)
NUC_A, NUC_Z, NUC_DENSITY, NUC_BINDING, NUC_BARRIER, NUC_RADIUS, NUC_A13, NUC_A23 = range(8)
N_NUC = 8
PION, NUCLEON = 0, 1


class HadronTables(NamedTuple):
    """Flat arrays read by the hadron transport (material index as in :class:`~caloforge.detsim.tables.KernelTables`).

    Attributes:
        dedx: ``(n_mat, 2, n_E)`` restricted stopping power (MeV/mm) of π± (0) and protons (1).
        range: ``(n_mat, 2, n_E)`` CSDA range with the restricted loss (mm).
        delta: ``(n_mat, 2, n_E)`` delta-ray macroscopic cross section above the electron cut (1/mm).
        inel: ``(n_mat, 2, n_E)`` inelastic macroscopic cross section of pions (0) and nucleons (1) (1/mm).
        inel_el: ``(n_mat, 2, MAX_ELEMENTS, n_E)`` its share per element (1/mm).
        nuc: ``(n_mat, MAX_ELEMENTS, N_NUC)`` A, Z, atoms/mm³, B/A (MeV), Coulomb barrier (MeV), R (fm),
            A^(1/3), A^(2/3).
        n_el: ``(n_mat,)`` number of elements.
        par: ``(n_par,)`` :meth:`HadronPhysics.to_array`.
    """

    dedx: np.ndarray
    range: np.ndarray
    delta: np.ndarray
    inel: np.ndarray
    inel_el: np.ndarray
    nuc: np.ndarray
    n_el: np.ndarray
    par: np.ndarray


def hadron_tables(
    materials: list[Material], electron_cuts: list[float], physics: HadronPhysics | None = None
) -> HadronTables:
    """Tables of every material for the hadron transport (a few ms per material; not cached).

    Args:
        materials: the stack's materials, in the order of the EM tables.
        electron_cuts: delta-ray production threshold (MeV) per material (the e− cut of the range cut).
        physics: model parameters (default :class:`HadronPhysics`).
    """
    physics = physics or HadronPhysics()
    grid = energy_grid()
    n_mat, n_e = len(materials), grid.size
    dedx = np.zeros((n_mat, 2, n_e))
    rng = np.zeros((n_mat, 2, n_e))
    delta = np.zeros((n_mat, 2, n_e))
    inel = np.zeros((n_mat, 2, n_e))
    inel_el = np.zeros((n_mat, 2, MAX_ELEMENTS, n_e))
    nuc = np.zeros((n_mat, MAX_ELEMENTS, N_NUC))
    n_el = np.zeros(n_mat, dtype=np.int64)
    for m, (mat, cut) in enumerate(zip(materials, electron_cuts, strict=True)):
        for k, (mass, spin_half) in enumerate(((PION_MASS, False), (PROTON_MASS, True))):
            dedx[m, k] = hadron_dedx(mat, grid, mass, cut, spin_half)
            rng[m, k] = _range_table(grid, dedx[m, k])
            delta[m, k] = delta_ray_per_volume(mat, grid, mass, cut, spin_half)
        elements = mat.elements()
        if len(elements) > MAX_ELEMENTS:
            raise SimulationError(f"material {mat.name!r} has more than {MAX_ELEMENTS} elements")
        n_el[m] = len(elements)
        for j, (el, w) in enumerate(elements):
            n_atoms = mat.density * w * AVOGADRO / el.A * 1e-3  # 1/mm^3
            inel_el[m, PION, j] = n_atoms * pion_inelastic_per_atom(el.A, grid)
            inel_el[m, NUCLEON, j] = n_atoms * nucleon_inelastic_per_atom(el.A)
            a13 = el.A ** (1.0 / 3.0)
            nuc[m, j] = (
                el.A,
                el.Z,
                n_atoms,
                binding_energy_per_nucleon(el.A, el.Z),
                1.44 * el.Z / (physics.coulomb_radius * (a13 + 1.0)),
                physics.nuclear_radius * a13,
                a13,
                a13 * a13,
            )
        inel[m] = inel_el[m].sum(axis=1)
    return HadronTables(
        dedx=dedx,
        range=rng,
        delta=delta,
        inel=inel,
        inel_el=np.ascontiguousarray(inel_el),
        nuc=nuc,
        n_el=n_el,
        par=physics.to_array(),
    )
