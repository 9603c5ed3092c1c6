"""Electron and positron physics: ionisation, bremsstrahlung, annihilation (PHYSICS.md §3).

Vectorised numpy functions used to build the tables of :mod:`caloforge.detsim.tables`; the numba kernels sample
the same formulas (:mod:`caloforge.detsim.interactions`). Energies in MeV, lengths in mm.

* Ionisation: Berger–Seltzer restricted collision stopping power with the Sternheimer density effect, Møller
  (e-) and Bhabha (e+) cross sections above the delta-ray cut (G4MollerBhabhaModel; PHYSICS.md §3.2).
* Bremsstrahlung: Tsai's differential cross section with partial screening and the Coulomb correction, the
  dielectric (Ter-Mikaelian) suppression and, above Geant4's threshold, the LPM suppression in Migdal's form
  (G4eBremsstrahlungRelModel; Tsai, Rev. Mod. Phys. 46 (1974) 815; Stanev et al., PRD 25 (1982) 1291;
  PHYSICS.md §3.1). Geant4 uses the Seltzer–Berger data tables below 1 GeV; they cannot be had here.
* Positron annihilation in flight: Heitler's two-photon cross section (PHYSICS.md §3.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caloforge.detsim.constants import (
    ALPHA,
    AVOGADRO,
    CLASSIC_ELECTRON_RADIUS,
    ELECTRON_MASS,
    REDUCED_COMPTON_WAVELENGTH,
    SCALE_ENERGY,
    TWO_PI_MC2_RCL2,
)
from caloforge.detsim.photon import atom_densities
from caloforge.geometry.materials import DensityEffect, Element, Material, radiation_length

__all__ = [
    "BremElement",
    "annihilation_per_volume",
    "brems_dcs_bracket",
    "brems_element",
    "brems_loss_and_xs",
    "collision_dedx",
    "critical_energy",
    "density_effect_parameters",
    "lpm_energy",
    "moliere_radius",
    "moller_bhabha_per_volume",
    "plasma_energy_factor",
]

_TWOLN10 = 2.0 * math.log(10.0)


# ------------------------------------------------------------------------------------------------
# density effect
# ------------------------------------------------------------------------------------------------
def density_effect_parameters(material: Material) -> DensityEffect:
    """Sternheimer parameters: tabulated, else the Sternheimer–Peierls recipe (PHYSICS.md §6.2, G4IonisParamMat)."""
    if material.density_effect is not None:
        return material.density_effect
    hbar_wp = 28.816e-6 * math.sqrt(material.density * material.z_over_a)  # MeV (PHYSICS.md constants)
    c_bar = 1.0 + 2.0 * math.log(material.I * 1e-6 / hbar_wp)
    if material.I < 100.0:
        x1 = 2.0
        x0 = 0.2 if c_bar < 3.681 else 0.326 * c_bar - 1.0
    else:
        x1 = 3.0
        x0 = 0.2 if c_bar < 5.215 else 0.326 * c_bar - 1.5
    m = 3.0
    a = _TWOLN10 * (c_bar / _TWOLN10 - x0) / (x1 - x0) ** m
    return DensityEffect(c_bar=c_bar, x0=x0, x1=x1, a=a, m=m, delta0=0.0)


def _delta(p: DensityEffect, x: np.ndarray) -> np.ndarray:
    """Density-effect correction delta(x), x = log10(beta gamma)."""
    out = np.where(x >= p.x1, _TWOLN10 * x - p.c_bar, 0.0)
    mid = (x >= p.x0) & (x < p.x1)
    out = np.where(mid, _TWOLN10 * x - p.c_bar + p.a * np.abs(p.x1 - x) ** p.m, out)
    low = x < p.x0
    if p.delta0 > 0:
        out = np.where(low, p.delta0 * 10.0 ** (2.0 * (x - p.x0)), out)
    return np.maximum(out, 0.0)


def electrons_per_atom(material: Material) -> float:
    """Z_eff as Geant4's "electrons per atom" (n_e / n_atoms)."""
    atoms = atom_densities(material)
    return sum(Z * n for Z, n in atoms) / sum(n for _, n in atoms)


