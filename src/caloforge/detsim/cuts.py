"""Production cuts: Geant4's conversion of a range cut into per-material energy thresholds (PHYSICS.md §7.1).

Algorithm of G4VRangeToEnergyConverter with G4RToEConvForElectron/Positron/Gamma (Geant4 11): on a log grid of
50 bins per decade from 1 keV to 10 GeV,

* e±: an approximate dE/dx per atom (Berger–Seltzer-like collision loss with I = 16 eV Z^0.9 plus a crude
  bremsstrahlung term, scaled by 0.1) is integrated by the trapezoidal rule into a range; the threshold is the
  energy at which that range equals the cut (linear interpolation), with a low-energy correction below 30 keV;
* gamma: an empirical "absorption" cross section sigma(Z, E); the photon "range" is 5/(sum_j n_j sigma_j) and
  the threshold is where it reaches the cut.

The result is clamped to [990 eV, 10 GeV] (G4ProductionCutsTable's lowest threshold, 990 eV). Reproduces the
Geant4 printouts exactly (Pb at 1 mm: gamma 101.797 keV, e- 1.37158 MeV, e+ 1.2826 MeV; PHYSICS.md §7.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caloforge.detsim.constants import ELECTRON_MASS, LOWEST_CUT_ENERGY, TWO_PI_MC2_RCL2
from caloforge.detsim.photon import atom_densities
from caloforge.exceptions import SimulationError
from caloforge.geometry.materials import Material

__all__ = ["ProductionThresholds", "production_thresholds", "range_cut_to_energy"]

_EMIN, _EMAX, _NBIN = 1e-3, 1e4, 350  # MeV, MeV, 50 bins/decade over 7 decades


@dataclass(frozen=True)
class ProductionThresholds:
    """Energy thresholds (MeV) of one material for a range cut (mm)."""

    gamma: float
    electron: float
    positron: float


def _energy_grid() -> np.ndarray:
    grid = _EMIN * np.exp(np.arange(_NBIN + 1) * math.log(_EMAX / _EMIN) / _NBIN)
    grid[-1] = _EMAX
    return grid


def _electron_loss(Z: float, t: float, positron: bool) -> float:
    """dE/dx per atom (MeV mm^2) of G4RToEConvForElectron/Positron::ComputeLoss."""
    cbr1, cbr2, cbr3, cbr4 = 0.02, -5.7e-5, 1.0, 0.072
    t_low, t_high = 10e-3, 1e3
    taul = t_low / ELECTRON_MASS
    ionpotlog = math.log(1.6e-5 * math.exp(0.9 * math.log(Z)) / ELECTRON_MASS)
    tau = t / ELECTRON_MASS

    def collision(tt: float) -> float:
        t1, t2, tsq = tt + 1.0, tt + 2.0, tt * tt
        beta2 = tt * t2 / (t1 * t1)
        if positron:
            f = 2.0 * math.log(tt) - (
                6.0 * tt + 1.5 * tsq - tt * (1.0 - tsq / 3.0) / t2 - tsq * (0.5 - tsq / 12.0) / (t2 * t2)
            ) / (t1 * t1)
        else:
            f = 1.0 - beta2 + math.log(tsq / 2.0) + (0.5 + 0.25 * tsq + (1.0 + 2.0 * tt) * math.log(0.5)) / (t1 * t1)
        return TWO_PI_MC2_RCL2 * Z * (math.log(2.0 * tt + 4.0) - 2.0 * ionpotlog + f) / beta2

    if tau < taul:
        return collision(taul) * math.sqrt(taul) / math.sqrt(tau)
    dedx = collision(tau)
    t1, t2 = tau + 1.0, tau + 2.0
    beta2 = tau * t2 / (t1 * t1)
    cbrem = (cbr1 + cbr2 * Z) * (cbr3 + cbr4 * math.log(t / t_high))
    cbrem = Z * (Z + 1.0) * cbrem * tau / beta2 * 0.1
    return dedx + TWO_PI_MC2_RCL2 * cbrem


def _gamma_absorption(Z: float, e: float) -> float:
    """Empirical absorption cross section per atom (mm^2) of G4RToEConvForGamma::ComputeCrossSection."""
    t1kev, t200kev, t100mev = 1e-3, 0.2, 100.0
    z2 = Z * Z
    zlog = math.log(Z)
    s200 = (0.2651 - 0.1501 * zlog + 0.02283 * zlog * zlog) * z2
    tmin = 0.552 + 218.5 / Z + 557.17 / z2
    smin = (0.01239 + 0.005585 * zlog - 0.000923 * zlog * zlog) * math.exp(1.5 * zlog)
    cmin = math.log(s200 / smin) / (math.log(tmin / t200kev) ** 2)
    tlow = 0.2 * math.exp(-7.355 / math.sqrt(Z))
    slow = s200 * math.exp(0.042 * Z * math.log(t200kev / tlow) ** 2)
    s1kev = 300.0 * z2
    clow = math.log(s1kev / slow) / math.log(tlow / t1kev)
    chigh = (7.55e-5 - 0.0542e-5 * Z) * z2 * Z / math.log(t100mev / tmin)
    if e < tlow:
        xs = slow * math.exp(clow * math.log(tlow / max(e, t1kev)))
    elif e < t200kev:
        xs = s200 * math.exp(0.042 * Z * math.log(t200kev / e) ** 2)
    elif e < tmin:
        xs = smin * math.exp(cmin * math.log(tmin / e) ** 2)
    else:
        xs = smin + chigh * math.log(e / tmin)
    return xs * 1e-22  # barn -> mm^2


def _interpolate(e1: float, e2: float, r1: float, r2: float, r: float) -> float:
    return e1 if r1 == r2 else e1 + (e2 - e1) * (r - r1) / (r2 - r1)


def range_cut_to_energy(material: Material, range_cut: float, particle: str) -> float:
    """Energy threshold (MeV) of ``particle`` (``"gamma"``, ``"e-"``, ``"e+"``) for ``range_cut`` mm.

    Raises:
        SimulationError: a cut that is not a positive number, or an unknown particle.
    """
    if not (range_cut > 0 and math.isfinite(range_cut)):
        raise SimulationError(f"range cut must be a positive length in mm, got {range_cut}")
    if particle not in ("gamma", "e-", "e+"):
        raise SimulationError(f"production thresholds exist for gamma, e- and e+, not {particle!r}")
    atoms = atom_densities(material)
    grid = _energy_grid()
    e1 = e2 = r1 = r2 = 0.0
    if particle == "gamma":
        for i in range(_NBIN):
            e2 = float(grid[i])
            sig = sum(n * _gamma_absorption(float(Z), e2) for Z, n in atoms)
            r2 = 5.0 / sig if sig > 0 else math.inf
            if i == 0 or r2 < range_cut:
                e1, r1 = e2, r2
            else:
                break
        cut = _interpolate(e1, e2, r1, r2, range_cut)
    else:
        positron = particle == "e+"
        dedx1 = rng = 0.0
        for i in range(_NBIN):
            e2 = float(grid[i])
            dedx2 = sum(n * _electron_loss(float(Z), e2, positron) for Z, n in atoms)
            rng += 2.0 * (e2 - e1) / (dedx1 + dedx2) if dedx1 + dedx2 > 0 else 0.0
            r2 = rng
            if r2 < range_cut:
                e1, dedx1, r1 = e2, dedx2, r2
            else:
                break
        cut = _interpolate(e1, e2, r1, r2, range_cut)
        tune = 0.025  # mm g/cm^3
        lowen = 30e-3
        if cut < lowen:
            cut /= 1.0 + (1.0 - cut / lowen) * tune / (range_cut * material.density)
    return max(LOWEST_CUT_ENERGY, min(cut, _EMAX))


def production_thresholds(material: Material, range_cut: float) -> ProductionThresholds:
    """The gamma, e- and e+ thresholds (MeV) of a material for a range cut in mm."""
    return ProductionThresholds(
        gamma=range_cut_to_energy(material, range_cut, "gamma"),
        electron=range_cut_to_energy(material, range_cut, "e-"),
        positron=range_cut_to_energy(material, range_cut, "e+"),
    )
