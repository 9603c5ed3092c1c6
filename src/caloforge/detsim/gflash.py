"""GFlash-style parameterised electromagnetic showers (Grindhammer & Peters, hep-ex/0001020).

A fast, physically shaped generator of test data and a parametric baseline — not the reference simulation.
It follows the parameterisation of Geant4's GFlash (PHYSICS.md §8.2, [G4src] ``GFlashHomoShowerParameterisation``,
``GFlashSamplingShowerParameterisation``, ``GVFlashHomoShowerTuning``, ``GFlashSamplingShowerTuning``):

1. **Medium.** The geometry's stack becomes one effective medium (mixture rules of PHYSICS.md §6.2: mass-
   weighted Z and A, 1/X0 = Σ w/X0, E_c = X0 Σ w E_c/X0 with GFlash's E_c = 2.66 (X0 Z/A)^1.1 MeV per material,
   R_M = X0 E_s/E_c with E_s = 21.2 MeV). If every slab is scored (``sensitive: ["*"]`` or one material) the
   homogeneous parameterisation is used; otherwise the sampling one, with F_S = X0_eff/d_period and
   ê = 1/(1 + 0.007 (Z_passive − Z_active)).
2. **Longitudinal profile.** Per shower, ln T and ln α are drawn from correlated normal distributions (means,
   widths and correlation of §8.2), β = (α − 1)/T, and the energy of each depth step is the difference of the
   gamma-distribution CDF, E (1/E) dE/dt = β^α t^(α−1) e^(−βt)/Γ(α), across the step.
3. **Spots.** The shower is cut into N_spot energy spots (93 ln Z · E^0.876 homogeneous, 10.3/c_S · E^0.959
   sampling; E in GeV), distributed over the depth steps by GP's spot profile (T_spot, α_spot of §8.2); all
   spots of a step share its energy equally, so the energy profile is exact and the spots carry the local
   fluctuations, as in GFlash.
4. **Radial profile.** Each spot lands at r = R_M R sqrt(v/(1−v)) with R the core radius R_C (probability p) or
   the tail radius R_T, functions of τ = t/T, E and Z, with GP's sampling corrections; azimuth uniform.
5. **Photons** convert after an exponential depth of mean 9/7 X0 (PDG pair-production mean free path,
   PHYSICS.md §8.1), then shower as an electron of the same energy.

Sampling-fraction model (what the readout sees): the energy deposited in the effective medium is scaled by
the visible fraction f_vis = ê · f_mip, where f_mip = Σ_active d S_min / Σ_all d S_min is the mip sampling
fraction of the stack (S_min: minimum-ionisation stopping power, the PDG value of the material where
tabulated, else the Bethe formula at βγ = 3.5), and ê = e/mip is GP's electron-to-mip ratio. For stacks that
score every material f_vis = 1. Sampling fluctuations multiply the visible energy of each shower by a
gamma-distributed factor of mean 1 and relative width c_S/sqrt(E/GeV), with the rule of thumb
c_S = 2.7 % sqrt(d_active[mm]/f_mip) (PHYSICS.md §8.1, ±30 %). Stored voxel energies are the visible energies
times the geometry's ``energy_scale``; energy in a readout layer's depth range but outside its cells goes to
``overflow``; energy behind the stack or between readout layers is lost. Pass ``sampling_fraction`` to
replace ê · f_mip by a calibrated value (e.g. 0.033 for the CaloChallenge ds2/ds3 stack).

Known limits: normal incidence on the stack axis only; electromagnetic particles only (e±, γ); the
effective medium ignores the layer structure inside a readout cell; valid for E ≳ 20 E_c (a few hundred MeV).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import SimulationError
from caloforge.geometry import Geometry, Material, Stack, radiation_length, resolve_geometry
from caloforge.io.showerset import ShowerSet, particle_code, particle_name

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EffectiveMedium",
    "LongitudinalParameters",
    "effective_medium",
    "longitudinal_parameters",
    "simulate_gflash",
]

# GFlash's scale energy for the Moliere radius (PHYSICS.md "Physical constants": E_s = 21.2 MeV in GFlash)
E_S = 21.2
# mean depth of the first conversion of a high-energy photon, in X0 (PDG: pair mean free path 9/7 X0)
PHOTON_CONVERSION_X0 = 9.0 / 7.0
# the parameterisation needs ln y above the zeros of its widths (−2.5 + 1.25 ln y > 0 for sampling media)
MIN_Y = 20.0
# spots handled per vectorised chunk, and voxels × showers per chunk (bounds memory)
_MAX_SPOTS = 2_000_000
_MAX_CELLS = 4_000_000
# longest depth step, in X0 of the effective medium
_STEP_X0 = 0.25
# muon and electron masses (MeV) and K = 4π N_A r_e² m_e c² (MeV cm²/mol), PDG (PHYSICS.md constants)
_M_MU = 105.6583755
_M_E = 0.51099895
_K_BETHE = 0.307075


# --------------------------------------------------------------------------------------------------
# the effective medium
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EffectiveMedium:
    """A stack as GFlash sees it (PHYSICS.md §6.2 and §8.2).

    Attributes:
        Z, A: mass-weighted mean atomic number and molar mass (g/mol).
        density: mean density in g/cm³.
        X0: radiation length in mm.
        Ec: critical energy in MeV (GFlash's 2.66 (X0 Z/A)^1.1 per material, mixed).
        moliere_radius: R_M = X0 E_s/E_c in mm.
        homogeneous: every slab is scored (or the stack has one material).
        F_S: X0 over the thickness of one sampling period (sampling only; ``inf`` if homogeneous).
        e_hat: GP's e/mip ratio ê (1 if homogeneous).
        f_mip: mip sampling fraction (1 if homogeneous).
        sampling_resolution: c_S, the relative visible-energy width × sqrt(E/GeV) (0 if homogeneous).
        depth: stack depth in mm.
    """

    Z: float
    A: float
    density: float
    X0: float
    Ec: float
    moliere_radius: float
    homogeneous: bool
    F_S: float
    e_hat: float
    f_mip: float
    sampling_resolution: float
    depth: float

    @property
    def visible_fraction(self) -> float:
        """f_vis = ê · f_mip: the fraction of the deposited energy the sensitive layers see."""
        return self.e_hat * self.f_mip


def _gflash_ec(material: Material) -> float:
    """GFlash/GP critical energy 2.66 (X0[g/cm²] Z/A)^1.1 MeV (PHYSICS.md §6.1)."""
    return 2.66 * (radiation_length(material) * material.Z_eff / material.A_eff) ** 1.1


def _stopping_power_min(material: Material) -> float:
    """Minimum-ionisation mass stopping power in MeV cm²/g: the PDG value, else Bethe at βγ = 3.5.

    The Bethe formula for a muon without the density effect (PDG review, Eq. 34.5) is 1–2 % above PDG's
    tabulated minima for Pb and LAr; only ratios of it enter f_mip.
    """
    if material.reference is not None:
        return material.reference.dedx_min
    bg2 = 3.5**2
    b2 = bg2 / (1.0 + bg2)
    gamma = math.sqrt(1.0 + bg2)
    ratio = _M_E / _M_MU
    tmax = 2.0 * _M_E * bg2 / (1.0 + 2.0 * gamma * ratio + ratio**2)
    i_mev = material.I * 1e-6
    return _K_BETHE * material.z_over_a / b2 * (0.5 * math.log(2.0 * _M_E * bg2 * tmax / i_mev**2) - b2)


def effective_medium(stack: Stack) -> EffectiveMedium:
    """The GFlash effective medium of a stack (mixture rules of PHYSICS.md §6.2; GP sampling terms of §8.2)."""
    mass: dict[str, float] = {}  # g/cm² per material over the whole stack
    thick: dict[str, float] = {}  # mm
    n_active = 0
    for block in stack.blocks:
        for slab in block.slabs:
            m = stack.material(slab.material)
            mass[slab.material] = mass.get(slab.material, 0.0) + block.repeat * slab.thickness * 0.1 * m.density
            thick[slab.material] = thick.get(slab.material, 0.0) + block.repeat * slab.thickness
            if stack.scores_all or slab.material in stack.sensitive:
                n_active += block.repeat
    total = sum(mass.values())
    depth = stack.depth
    mats = {name: stack.material(name) for name in mass}
    w = {name: mass[name] / total for name in mass}
    Z = sum(w[n] * mats[n].Z_eff for n in mats)
    A = sum(w[n] * mats[n].A_eff for n in mats)
    density = total / (depth * 0.1)
    inv_x0 = sum(w[n] / radiation_length(mats[n]) for n in mats)
    x0_g = 1.0 / inv_x0
    ec_over_x0 = sum(w[n] * _gflash_ec(mats[n]) / radiation_length(mats[n]) for n in mats)
    ec = x0_g * ec_over_x0
    x0_mm = x0_g / density * 10.0
    rm_mm = E_S / ec_over_x0 / density * 10.0
    active = [n for n in mats if stack.scores_all or n in stack.sensitive]
    passive = [n for n in mats if n not in active]
    if not passive or not active:
        return EffectiveMedium(Z, A, density, x0_mm, ec, rm_mm, True, math.inf, 1.0, 1.0, 0.0, depth)

    def z_of(names: list[str]) -> float:
        m_tot = sum(mass[n] for n in names)
        return sum(mass[n] * mats[n].Z_eff for n in names) / m_tot

    e_hat = 1.0 / (1.0 + 0.007 * (z_of(passive) - z_of(active)))
    loss = {n: thick[n] * 0.1 * mats[n].density * _stopping_power_min(mats[n]) for n in mats}
    f_mip = sum(loss[n] for n in active) / sum(loss.values())
    d_period = depth / n_active
    d_active = sum(thick[n] for n in active) / n_active
    c_s = 0.027 * math.sqrt(d_active / f_mip)  # PHYSICS.md §8.1: 2.7 % sqrt(d/f_samp) per sqrt(GeV)
    return EffectiveMedium(Z, A, density, x0_mm, ec, rm_mm, False, x0_mm / d_period, e_hat, f_mip, c_s, depth)


# --------------------------------------------------------------------------------------------------
# longitudinal parameters
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LongitudinalParameters:
    """GP means, widths and correlation of ln T and ln α for incident energies ``(N,)`` (PHYSICS.md §8.2)."""

    mean_ln_t: NDArray[np.float64]
    sigma_ln_t: NDArray[np.float64]
    mean_ln_alpha: NDArray[np.float64]
    sigma_ln_alpha: NDArray[np.float64]
    rho: NDArray[np.float64]


def longitudinal_parameters(medium: EffectiveMedium, energy: ArrayLike) -> LongitudinalParameters:
    """GP individual-shower parameters for energies in MeV (homogeneous or sampling medium).

    Raises:
        SimulationError: an energy below 20 E_c, where the parameterisation's widths are undefined.
    """
    e = np.asarray(energy, dtype=np.float64)
    y = e / medium.Ec
    if np.any(y < MIN_Y):
        raise SimulationError(
            f"GFlash needs energies above {MIN_Y:g} E_c = {MIN_Y * medium.Ec:.0f} MeV in this medium, got {float(e.min()):.4g} MeV"
        )
    ln_y = np.log(y)
    t_hom = ln_y - 0.812  # exp<ln T_hom>
    a_hom = 0.81 + (0.458 + 2.26 / medium.Z) * ln_y  # exp<ln alpha_hom>
    if medium.homogeneous:
        return LongitudinalParameters(
            np.log(t_hom),
            1.0 / (-1.4 + 1.26 * ln_y),
            np.log(a_hom),
            1.0 / (-0.58 + 0.86 * ln_y),
            0.705 - 0.023 * ln_y,
        )
    return LongitudinalParameters(
        np.log(t_hom - 0.55 / medium.F_S - 0.69 * (1.0 - medium.e_hat)),
        1.0 / (-2.5 + 1.25 * ln_y),
        np.log(a_hom - 0.476 / medium.F_S),
        1.0 / (-0.82 + 0.79 * ln_y),
        0.784 - 0.023 * ln_y,
    )


def _draw_t_alpha(
    p: LongitudinalParameters, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z1, z2 = rng.standard_normal((2, p.rho.shape[0]))
    plus, minus = np.sqrt((1.0 + p.rho) / 2.0), np.sqrt((1.0 - p.rho) / 2.0)
    t = np.exp(p.mean_ln_t + p.sigma_ln_t * (plus * z1 + minus * z2))
    alpha = np.exp(p.mean_ln_alpha + p.sigma_ln_alpha * (plus * z1 - minus * z2))
    # beta = (alpha - 1)/T must stay positive; rare low-alpha draws are held at 1.05
    return t, np.maximum(alpha, 1.05)


# --------------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------------
def _depth_steps(geometry: Geometry, x0: float) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Step edges (mm) covering the stack, aligned with the readout layers, at most ``_STEP_X0`` long, and
    the readout layer of each step (−1 where none)."""
    depth = geometry.stack.depth if geometry.stack is not None else 0.0
    cuts = {0.0, depth}
    for layer in geometry.layers:
        assert layer.z_min is not None
        assert layer.z_max is not None
        cuts.update((min(max(layer.z_min, 0.0), depth), min(max(layer.z_max, 0.0), depth)))
    edges: list[float] = []
    points = sorted(cuts)
    for a, b in itertools.pairwise(points):
        n = max(1, math.ceil((b - a) / (_STEP_X0 * x0) - 1e-9))
        edges.extend(a + (b - a) * k / n for k in range(n))
    edges.append(points[-1])
    e = np.asarray(edges)
    return e, geometry.layer_at_depth(0.5 * (e[1:] + e[:-1]))


def simulate_gflash(
    geometry: Geometry | str | Path,
    energy: ArrayLike,
    *,
    particle: str | int = "e-",
    seed: int,
    spots_per_gev: float | None = None,
    sampling_fraction: float | None = None,
) -> ShowerSet:
    """Simulate electromagnetic showers with the Grindhammer–Peters parameterisation (hep-ex/0001020).

    Args:
        geometry: a geometry with a physical stack (or a preset name or geometry file); any readout.
        energy: incident energies ``(N,)`` in MeV.
        particle: ``"e-"``, ``"e+"`` or ``"gamma"`` (name or PDG id).
        seed: seed of the ``numpy.random.Generator`` (same seed, same showers).
        spots_per_gev: number of energy spots per GeV of incident energy; ``None`` uses GP's N_spot(E).
        sampling_fraction: visible fraction of the deposited energy; ``None`` uses ê · f_mip of the stack
            (1 for stacks that score every material).

    Returns:
        A ShowerSet in MeV (stored units: visible energy × ``geometry.energy_scale``) with ``overflow``.

    Raises:
        SimulationError: a readout-only geometry, a hadron, or energies below about 20 E_c.
    """
    geometry = resolve_geometry(geometry)
    stack = geometry.stack
    if stack is None:
        raise SimulationError(f"geometry {geometry.name!r} is readout-only; GFlash needs its physical stack")
    code = particle_code(particle)
    if code not in (11, -11, 22):
        raise SimulationError(
            f"GFlash parameterises electromagnetic showers (e-, e+, gamma), not {particle_name(code)!r}"
        )
    e = np.asarray(energy, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise SimulationError("incident energies must be finite and > 0 MeV")
    if spots_per_gev is not None and not spots_per_gev > 0:
        raise SimulationError(f"spots_per_gev must be > 0, got {spots_per_gev}")
    if sampling_fraction is not None and not 0 < sampling_fraction <= 1:
        raise SimulationError(f"sampling_fraction must be in (0, 1], got {sampling_fraction}")
    medium = effective_medium(stack)
    params = longitudinal_parameters(medium, e)
    rng = np.random.default_rng(seed)
    n = e.shape[0]

    t_shower, alpha = _draw_t_alpha(params, rng)
    t_start = rng.exponential(PHOTON_CONVERSION_X0, n) if code == 22 else np.zeros(n)
    f_vis = (1.0 if medium.homogeneous else medium.visible_fraction) if sampling_fraction is None else sampling_fraction
    visible = e * f_vis
    if not medium.homogeneous:
        width = medium.sampling_resolution / np.sqrt(e / 1000.0)
        visible = visible * rng.gamma(1.0 / width**2, width**2)
    e_gev = e / 1000.0
    if spots_per_gev is not None:
        n_spots = np.maximum(1, np.rint(spots_per_gev * e_gev)).astype(np.int64)
    elif medium.homogeneous:
        n_spots = np.maximum(1, np.rint(93.0 * math.log(medium.Z) * e_gev**0.876)).astype(np.int64)
    else:
        n_spots = np.maximum(1, np.rint(10.3 / medium.sampling_resolution * e_gev**0.959)).astype(np.int64)

    edges_mm, step_layer = _depth_steps(geometry, medium.X0)
    showers = np.zeros((n, geometry.n_voxels), dtype=np.float32)
    overflow = np.zeros((n, geometry.n_layers), dtype=np.float64)
    # chunks of showers bounded in spots and in voxels
    per_chunk = max(1, _MAX_CELLS // max(geometry.n_voxels, 1))
    start = 0
    while start < n:
        stop = start + 1
        spots = int(n_spots[start])
        while stop < n and stop - start < per_chunk and spots + n_spots[stop] <= _MAX_SPOTS:
            spots += int(n_spots[stop])
            stop += 1
        sl = slice(start, stop)
        _deposit(
            geometry,
            medium,
            rng,
            edges_mm,
            step_layer,
            e_gev[sl],
            visible[sl] * geometry.energy_scale,
            t_shower[sl],
            alpha[sl],
            t_start[sl],
            n_spots[sl],
            showers[sl],
            overflow[sl],
        )
        start = stop
    return ShowerSet.from_arrays(e, showers, geometry, particle=code, overflow=overflow.astype(np.float32))


def _deposit(
    geometry: Geometry,
    medium: EffectiveMedium,
    rng: np.random.Generator,
    edges_mm: NDArray[np.float64],
    step_layer: NDArray[np.int64],
    e_gev: NDArray[np.float64],
    stored: NDArray[np.float64],
    t_shower: NDArray[np.float64],
    alpha: NDArray[np.float64],
    t_start: NDArray[np.float64],
    n_spots: NDArray[np.int64],
    out: NDArray[np.float32],
    overflow: NDArray[np.float64],
) -> None:
    """Deposit one chunk of showers (``out``/``overflow`` rows) — steps 2 to 4 of the module docstring."""
    from scipy.special import gammainc

    b = e_gev.shape[0]
    z = medium.Z
    edges_x0 = edges_mm / medium.X0
    # energy per depth step from the shower's gamma profile, counted from its start t_start
    beta = (alpha - 1.0) / t_shower
    rel = np.maximum(edges_x0[None, :] - t_start[:, None], 0.0)
    cdf = gammainc(alpha[:, None], beta[:, None] * rel)
    d_energy = np.diff(cdf, axis=1) * stored[:, None]  # (b, steps)
    # spots per step from GP's spot profile (the remainder beyond the stack collects the rest)
    if medium.homogeneous:
        t_spot, a_spot = t_shower * (0.698 + 0.00212 * z), alpha * (0.639 + 0.00334 * z)
    else:
        t_spot, a_spot = t_shower * (0.813 + 0.0019 * z), alpha * (0.844 + 0.0026 * z)
    a_spot = np.maximum(a_spot, 1.05)
    spot_cdf = gammainc(a_spot[:, None], ((a_spot - 1.0) / t_spot)[:, None] * rel)
    p_steps = np.clip(np.diff(spot_cdf, axis=1), 0.0, 1.0)
    p_all = np.concatenate([p_steps, np.clip(1.0 - p_steps.sum(axis=1, keepdims=True), 0.0, 1.0)], axis=1)
    p_all /= p_all.sum(axis=1, keepdims=True)
    counts = rng.multinomial(n_spots, p_all)[:, :-1]
    counts = np.where(d_energy > 0, np.maximum(counts, 1), 0)  # every step with energy gets a spot
    # spots in step-major order, so that each readout layer's spots are contiguous
    counts_t = counts.T.ravel()
    step_of = np.repeat(np.repeat(np.arange(counts.shape[1]), b), counts_t)
    shower_of = np.repeat(np.tile(np.arange(b), counts.shape[1]), counts_t)
    energy_of = np.repeat((d_energy / np.maximum(counts, 1)).T.ravel(), counts_t)
    if step_of.size == 0:
        return
    # depth of each spot uniform in its step; tau = (t - t_start)/T (GP radial profile variable)
    t_spot_x0 = edges_x0[step_of] + rng.random(step_of.size) * (edges_x0[step_of + 1] - edges_x0[step_of])
    tau = np.maximum(t_spot_x0 - t_start[shower_of], 0.0) / t_shower[shower_of]
    ln_e = np.log(e_gev)[shower_of]
    r_core = 0.0251 + 0.00319 * ln_e + (0.1162 - 0.000381 * z) * tau
    k1, k2, k3 = 0.659 - 0.00309 * z, 0.645, -2.59
    k4 = 0.3585 + 0.0412 * ln_e
    r_tail = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2 = 2.632 - 0.00094 * z, 0.401 + 0.00187 * z
    p3 = 1.313 - 0.0686 * ln_e
    arg = (p2 - tau) / p3
    p_core = p1 * np.exp(arg - np.exp(arg))
    if not medium.homogeneous:
        one_minus_e = 1.0 - medium.e_hat
        r_core = r_core - 0.0203 * one_minus_e + 0.0397 * np.exp(-tau) / medium.F_S
        r_tail = r_tail - 0.14 * one_minus_e - 0.495 * np.exp(-tau) / medium.F_S
        p_core = p_core + one_minus_e * (0.348 - 0.642 * np.exp(-((tau - 1.0) ** 2)) / medium.F_S)
    p_core = np.clip(p_core, 0.0, 1.0)
    radius = np.where(rng.random(tau.size) < p_core, np.maximum(r_core, 1e-3), np.maximum(r_tail, 1e-3))
    v = rng.random(tau.size)
    r_mm = medium.moliere_radius * radius * np.sqrt(v / (1.0 - v))
    phi = rng.random(tau.size) * (2.0 * math.pi)
    x, y = r_mm * np.cos(phi), r_mm * np.sin(phi)
    layer_of = step_layer[step_of]
    n_vox = geometry.n_voxels
    voxel = np.full(step_of.size, -1, dtype=np.int64)
    # spots are step-major and steps run front to back: each run of steps in one readout layer is one slice
    spot_offsets = np.concatenate([[0], np.cumsum(counts.sum(axis=0))])
    run_starts = np.flatnonzero(np.diff(step_layer, prepend=-2)) if step_layer.size else np.zeros(0, np.int64)
    run_stops = np.append(run_starts[1:], step_layer.size)
    for first, last in zip(run_starts, run_stops, strict=True):
        layer = int(step_layer[first])
        lo, hi = spot_offsets[first], spot_offsets[last]
        if layer >= 0 and lo < hi:
            voxel[lo:hi] = geometry.locate(layer, x[lo:hi], y[lo:hi])
    inside = voxel >= 0
    out += (
        np.bincount(shower_of[inside] * n_vox + voxel[inside], weights=energy_of[inside], minlength=b * n_vox)
        .reshape(b, n_vox)
        .astype(np.float32)
    )
    lost = ~inside & (layer_of >= 0)
    overflow += np.bincount(
        shower_of[lost] * geometry.n_layers + layer_of[lost], weights=energy_of[lost], minlength=b * geometry.n_layers
    ).reshape(b, geometry.n_layers)