# ------------------------------------------------------------------------------------------------
# ionisation
# ------------------------------------------------------------------------------------------------
def _collision_raw(material: Material, t: np.ndarray, cut: float | None, positron: bool) -> np.ndarray:
    p = density_effect_parameters(material)
    n_e = material.electron_density * 1e-3  # per mm^3
    tau = t / ELECTRON_MASS
    gam = tau + 1.0
    gamma2 = gam * gam
    bg2 = tau * (tau + 2.0)
    beta2 = bg2 / gamma2
    eexc = material.I * 1e-6 / ELECTRON_MASS
    eexc2 = eexc * eexc
    tmax = t if positron else 0.5 * t
    d = (np.minimum(cut, tmax) if cut is not None else tmax) / ELECTRON_MASS
    if positron:
        d2 = 0.5 * d * d
        d3 = d2 * d / 1.5
        d4 = d3 * d * 0.75
        y = 1.0 / (1.0 + gam)
        dedx = np.log(2.0 * (tau + 2.0) / eexc2) + np.log(tau * d)
        dedx -= beta2 * (tau + 2.0 * d - y * (3.0 * d2 + y * (d - d3 + y * (d2 - tau * d3 + d4)))) / tau
    else:
        dedx = np.log(2.0 * (tau + 2.0) / eexc2) - 1.0 - beta2 + np.log((tau - d) * d) + tau / (tau - d)
        dedx += (0.5 * d * d + (2.0 * tau + 1.0) * np.log(1.0 - d / tau)) / gamma2
    x = np.log(bg2) / _TWOLN10
    dedx -= _delta(p, x)
    return np.maximum(dedx * TWO_PI_MC2_RCL2 * n_e / beta2, 0.0)


def collision_dedx(material: Material, t: np.ndarray | float, cut: float | None, positron: bool = False) -> np.ndarray:
    """Restricted (``cut`` in MeV) or total (``cut=None``) collision stopping power in MeV/mm.

    Berger–Seltzer formula of G4MollerBhabhaModel with the low-energy extrapolation below
    T_th = 0.25 sqrt(Z_eff) keV (PHYSICS.md §3.2).
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    th = 0.25e-3 * math.sqrt(electrons_per_atom(material))
    tt = np.maximum(t, th)
    dedx = _collision_raw(material, tt, cut, positron)
    x = t / th
    scale = np.where(x > 0.25, 1.0 / np.sqrt(np.maximum(x, 1e-30)), 1.4 * np.sqrt(x) / (0.1 + x))
    return np.where(t < th, dedx * scale, dedx)


def moller_bhabha_per_volume(material: Material, t: np.ndarray | float, cut: float, positron: bool) -> np.ndarray:
    """Macroscopic Møller (e-) or Bhabha (e+) cross section (1/mm) for delta rays above ``cut`` (MeV)."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    n_e = material.electron_density * 1e-3
    tmax = t if positron else 0.5 * t
    ok = cut < tmax
    tt = np.where(ok, t, 1.0)
    xmin = np.where(ok, cut / tt, 0.1)  # harmless placeholders where no delta ray is possible
    xmax = np.where(ok, tmax / tt, 0.2)
    tau = tt / ELECTRON_MASS
    gam = tau + 1.0
    gamma2 = gam * gam
    beta2 = tau * (tau + 2.0) / gamma2
    if positron:
        y = 1.0 / (1.0 + gam)
        y2 = y * y
        y12 = 1.0 - 2.0 * y
        b1 = 2.0 - y2
        b2 = y12 * (3.0 + y2)
        y122 = y12 * y12
        b4 = y122 * y12
        b3 = b4 + y122
        cross = (xmax - xmin) * (
            1.0 / (beta2 * xmin * xmax)
            + b2
            - 0.5 * b3 * (xmin + xmax)
            + b4 * (xmin * xmin + xmin * xmax + xmax * xmax) / 3.0
        ) - b1 * np.log(xmax / xmin)
    else:
        gg = (2.0 * gam - 1.0) / gamma2
        cross = (
            (xmax - xmin) * (1.0 - gg + 1.0 / (xmin * xmax) + 1.0 / ((1.0 - xmin) * (1.0 - xmax)))
            - gg * np.log(xmax * (1.0 - xmin) / (xmin * (1.0 - xmax)))
        ) / beta2
    cross *= TWO_PI_MC2_RCL2 / tt
    return np.where(ok, np.maximum(cross, 0.0) * n_e, 0.0)


# ------------------------------------------------------------------------------------------------
# bremsstrahlung
# ------------------------------------------------------------------------------------------------
_LRAD_LIGHT = {1: (5.3104, 5.9173), 2: (4.7935, 5.6125), 3: (4.7402, 5.5377), 4: (4.7112, 5.4728)}


