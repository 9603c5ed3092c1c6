"""Detector figures of merit: response (linearity) and resolution of E_tot in bins of E_inc.

In each incident-energy bin: the response ``μ = mean(E_tot / E_inc)`` with error ``σ/√n``, the spread
``σ = std(E_tot / E_inc)`` with error ``σ/√(2(n − 1))`` (Gaussian approximation), and the relative resolution
``σ/μ``. The resolution is fitted as ``σ/μ = a/√E ⊕ b`` (E in GeV; a the stochastic and b the constant term —
the standard calorimeter parametrisation, e.g. PDG review "Particle detectors at accelerators", calorimetry).
The fit is a weighted linear least-squares fit of ``(σ/μ)² = a² (1/E) + b²`` with ``a², b² ≥ 0``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from caloforge.validation.binning import EnergyBin

__all__ = ["ResolutionFit", "ResponsePoint", "fit_resolution", "response_curve"]

_MIN_SHOWERS = 10


@dataclass(frozen=True)
class ResponsePoint:
    """Response and resolution in one incident-energy bin (energies in MeV, the rest dimensionless)."""

    label: str
    energy: float
    n: int
    mean: float
    mean_error: float
    sigma: float
    sigma_error: float
    resolution: float
    resolution_error: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResolutionFit:
    """``σ/μ = a/√(E/GeV) ⊕ b`` with errors, and the fit's χ² and degrees of freedom."""

    a: float
    a_error: float
    b: float
    b_error: float
    chi2: float
    ndf: int

    def __call__(self, energy_mev: ArrayLike) -> np.ndarray:
        e = np.asarray(energy_mev, dtype=np.float64) / 1000.0
        return np.sqrt(self.a**2 / e + self.b**2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def response_curve(e_total: ArrayLike, e_inc: ArrayLike, bins: list[EnergyBin]) -> list[ResponsePoint]:
    """Response and resolution per energy bin (bins with fewer than 10 showers are skipped).

    Args:
        e_total: E_tot per shower ``(N,)`` MeV.
        e_inc: incident energies ``(N,)`` MeV.
        bins: incident-energy bins (:func:`caloforge.validation.binning.response_energy_bins`).
    """
    et = np.asarray(e_total, dtype=np.float64).reshape(-1)
    ei = np.asarray(e_inc, dtype=np.float64).reshape(-1)
    ratio = et / ei
    out = []
    for b in bins:
        m = b.mask(ei)
        n = int(m.sum())
        if n < _MIN_SHOWERS:
            continue
        r = ratio[m]
        mu, sd = float(r.mean()), float(r.std(ddof=1))
        mu_err, sd_err = sd / np.sqrt(n), sd / np.sqrt(2.0 * (n - 1))
        res = sd / mu if mu > 0 else float("nan")
        res_err = res * float(np.hypot(sd_err / sd, mu_err / mu)) if sd > 0 and mu > 0 else float("nan")
        out.append(ResponsePoint(b.label, float(ei[m].mean()), n, mu, mu_err, sd, sd_err, res, res_err))
    return out


def fit_resolution(points: list[ResponsePoint]) -> ResolutionFit | None:
    """Fit ``σ/μ = a/√E ⊕ b`` (E in GeV) to the points; ``None`` with fewer than 3 usable points."""
    pts = [
        p for p in points if np.isfinite(p.resolution) and np.isfinite(p.resolution_error) and p.resolution_error > 0
    ]
    if len(pts) < 3:
        return None
    inv_e = np.array([1000.0 / p.energy for p in pts])
    y = np.array([p.resolution**2 for p in pts])
    y_err = np.array([2.0 * p.resolution * p.resolution_error for p in pts])
    w = 1.0 / y_err
    design = np.stack([inv_e, np.ones_like(inv_e)], axis=1)

    def solve(cols: list[int]) -> np.ndarray:
        coef = np.zeros(2)
        if cols:
            sol = np.linalg.lstsq(design[:, cols] * w[:, None], y * w, rcond=None)[0]
            coef[cols] = sol
        return coef

    coef = solve([0, 1])
    if np.any(coef < 0):  # a², b² must be non-negative: the best one-parameter fit instead
        options = [np.clip(solve([0]), 0, None), np.clip(solve([1]), 0, None)]
        coef = min(options, key=lambda c: float(np.sum(((y - design @ c) * w) ** 2)))
    chi2 = float(np.sum(((y - design @ coef) * w) ** 2))
    cov = np.linalg.pinv((design * w[:, None]).T @ (design * w[:, None]))
    a, b = float(np.sqrt(coef[0])), float(np.sqrt(coef[1]))
    # error propagation from a² and b² to a and b (undefined at 0: report the error of the square root bound)
    a_err = float(np.sqrt(cov[0, 0]) / (2 * a)) if a > 0 else float(np.sqrt(np.sqrt(cov[0, 0])))
    b_err = float(np.sqrt(cov[1, 1]) / (2 * b)) if b > 0 else float(np.sqrt(np.sqrt(cov[1, 1])))
    return ResolutionFit(a, a_err, b, b_err, chi2, len(pts) - 2)
