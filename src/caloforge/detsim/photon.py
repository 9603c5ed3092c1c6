"""Photon cross sections: pair production, Compton scattering, photo-electric absorption (PHYSICS.md §2).

All functions are vectorised numpy; energies in MeV, per-atom cross sections in mm^2, macroscopic ones in 1/mm.

* Pair production: L. Urban's parameterisation of the Bethe–Heitler cross section with screening and Coulomb
  correction used by Geant4's G4BetheHeitler5D/G4PairProductionRelModel below 80 GeV (PHYSICS.md §2.1),
  valid 1.5 MeV–100 GeV; continued with the same fit above (it approaches 7/9 A/(N_A X0) within 1 %).
* Compton: the empirical per-atom fit of G4KleinNishinaCompton (PHYSICS.md §2.2), which suppresses the
  low-energy (binding) region.
* Photo-electric: Sandia/Biggs–Lighthill (:mod:`caloforge.detsim.sandia`).
"""

from __future__ import annotations

import math

import numpy as np

from caloforge.detsim.constants import AVOGADRO, ELECTRON_MASS
from caloforge.detsim.sandia import mu_photoelectric
from caloforge.geometry.materials import Material

__all__ = [
    "atom_densities",
    "compton_per_atom",
    "mu_compton",
    "mu_pair",
    "mu_photoelectric",
    "pair_per_atom",
    "total_attenuation",
]

_BARN = 1e-22  # mm^2
_MICROBARN = 1e-28  # mm^2

# G4BetheHeitler5D / G4PairProductionRelModel parameterisation (PHYSICS.md §2.1), microbarn
_PAIR_A = (8.7842e2, -1.9625e3, 1.2949e3, -2.0028e2, 1.2575e1, -2.8333e-1)
_PAIR_B = (-1.0342e1, 1.7692e1, -8.2381, 1.3063, -9.0815e-2, 2.3586e-3)
_PAIR_C = (-4.5263e2, 1.1161e3, -8.6749e2, 2.1773e2, -2.0467e1, 6.5372e-1)
_PAIR_E_LOW = 1.5  # MeV, lower validity limit of the fit


def atom_densities(material: Material) -> list[tuple[int, float]]:
    """``[(Z, atoms per mm^3), ...]`` of a material: n_j = rho w_j N_A / A_j (PHYSICS.md §6.2)."""
    return [(el.Z, material.density * w * AVOGADRO / el.A * 1e-3) for el, w in material.elements()]


def _pair_fit(Z: float, e: np.ndarray) -> np.ndarray:
    x = np.log(e / ELECTRON_MASS)
    f1 = sum(c * x**n for n, c in enumerate(_PAIR_A))
    f2 = sum(c * x**n for n, c in enumerate(_PAIR_B))
    f3 = sum(c * x**n for n, c in enumerate(_PAIR_C))
    return np.asarray((Z + 1.0) * (f1 * Z + f2 * Z * Z + f3) * _MICROBARN, dtype=np.float64)


def pair_per_atom(Z: int, energy: np.ndarray | float) -> np.ndarray:
    """Pair-production cross section per atom (mm^2) at photon energies ``energy`` (MeV).

    Below 1.5 MeV: sigma(1.5 MeV) ((E − 2m)/(1.5 MeV − 2m))^2; zero below 2 m_e c^2 (PHYSICS.md §2.1).
    """
    e = np.atleast_1d(np.asarray(energy, dtype=np.float64))
    out = np.zeros_like(e)
    thr = 2.0 * ELECTRON_MASS
    hi = e >= _PAIR_E_LOW
    out[hi] = _pair_fit(float(Z), e[hi])
    mid = (e > thr) & ~hi
    if np.any(mid):
        s15 = _pair_fit(float(Z), np.array([_PAIR_E_LOW]))[0]
        out[mid] = s15 * ((e[mid] - thr) / (_PAIR_E_LOW - thr)) ** 2
    return np.maximum(out, 0.0)


# G4KleinNishinaCompton empirical fit (PHYSICS.md §2.2), barn
_KN_D = (2.7965e-1, -1.8300e-1, 6.7527, -1.9798e1)
_KN_E = (1.9756e-5, -1.0205e-2, -7.3913e-2, 2.7079e-2)
_KN_F = (-3.9178e-7, 6.8241e-5, 6.0480e-5, 3.0274e-4)


def _compton_fit(Z: float, e: np.ndarray) -> np.ndarray:
    p = [Z * (d + ee * Z + f * Z * Z) for d, ee, f in zip(_KN_D, _KN_E, _KN_F, strict=True)]
    x = e / ELECTRON_MASS
    return (
        p[0] * np.log(1.0 + 2.0 * x) / x
        + (p[1] + p[2] * x + p[3] * x * x) / (1.0 + 20.0 * x + 230.0 * x**2 + 440.0 * x**3)
    ) * _BARN


def compton_per_atom(Z: int, energy: np.ndarray | float) -> np.ndarray:
    """Compton cross section per atom (mm^2), Geant4's fit with the low-energy suppression below T0 = 15 keV
    (40 keV for hydrogen)."""
    e = np.atleast_1d(np.asarray(energy, dtype=np.float64))
    t0 = 40e-3 if Z == 1 else 15e-3
    out = _compton_fit(float(Z), np.maximum(e, t0))
    low = e < t0
    if np.any(low):
        s0 = _compton_fit(float(Z), np.array([t0]))[0]
        s1 = _compton_fit(float(Z), np.array([t0 + 1e-3]))[0]
        c1 = -t0 * (s1 - s0) / (s0 * 1e-3)
        c2 = 0.375 - 0.0556 * math.log(Z)
        y = np.log(e[low] / t0)
        out[low] = s0 * np.exp(-y * (c1 + c2 * y))
    return out


def mu_pair(material: Material, energy: np.ndarray | float) -> np.ndarray:
    """Pair-production macroscopic cross section (1/mm)."""
    return sum((n * pair_per_atom(Z, energy) for Z, n in atom_densities(material)), np.zeros(1))


def mu_compton(material: Material, energy: np.ndarray | float) -> np.ndarray:
    """Compton macroscopic cross section (1/mm)."""
    return sum((n * compton_per_atom(Z, energy) for Z, n in atom_densities(material)), np.zeros(1))


def total_attenuation(material: Material, energy: np.ndarray | float) -> np.ndarray:
    """Mass attenuation coefficient mu/rho (cm^2/g) without Rayleigh scattering: photo-electric + Compton + pair.

    The quantity of PHYSICS.md §2.3's attenuation table (validation V2).
    """
    mu = mu_photoelectric(material, energy) + mu_compton(material, energy) + mu_pair(material, energy)
    return mu * 10.0 / material.density