def coulomb_correction(Z: int) -> float:
    """Davies–Bethe–Maximon f_c(Z) (PHYSICS.md §2.1)."""
    a2 = (ALPHA * Z) ** 2
    return a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2 * a2 - 0.002 * a2 * a2 * a2)


@dataclass(frozen=True)
class BremElement:
    """Per-element constants of the bremsstrahlung DCS (G4eBremsstrahlungRelModel's ElementData)."""

    Z: int
    log_z: float
    fz: float  # ln Z / 3 + f_c
    z_factor1: float  # (L_el − f_c) + L_inel / Z
    z_factor2: float  # (1 + 1/Z) / 12
    gamma_factor: float  # 100 m_e Z^(-1/3)
    epsilon_factor: float  # 100 m_e Z^(-2/3)
    var_s1: float  # Z^(2/3) / 184.15^2
    il_var_s1: float  # 1 / ln(s1)
    il_var_s1_cond: float  # 1 / ln(sqrt2 s1)
    complete_screening: bool


def brems_element(element: Element) -> BremElement:
    Z = element.Z
    fc = coulomb_correction(Z)
    log_z = math.log(Z)
    if Z < 5:
        l_el, l_inel = _LRAD_LIGHT[Z]
    else:
        l_el = math.log(184.15) - log_z / 3.0
        l_inel = math.log(1194.0) - 2.0 * log_z / 3.0
    z13 = Z ** (-1.0 / 3.0)
    s1 = Z ** (2.0 / 3.0) / (184.15 * 184.15)
    return BremElement(
        Z=Z,
        log_z=log_z,
        fz=log_z / 3.0 + fc,
        z_factor1=(l_el - fc) + l_inel / Z,
        z_factor2=(1.0 + 1.0 / Z) / 12.0,
        gamma_factor=100.0 * ELECTRON_MASS * z13,
        epsilon_factor=100.0 * ELECTRON_MASS * z13 * z13,
        var_s1=s1,
        il_var_s1=1.0 / math.log(s1),
        il_var_s1_cond=1.0 / math.log(math.sqrt(2.0) * s1),
        complete_screening=Z < 5,
    )


def plasma_energy_factor(material: Material) -> float:
    """k_p^2 / E^2 = 4 pi r_e lambda_e^2 n_e (dielectric suppression, PHYSICS.md §3.1)."""
    n_e = material.electron_density * 1e-3
    return 4.0 * math.pi * CLASSIC_ELECTRON_RADIUS * REDUCED_COMPTON_WAVELENGTH**2 * n_e


def lpm_energy(material: Material) -> float:
    """E_LPM = alpha (m_e c^2)^2 X0 / (4 pi hbar c) in MeV (PHYSICS.md §3.1)."""
    from caloforge.detsim.constants import HBARC

    x0_mm = radiation_length(material) / material.density * 10.0
    return ALPHA * ELECTRON_MASS**2 * x0_mm / (4.0 * math.pi * HBARC)


def _screening(gam: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tsai's screening functions phi1, phi1−phi2, psi1, psi1−psi2 (PHYSICS.md §3.1)."""
    gam2 = gam * gam
    phi1 = 16.863 - 2.0 * np.log(1.0 + 0.311877 * gam2) + 2.4 * np.exp(-0.9 * gam) + 1.6 * np.exp(-1.5 * gam)
    phi1m2 = 2.0 / (3.0 * (1.0 + 6.5 * gam + 6.0 * gam2))
    eps2 = eps * eps
    psi1 = 24.34 - 2.0 * np.log(1.0 + 13.111641 * eps2) + 2.8 * np.exp(-8.0 * eps) + 1.2 * np.exp(-29.2 * eps)
    psi1m2 = 2.0 / (3.0 * (1.0 + 40.0 * eps + 400.0 * eps2))
    return phi1, phi1m2, psi1, psi1m2


def _lpm_gphi(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Migdal's G(s), phi(s) in Stanev et al.'s approximation (PHYSICS.md §3.1)."""
    s_true = np.asarray(s, dtype=np.float64)
    s = np.minimum(s_true, 2.5)  # the asymptotic forms below take over above s = 2
    phi = 1.0 - np.exp(-6.0 * s * (1.0 + (3.0 - math.pi) * s) + s**3 / (0.623 + 0.796 * s + 0.658 * s * s))
    psi = 1.0 - np.exp(-4.0 * s - 8.0 * s * s / (1.0 + 3.96 * s + 4.97 * s * s - 0.05 * s**3 + 7.5 * s**4))
    g = 3.0 * psi - 2.0 * phi
    big = s_true > 2.0
    s4 = np.where(big, s_true, 1.0) ** 4
    g = np.where(big, 1.0 - 0.0230655 / s4, g)
    phi = np.where(big, 1.0 - 0.01190476 / s4, phi)
    return np.clip(g, 0.0, 1.0), np.clip(phi, 0.0, 1.0)


def brems_dcs_bracket(
    el: BremElement, e_total: float, k: np.ndarray, *, e_lpm: float = 0.0, kp2: float = 0.0, lpm: bool = False
) -> np.ndarray:
    """The bracket f(k) of dsigma/dk = (16/3) alpha r_e^2 Z^2 f(k)/k (without the dielectric factor).

    Args:
        el: element constants.
        e_total: total energy of the e± (MeV).
        k: photon energies (MeV).
        e_lpm: LPM energy of the material (MeV), used when ``lpm``.
        kp2: k_p^2 in MeV^2 (dielectric suppression, enters the LPM variable s).
        lpm: use the LPM form (Geant4 does above sqrt(k_p^2/E^2) E_LPM).
    """
    k = np.asarray(k, dtype=np.float64)
    y = k / e_total
    onemy = 1.0 - y
    dum0 = 0.25 * y * y
    if lpm:
        s_prime = np.sqrt(0.125 * y * e_lpm / (onemy * e_total))
        s1 = el.var_s1
        cond = math.sqrt(2.0) * s1
        h = np.log(np.maximum(s_prime, 1e-300)) * el.il_var_s1_cond
        xi_p = np.where(
            s_prime > 1.0,
            1.0,
            np.where(s_prime > cond, 1.0 + h - 0.08 * (1.0 - h) * h * (2.0 - h) * el.il_var_s1_cond, 2.0),
        )
        s = s_prime / np.sqrt(xi_p)
        s_hat = s * (1.0 + kp2 / (k * k))
        xi = np.where(
            s_hat > 1.0, 1.0, np.where(s_hat > s1, 1.0 + np.log(np.maximum(s_hat, 1e-300)) * el.il_var_s1, 2.0)
        )
        g, phi = _lpm_gphi(s_hat)
        xi = np.where((xi * phi > 1.0) | (s_hat > 0.57), 1.0 / np.maximum(phi, 1e-300), xi)
        term1 = xi * (dum0 * g + (onemy + 2.0 * dum0) * phi)
        return np.maximum(term1 * el.z_factor1 + onemy * el.z_factor2, 0.0)
    if el.complete_screening:
        return np.maximum((onemy + 3.0 * dum0) * el.z_factor1 + onemy * el.z_factor2, 0.0)
    dum1 = y / (e_total - k)
    gam = dum1 * el.gamma_factor
    eps = dum1 * el.epsilon_factor
    phi1, phi1m2, psi1, psi1m2 = _screening(gam, eps)
    inv_z = 1.0 / el.Z
    out = (onemy + 3.0 * dum0) * ((0.25 * phi1 - el.fz) + (0.25 * psi1 - 2.0 * el.log_z / 3.0) * inv_z)
    out += 0.125 * onemy * (phi1m2 + psi1m2 * inv_z)
    return np.maximum(out, 0.0)


# 8-point Gauss–Legendre nodes and weights on [0, 1]
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_GL_X = 0.5 * (_GL_X + 1.0)
_GL_W = 0.5 * _GL_W


def brems_loss_and_xs(material: Material, t: np.ndarray, k_cut: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Restricted radiative stopping power and bremsstrahlung cross sections above ``k_cut``.

    Args:
        material: the medium.
        t: kinetic energies of the e± (MeV), ``(n,)``.
        k_cut: photon production threshold (MeV).

    Returns:
        ``(dedx, sigma, sigma_el)``: dE/dx from photons below the cut (MeV/mm) ``(n,)``, the macroscopic
        cross section above it (1/mm) ``(n,)``, and per element ``(n_elements, n)`` (1/mm).
    """
    t = np.asarray(t, dtype=np.float64)
    atoms = atom_densities(material)
    elements = [brems_element(el) for el, _ in material.elements()]
    kp2_factor = plasma_energy_factor(material)
    e_lpm = lpm_energy(material)
    lpm_threshold = math.sqrt(kp2_factor) * e_lpm
    re2 = CLASSIC_ELECTRON_RADIUS**2
    dedx = np.zeros_like(t)
    sig_el = np.zeros((len(elements), t.size))
    for i, ti in enumerate(t):
        e_tot = ti + ELECTRON_MASS
        kp2 = kp2_factor * e_tot * e_tot
        lpm = e_tot > lpm_threshold
        kmax_loss = min(k_cut, ti)
        for j, (el, (_, n_at)) in enumerate(zip(elements, atoms, strict=True)):
            c = 16.0 / 3.0 * ALPHA * re2 * el.Z * el.Z * n_at
            if kmax_loss > 0:
                # loss: integral of k dsigma/dk over (0, min(k_cut, T)), in sub-intervals of k
                n_sub = 8
                edges = np.linspace(0.0, kmax_loss, n_sub + 1)
                kk = (edges[:-1, None] + np.diff(edges)[:, None] * _GL_X[None, :]).ravel()
                ww = (np.diff(edges)[:, None] * _GL_W[None, :]).ravel()
                f = brems_dcs_bracket(el, e_tot, kk, e_lpm=e_lpm, kp2=kp2, lpm=lpm)
                dedx[i] += c * float(np.sum(ww * f * kk * kk / (kk * kk + kp2)))
            if ti > k_cut:
                # cross section: integral of dsigma/dk over (k_cut, T) in ln k (Geant4: ~4 + 0.45 ln(T/k_c) sub-intervals)
                a_max = math.log(ti / k_cut)
                n_sub = max(4, int(4 + 0.9 * a_max))
                edges = np.linspace(0.0, a_max, n_sub + 1)
                aa = (edges[:-1, None] + np.diff(edges)[:, None] * _GL_X[None, :]).ravel()
                ww = (np.diff(edges)[:, None] * _GL_W[None, :]).ravel()
                kk = k_cut * np.exp(aa)
                f = brems_dcs_bracket(el, e_tot, kk, e_lpm=e_lpm, kp2=kp2, lpm=lpm)
                sig_el[j, i] = c * float(np.sum(ww * f * kk * kk / (kk * kk + kp2)))
    return dedx, sig_el.sum(axis=0), sig_el


# ------------------------------------------------------------------------------------------------
# annihilation
# ------------------------------------------------------------------------------------------------
def annihilation_per_volume(material: Material, t: np.ndarray | float) -> np.ndarray:
    """Heitler's e+e- -> 2 gamma cross section per volume (1/mm) at positron kinetic energies ``t`` (MeV)."""
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    n_e = material.electron_density * 1e-3
    gam = np.maximum(t / ELECTRON_MASS + 1.0, 1.0 + 1e-9)
    g2 = gam * gam
    sq = np.sqrt(g2 - 1.0)
    sigma = math.pi * CLASSIC_ELECTRON_RADIUS**2 * ((g2 + 4.0 * gam + 1.0) * np.log(gam + sq) - (gam + 3.0) * sq)
    sigma /= (g2 - 1.0) * (gam + 1.0)
    return sigma * n_e


# ------------------------------------------------------------------------------------------------
# derived material constants (validation V1)
# ------------------------------------------------------------------------------------------------
def critical_energy(material: Material, positron: bool = False) -> float:
    """Rossi critical energy (MeV): the energy at which the collision loss per radiation length equals E.

    Uses the total (unrestricted) Berger–Seltzer collision stopping power (PHYSICS.md §6.1).
    """
    x0_mm = radiation_length(material) / material.density * 10.0
    lo, hi = 0.5, 500.0
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        if float(collision_dedx(material, mid, None, positron)[0]) * x0_mm > mid:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def moliere_radius(material: Material) -> float:
    """Molière radius R_M = X0 E_s / E_c in mm (E_c of electrons; mixtures per PHYSICS.md §6.2)."""
    x0_mm = radiation_length(material) / material.density * 10.0
    return x0_mm * SCALE_ENERGY / critical_energy(material)


def n_atoms_per_volume(material: Material) -> float:
    """Atoms per mm^3."""
    return sum(material.density * w * AVOGADRO / el.A * 1e-3 for el, w in material.elements())
