"""The numba transport kernel: one shower, particle by particle, through a stack of slabs.

Everything compiled lives in this one module on purpose: numba's on-disk cache (``cache=True``) invalidates a
function only when its own source file changes, so kernels split over several files could silently run stale
callees after an edit.

Physics (PHYSICS.md §1–§3, docs/physics.md):

* photons: photo-electric absorption (Sandia), Compton (Klein–Nishina, Butcher–Messel sampling), pair
  production (Bethe–Heitler with screening and Coulomb correction, modified-Tsai angles); tracked to
  ``photon_cut`` then absorbed locally;
* e±: condensed history with the Geant4 step function (dRoverRange, finalRange), continuous restricted loss
  from the range table with Urban fluctuations, discrete Møller/Bhabha delta rays and bremsstrahlung above
  the production thresholds, Urban multiple scattering (UseSafety step limit, true↔geometric path
  conversion, lateral displacement), positron annihilation in flight and at rest; stopped below
  ``tracking_cut`` (energy deposited locally);
* hadrons (π±, p, n): restricted Bethe–Bloch loss with fluctuations and delta rays, Highland multiple
  scattering, inelastic nuclear interactions with a simplified mechanistic final state (leading particle,
  produced pions, intranuclear cascade, evaporation, binding-energy losses; π0 → γγ at once), π+ decay and
  π− capture at rest, elastic scattering of slow neutrons (caloforge.detsim.hadron, PHYSICS.md §4–§5);
* steps never cross a slab boundary; particles leaving the stack escape.

Random numbers: xoshiro256** (Blackman & Vigna 2018) with an explicit ``uint64[4]`` state per shower, seeded by
the caller from ``numpy.random.SeedSequence`` — no global RNG state.

Units: MeV, mm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numba import njit

from caloforge.detsim.tables import (
    DEDX,
    E_COMPLETE,
    E_EPSF,
    E_FC,
    E_FZ,
    E_GAMMAF,
    E_ILS1,
    E_ILS1C,
    E_LOGZ,
    E_NEDGES,
    E_S1,
    E_Z,
    E_Z13,
    E_ZF1,
    E_ZF2,
    LAMBDA1,
    P_C1,
    P_C2,
    P_C3,
    P_C4,
    P_CUT_EM,
    P_CUT_EP,
    P_CUT_GAMMA,
    P_E1,
    P_E2,
    P_ELPM,
    P_F1,
    P_F2,
    P_I,
    P_KP2,
    P_LOG_I,
    P_LOGE1,
    P_LOGE2,
    P_LPM_THRESHOLD,
    P_NE,
    P_NEL,
    P_NSANDIA,
    P_TH1,
    P_TH2,
    P_X0,
    RANGE,
    SIG_ANN,
    SIG_BREM,
    SIG_COMPTON,
    SIG_ION,
    SIG_PAIR,
)

__all__ = [
    "CFG_SIZE",
    "ELECTRON",
    "GAMMA",
    "NEUTRON",
    "PI_MINUS",
    "PI_PLUS",
    "POSITRON",
    "PROTON",
    "STATS_SIZE",
    "run_showers",
    "simulate_shower",
]

_F = TypeVar("_F", bound=Callable[..., Any])
# cache=True: compiled code is reused across processes; _nrt=False: no reference counting (see simulate_shower)
_JIT_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False}


def kernel(fn: _F) -> _F:
    """``numba.njit`` with the options of every function of this module."""
    return njit(**_JIT_OPTIONS)(fn)


# particle type codes of the stack
GAMMA = 0
ELECTRON = 1
POSITRON = 2
PI_PLUS = 3
PI_MINUS = 4
PROTON = 5
NEUTRON = 6
PI_ZERO = 7  # exists only inside a hadronic final state: it decays to two photons at once

# PDG 2024 masses (MeV), as caloforge.detsim.hadron
M_PI = 139.57039
M_PI0 = 134.9768
M_P = 938.27208816
M_N = 939.56542052
M_MU = 105.6583755
# atomic mass unit over the neutron mass: nuclear mass number -> mass in neutron masses (slow-neutron kinematics)
U_OVER_MN = 931.49410242 / M_N
HBARC_FM = 197.3269804  # MeV fm
MB = 1e-25  # mm^2
FM2 = 1e-24  # mm^2
BARN = 1e-22  # mm^2
LN_08 = -0.2231435513142097  # ln(0.8)
INV_SQRT12 = 0.28867513459481287

# hadronic parameters (caloforge.detsim.hadron.HadronPhysics, in field order; HadronTables.par)
(
    H_TRACKING_CUT,
    H_FINAL_RANGE,
    H_DR_OVER_RANGE,
    H_NEUTRON_CUT,
    H_NEUTRON_STOP,
    H_NEUTRON_MAX_COLLISIONS,
    H_NUCLEAR_RADIUS,
    H_INELASTICITY_MIN,
    H_INELASTICITY_MAX,
    H_PION_CHARGE_EXCHANGE,
    H_NUCLEON_CHARGE_EXCHANGE,
    H_MEAN_PT,
    H_SIGMA_PION_NUCLEON,
    H_SIGMA_NUCLEON_NUCLEON,
    H_NCH_A0,
    H_NCH_A1,
    H_NCH_A2,
    H_PIONS_PER_CHARGED,
    H_LEADING_CHARGED,
    H_FEYNMAN_X_POWER,
    H_CASCADE_NUCLEONS,
    H_CASCADE_ENERGY,
    H_EXCITATION,
    H_EXCITATION_POWER,
    H_LEVEL_DENSITY,
    H_COULOMB_RADIUS,
) = range(26)
N_HPAR = 26
# HadronTables.nuc columns and cross-section classes (caloforge.detsim.hadron)
NUC_A, NUC_Z, NUC_DENSITY, NUC_BINDING, NUC_BARRIER, NUC_RADIUS, NUC_A13, NUC_A23 = range(8)
PION_CLASS = 0
NUCLEON_CLASS = 1

# configuration vector (see caloforge.detsim.config.PhysicsConfig.to_array)
(
    C_TRACKING_CUT,
    C_PHOTON_CUT,
    C_FINAL_RANGE,
    C_DR_OVER_RANGE,
    C_FACRANGE,
    C_FACSAFETY,
    C_LIN_LOSS,
    C_FLUCT,
    C_MSC,
    C_DISPLACEMENT,
    C_LPM,
    C_MAX_STACK,
) = range(12)
CFG_SIZE = 12

# per-shower statistics
(
    S_EDEP,
    S_EDEP_SENSITIVE,
    S_ESCAPED,
    S_UNSCORED,
    S_TRACK_CHARGED,
    S_STEPS_CHARGED,
    S_STEPS_PHOTON,
    S_N_ELECTRONS,
    S_N_POSITRONS,
    S_N_PHOTONS,
    S_MAX_STACK,
    S_OVERFLOWED_HITS,
    S_BINDING,
    S_NEUTRON_UNDETECTED,
    S_NEUTRINO,
    S_EM_PI0,
    S_REST,
    S_N_HADRONS,
    S_N_INELASTIC,
    S_FIRST_INTERACTION,
) = range(20)
STATS_SIZE = 20
# Energy balance of every shower: S_EDEP + S_ESCAPED + S_BINDING + S_NEUTRON_UNDETECTED + S_NEUTRINO
# = E0 + S_REST (+ 2 m_e for a positron primary). S_REST is the net rest energy released: + m_pi when a
# charged pion is absorbed or decays, − m_pi when one is made, + m_e for the atomic electron a muon-decay
# positron annihilates with. S_EM_PI0 sums the total energy of the pi0s (the EM fraction f_em = S_EM_PI0/E0);
# S_FIRST_INTERACTION is the depth z (mm) of the first inelastic interaction when S_N_INELASTIC > 0.

MASS = 0.51099895
TWO_MASS = 2.0 * MASS
TWO_PI = 2.0 * math.pi
TWO_PI_MC2_RCL2 = 2.0 * math.pi * 2.8179403262e-12**2 * MASS
TLIMITMINFIX = 1e-8  # mm (0.01 nm)
TLIMITMINFIX2 = 1e-6  # mm (1 nm)
TAUSMALL = 1e-16
TAUBIG = 8.0
TAULIM = 1e-6
DTRL = 0.05
GEOM_MIN = 5e-8  # mm (0.05 nm)


# ================================================================================================
# random numbers: xoshiro256**
# ================================================================================================
@kernel
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@kernel
def rand(s):
    """Uniform double in [0, 1) from the xoshiro256** state ``s`` (uint64[4], updated in place)."""
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return float(result >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def rand_open(s):
    """Uniform double in (0, 1]."""
    return 1.0 - rand(s)


@kernel
def gauss(s):
    """Standard normal deviate (Marsaglia polar method)."""
    while True:
        u = 2.0 * rand(s) - 1.0
        v = 2.0 * rand(s) - 1.0
        q = u * u + v * v
        if 0.0 < q < 1.0:
            return u * math.sqrt(-2.0 * math.log(q) / q)


@kernel
def poisson(mean, s):
    """Poisson deviate; Gaussian approximation above a mean of 16 (as G4Poisson)."""
    if mean <= 16.0:
        p = math.exp(-mean)
        cum = p
        r = rand(s)
        n = 0
        while r > cum and n < 200:
            n += 1
            p *= mean / n
            cum += p
        return n
    v = mean + math.sqrt(mean) * gauss(s) + 0.5
    return int(v) if v > 0.0 else 0


@kernel
def rotate_uz(ux, uy, uz, dx, dy, dz):
    """Rotate the vector ``(dx, dy, dz)`` given in the frame whose z axis is the unit vector ``u`` (CLHEP rotateUz)."""
    up = ux * ux + uy * uy
    if up > 0.0:
        up = math.sqrt(up)
        nx = (ux * uz * dx - uy * dy) / up + ux * dz
        ny = (uy * uz * dx + ux * dy) / up + uy * dz
        nz = -up * dx + uz * dz
        return nx, ny, nz
    if uz > 0.0:
        return dx, dy, dz
    return -dx, dy, -dz


@kernel
def _normalise(x, y, z):
    n = math.sqrt(x * x + y * y + z * z)
    if n > 0.0:
        return x / n, y / n, z / n
    return 0.0, 0.0, 1.0


# ================================================================================================
# table look-ups
# ================================================================================================
@kernel
def ebin(grid, e):
    """Bin index and fraction of energy ``e`` on the log grid ``grid = (ln E_min, 1/d ln E, n)``."""
    return ebin_log(grid, math.log(e))


@kernel
def ebin_log(grid, log_e):
    """:func:`ebin` from ln E."""
    x = (log_e - grid[0]) * grid[1]
    n = int(grid[2])
    if x <= 0.0:
        return 0, 0.0
    i = int(x)
    if i >= n - 1:
        return n - 2, 1.0
    return i, x - i


@kernel
def lin(row, i, f):
    return row[i] + f * (row[i + 1] - row[i])


@kernel
def eloss_at(tab, m, q, k, e):
    i, f = ebin(tab.grid, e)
    return lin(tab.eloss[m, q, k], i, f)


@kernel
def energy_from_range(tab, m, q, r):
    """Kinetic energy (MeV) of an e± whose range is ``r`` (mm): inverse of the range table by bisection."""
    return energy_from_range_row(tab.eloss[m, q, RANGE], tab.grid, r)


@kernel
def energy_from_range_row(row, grid, r):
    """Kinetic energy (MeV) whose range is ``r`` (mm) in the range table ``row`` on the log grid ``grid``."""
    n = row.shape[0]
    if r <= row[0]:
        e0 = math.exp(grid[0])
        return e0 * (r / row[0]) ** 2 if r > 0.0 else 0.0
    lo = 0
    hi = n - 1
    if r >= row[hi]:
        return math.exp(grid[0] + (n - 1) / grid[1])
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if row[mid] <= r:
            lo = mid
        else:
            hi = mid
    f = (r - row[lo]) / (row[hi] - row[lo])
    return math.exp(grid[0] + (lo + f) / grid[1])


@kernel
def mu_photo(tab, m, e):
    """Photo-electric macroscopic cross section (1/mm) from the merged Sandia intervals."""
    n = int(tab.mat_par[m, P_NSANDIA])
    edges = tab.sandia_e[m]
    lo = 0
    hi = n
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if edges[mid] <= e:
            lo = mid
        else:
            hi = mid
    c = tab.sandia_c[m, lo]
    inv = 1.0 / e
    mu = inv * (c[0] + inv * (c[1] + inv * (c[2] + inv * c[3])))
    return mu if mu > 0.0 else 0.0


@kernel
def pick_element(cdf, m, nel, i, f, s):
    if nel <= 1:
        return 0
    r = rand(s)
    for j in range(nel - 1):
        c = cdf[m, j, i] + f * (cdf[m, j, i + 1] - cdf[m, j, i])
        if r < c:
            return j
    return nel - 1


# ================================================================================================
# photon interactions
# ================================================================================================
@kernel
def sample_compton(e, s):
    """Butcher–Messel sampling of the Klein–Nishina scattered-photon fraction; returns (eps, cos theta)."""
    k = e / MASS
    eps0 = 1.0 / (1.0 + 2.0 * k)
    eps0sq = eps0 * eps0
    a1 = -math.log(eps0)
    a2 = a1 + 0.5 * (1.0 - eps0sq)
    while True:
        if a1 > a2 * rand(s):
            eps = math.exp(-a1 * rand(s))
            epssq = eps * eps
        else:
            epssq = eps0sq + (1.0 - eps0sq) * rand(s)
            eps = math.sqrt(epssq)
        onecost = (1.0 - eps) / (eps * k)
        sint2 = onecost * (2.0 - onecost)
        g = 1.0 - eps * sint2 / (1.0 + epssq)
        if g >= rand(s):
            return eps, 1.0 - onecost


@kernel
def modified_tsai_cos(t, s):
    """Polar angle cosine of a bremsstrahlung photon or pair lepton (G4ModifiedTsai, PHYSICS.md §2.1)."""
    umax = 2.0 * (1.0 + t / MASS)
    while True:
        a = 1.6 if rand(s) < 0.25 else 1.6 / 3.0
        u = -math.log(rand_open(s) * rand_open(s)) * a
        if u <= umax:
            break
    return 1.0 - 2.0 * u * u / (umax * umax)


@kernel
def _pair_f(delta):
    if delta > 1.4:
        v = 42.038 - 8.29 * math.log(delta + 0.958)
        return v, v
    return 42.184 - delta * (7.444 - 1.623 * delta), 41.326 - delta * (5.848 - 0.902 * delta)


@kernel
def sample_pair_eps(e, z13, logz, fc, s):
    """Energy fraction of one lepton in pair production (Bethe–Heitler, Geant4 sampling; PHYSICS.md §2.1)."""
    eps0 = MASS / e
    if e < 2.0:
        return eps0 + (0.5 - eps0) * rand(s)
    fz = 8.0 * logz / 3.0
    if e > 50.0:
        fz += 8.0 * fc
    delta_factor = 136.0 / z13
    delta_min = 4.0 * delta_factor * eps0
    delta_max = math.exp((42.038 - fz) / 8.29) - 0.958
    eps1 = 0.5 - 0.5 * math.sqrt(max(1.0 - delta_min / delta_max, 0.0))
    eps_min = max(eps0, eps1)
    eps_range = 0.5 - eps_min
    f10, f20 = _pair_f(delta_min)
    f10 -= fz
    f20 -= fz
    n1 = max(f10 * eps_range * eps_range, 0.0)
    n2 = max(1.5 * f20, 0.0)
    ntot = n1 + n2
    if ntot <= 0.0:
        return eps0 + (0.5 - eps0) * rand(s)
    for _ in range(10000):
        if n1 > ntot * rand(s):
            eps = 0.5 - eps_range * rand(s) ** (1.0 / 3.0)
            delta = delta_factor * eps0 / (eps * (1.0 - eps))
            g = (_pair_f(delta)[0] - fz) / f10
        else:
            eps = eps_min + eps_range * rand(s)
            delta = delta_factor * eps0 / (eps * (1.0 - eps))
            g = (_pair_f(delta)[1] - fz) / f20
        if g >= rand(s):
            return eps
    return eps_min


@kernel
def sauter_gavrila_cos(t, s):
    """Polar angle cosine of a photo-electron of kinetic energy ``t`` (Sauter–Gavrila, as Geant4)."""
    tau = t / MASS
    if tau > 50.0:
        return 1.0
    gamma = tau + 1.0
    beta = math.sqrt(tau * (tau + 2.0)) / gamma
    a = (1.0 - beta) / beta
    ap2 = a + 2.0
    b = 0.5 * beta * gamma * (gamma - 1.0) * (gamma - 2.0)
    grej = 2.0 * (1.0 + a * b) / a
    for _ in range(1000):
        q = rand(s)
        z = 2.0 * a * (2.0 * q + ap2 * math.sqrt(q)) / (ap2 * ap2 - 4.0 * q)
        g = (2.0 - z) * (1.0 / (a + z) + b)
        if g >= rand(s) * grej:
            return 1.0 - z
    return 1.0


# ================================================================================================
# e± interactions
# ================================================================================================
@kernel
def _brems_f(ep, e_total, k, e_lpm, kp2, lpm):
    """Bracket of the bremsstrahlung DCS (see caloforge.detsim.electron.brems_dcs_bracket)."""
    y = k / e_total
    onemy = 1.0 - y
    dum0 = 0.25 * y * y
    if lpm:
        s1 = ep[E_S1]
        s_prime = math.sqrt(0.125 * y * e_lpm / (onemy * e_total))
        cond = math.sqrt(2.0) * s1
        xi_p = 2.0
        if s_prime > 1.0:
            xi_p = 1.0
        elif s_prime > cond:
            h = math.log(s_prime) * ep[E_ILS1C]
            xi_p = 1.0 + h - 0.08 * (1.0 - h) * h * (2.0 - h) * ep[E_ILS1C]
        sv = s_prime / math.sqrt(xi_p)
        s_hat = sv * (1.0 + kp2 / (k * k))
        xi = 2.0
        if s_hat > 1.0:
            xi = 1.0
        elif s_hat > s1:
            xi = 1.0 + math.log(s_hat) * ep[E_ILS1]
        if s_hat > 2.0:
            s4 = s_hat**4
            g = 1.0 - 0.0230655 / s4
            phi = 1.0 - 0.01190476 / s4
        else:
            sh = s_hat
            phi = 1.0 - math.exp(
                -6.0 * sh * (1.0 + (3.0 - math.pi) * sh) + sh**3 / (0.623 + 0.796 * sh + 0.658 * sh * sh)
            )
            psi = 1.0 - math.exp(
                -4.0 * sh - 8.0 * sh * sh / (1.0 + 3.96 * sh + 4.97 * sh * sh - 0.05 * sh**3 + 7.5 * sh**4)
            )
            g = 3.0 * psi - 2.0 * phi
        g = min(max(g, 0.0), 1.0)
        phi = min(max(phi, 1e-300), 1.0)
        if xi * phi > 1.0 or s_hat > 0.57:
            xi = 1.0 / phi
        term1 = xi * (dum0 * g + (onemy + 2.0 * dum0) * phi)
        return max(term1 * ep[E_ZF1] + onemy * ep[E_ZF2], 0.0)
    if ep[E_COMPLETE] > 0.5:
        return max((onemy + 3.0 * dum0) * ep[E_ZF1] + onemy * ep[E_ZF2], 0.0)
    dum1 = y / (e_total - k)
    gam = dum1 * ep[E_GAMMAF]
    eps = dum1 * ep[E_EPSF]
    gam2 = gam * gam
    phi1 = 16.863 - 2.0 * math.log(1.0 + 0.311877 * gam2) + 2.4 * math.exp(-0.9 * gam) + 1.6 * math.exp(-1.5 * gam)
    phi1m2 = 2.0 / (3.0 * (1.0 + 6.5 * gam + 6.0 * gam2))
    eps2 = eps * eps
    psi1 = 24.34 - 2.0 * math.log(1.0 + 13.111641 * eps2) + 2.8 * math.exp(-8.0 * eps) + 1.2 * math.exp(-29.2 * eps)
    psi1m2 = 2.0 / (3.0 * (1.0 + 40.0 * eps + 400.0 * eps2))
    inv_z = 1.0 / ep[E_Z]
    val = (onemy + 3.0 * dum0) * ((0.25 * phi1 - ep[E_FZ]) + (0.25 * psi1 - 2.0 * ep[E_LOGZ] / 3.0) * inv_z)
    val += 0.125 * onemy * (phi1m2 + psi1m2 * inv_z)
    return max(val, 0.0)


@kernel
def sample_brems_k(ep, t, k_cut, mp, use_lpm, s):
    """Photon energy of a bremsstrahlung emission above ``k_cut`` (G4eBremsstrahlungRelModel sampling)."""
    e_total = t + MASS
    kp2 = mp[P_KP2] * e_total * e_total
    lpm = use_lpm and e_total > mp[P_LPM_THRESHOLD]
    xmin = math.log(k_cut * k_cut + kp2)
    xrange = math.log(t * t + kp2) - xmin
    fmax = ep[E_ZF1] + ep[E_ZF2]
    for _ in range(100000):
        k = math.sqrt(max(math.exp(xmin + rand(s) * xrange) - kp2, 0.0))
        f = _brems_f(ep, e_total, k, mp[P_ELPM], kp2, lpm)
        if f >= fmax * rand(s):
            return k
    return k_cut


@kernel
def sample_moller_bhabha(t, cut, positron, s):
    """Kinetic energy of a delta ray (Møller e-e-, Bhabha e+e-; G4MollerBhabhaModel)."""
    tmax = t if positron else 0.5 * t
    xmin = cut / t
    xmax = tmax / t
    gam = t / MASS + 1.0
    gamma2 = gam * gam
    beta2 = 1.0 - 1.0 / gamma2
    if not positron:
        gg = (2.0 * gam - 1.0) / gamma2
        y = 1.0 - xmax
        grej = 1.0 - gg * xmax + xmax * xmax * (1.0 - gg + (1.0 - gg * y) / (y * y))
        for _ in range(100000):
            r0 = rand(s)
            x = xmin * xmax / (xmin * (1.0 - r0) + xmax * r0)
            y = 1.0 - x
            z = 1.0 - gg * x + x * x * (1.0 - gg + (1.0 - gg * y) / (y * y))
            if grej * rand(s) <= z:
                return x * t
        return xmin * t
    yy = 1.0 / (1.0 + gam)
    y2 = yy * yy
    y12 = 1.0 - 2.0 * yy
    b1 = 2.0 - y2
    b2 = y12 * (3.0 + y2)
    y122 = y12 * y12
    b4 = y122 * y12
    b3 = b4 + y122
    xm2 = xmax * xmax
    grej = 1.0 + (xm2 * xm2 * b4 - xmin * xmin * xmin * b3 + xm2 * b2 - xmin * b1) * beta2
    for _ in range(100000):
        r0 = rand(s)
        x = xmin * xmax / (xmin * (1.0 - r0) + xmax * r0)
        x2 = x * x
        z = 1.0 + (x2 * x2 * b4 - x * x2 * b3 + x2 * b2 - x * b1) * beta2
        if grej * rand(s) <= z:
            return x * t
    return xmin * t


# ================================================================================================
# energy-loss fluctuations (Urban model, PHYSICS.md §3.2)
# ================================================================================================
@kernel
def _gauss_trunc(mean, sig2, s):
    sig = math.sqrt(sig2)
    if mean < 0.25 * sig:
        return mean + (2.0 * rand(s) - 1.0) * mean
    for _ in range(1000):
        x = mean + sig * gauss(s)
        if 0.0 <= x <= 2.0 * mean:
            return x
    return mean


@kernel
def sample_fluctuation(mean_loss, tcut, t, mp, s):
    """Energy loss of a step with mean ``mean_loss`` for an e± of kinetic energy ``t`` (MeV).

    Urban/"Glandz" model with two excitation levels and ionisation (G4UrbanFluctuation; PHYSICS.md §3.2):
    e0 = 10 eV, rate 0.56, fw 4, a0 42, nmaxCont 8.
    """
    gam = t / MASS + 1.0
    gam2 = gam * gam
    return urban_fluctuation(mean_loss, tcut, gam2, 1.0 - 1.0 / gam2, mp, s)


@kernel
def urban_fluctuation(mean_loss, tcut, gam2, beta2, mp, s):
    """Urban fluctuation model for a singly charged particle of Lorentz factor² ``gam2`` and velocity² ``beta2``
    (the body of :func:`sample_fluctuation`, shared with the hadrons)."""
    e0 = 1.0e-5
    if mean_loss < 1.0e-5 or tcut <= e0:
        return mean_loss
    rate = 0.56
    fw = 4.0
    a0 = 42.0
    nmax = 8.0
    scaling = min(1.0 + 0.5e-3 / tcut, 1.5)
    meanl = mean_loss / scaling
    ipot = mp[P_I]
    log_i = mp[P_LOG_I]
    a1 = 0.0
    a2 = 0.0
    e1 = mp[P_E1]
    e2 = mp[P_E2]
    if tcut > ipot:
        w2 = math.log(2.0 * MASS * beta2 * gam2) - beta2
        if w2 > log_i:
            if w2 > mp[P_LOGE2]:
                c = meanl * (1.0 - rate) / (w2 - log_i)
                a1 = c * mp[P_F1] * (w2 - mp[P_LOGE1]) / e1
                a2 = c * mp[P_F2] * (w2 - mp[P_LOGE2]) / e2
            else:
                a1 = meanl * (1.0 - rate) / e1
        if a1 > 0.0:
            fwnow = 0.5 + (fw - 0.5) * math.sqrt(a1 / a0) if a1 < a0 else fw
            a1 /= fwnow
            e1 *= fwnow
    w1 = tcut / e0
    a3 = rate * meanl * (tcut - e0) / (e0 * tcut * math.log(w1))
    if a1 + a2 <= 0.0:
        a3 /= rate
    loss = 0.0
    emean = 0.0
    sig2e = 0.0
    for lev in range(2):
        ax = a1 if lev == 0 else a2
        ex = e1 if lev == 0 else e2
        if ax <= 0.0:
            continue
        if ax > nmax:
            emean += ax * ex
            sig2e += ax * ex * ex
        else:
            p = poisson(ax, s)
            if p > 0:
                loss += ((p + 1) - 2.0 * rand(s)) * ex
    if a3 > 0.0:
        p3 = a3
        alfa = 1.0
        if a3 > nmax:
            alfa = w1 * (nmax + a3) / (w1 * nmax + a3)
            alfa1 = alfa * math.log(alfa) / (alfa - 1.0)
            namean = a3 * w1 * (alfa - 1.0) / ((w1 - 1.0) * alfa)
            emean += namean * e0 * alfa1
            sig2e += e0 * e0 * namean * (alfa - alfa1 * alfa1)
            p3 = a3 - namean
        w3 = alfa * e0
        if tcut > w3:
            w = (tcut - w3) / tcut
            nnb = poisson(p3, s)
            for _ in range(nnb):
                loss += w3 / (1.0 - w * rand(s))
    if sig2e > 0.0:
        loss += _gauss_trunc(emean, sig2e, s)
    elif emean > 0.0:
        loss += emean
    return loss * scaling


# ================================================================================================
# multiple scattering (Urban, PHYSICS.md §3.4b)
# ================================================================================================
@kernel
def msc_cos_theta(t_step, t0, t1, lambda0, lambda1, mp, tlimitmin, s):
    """cos theta after a true path ``t_step`` (mm) with kinetic energy ``t0`` → ``t1`` (G4UrbanMscModel).

    Returns (cos theta, tau, lambda_eff) for the lateral displacement.
    """
    tau = t_step / lambda0
    if lambda1 > 0.0 and abs(lambda1 / lambda0 - 1.0) > 0.01:
        tau = t_step * math.log(lambda0 / lambda1) / (lambda0 - lambda1)
    lambdaeff = t_step / tau if tau > 0.0 else lambda0
    if tau >= TAUBIG:
        return -1.0 + 2.0 * rand(s), tau, lambdaeff
    if tau < TAUSMALL:
        return 1.0, tau, lambdaeff
    if tau < 0.01:
        xmeanth = 1.0 - tau * (1.0 - 0.5 * tau)
        x2meanth = 1.0 - tau * (5.0 - 6.25 * tau) / 3.0
    else:
        xmeanth = math.exp(-tau)
        x2meanth = (1.0 + 2.0 * math.exp(-2.5 * tau)) / 3.0
    relloss = 1.0 - t1 / t0
    if relloss > 0.5:
        return _simple_scattering(xmeanth, x2meanth, s), tau, lambdaeff
    x0 = mp[P_X0]
    extremesmall = False
    theta0 = 0.0
    tsmall = tlimitmin
    if t_step > tsmall:
        theta0 = _theta0(t_step, t0, t1, x0, mp)
    else:
        if rand(s) < t_step / tsmall:
            theta0 = _theta0(tsmall, t0, t1, x0, mp)
            extremesmall = True
    theta2 = theta0 * theta0
    if theta2 < TAUSMALL:
        return 1.0, tau, lambdaeff
    if theta0 > math.pi / 6.0:
        return _simple_scattering(xmeanth, x2meanth, s), tau, lambdaeff
    x = theta2 * (1.0 - theta2 / 12.0)
    if theta2 > 0.01:
        sth = 2.0 * math.sin(0.5 * theta0)
        x = sth * sth
    u = math.exp(math.log(tau) / 6.0)
    if extremesmall:
        u = math.exp(math.log(tsmall / lambda0) / 6.0)
    xx = math.log(lambdaeff / x0)
    xsi = mp[P_C1] + u * (mp[P_C2] + mp[P_C3] * u) + mp[P_C4] * xx
    if xsi < 1.9:
        xsi = 1.9
    c = xsi
    if abs(c - 3.0) < 0.001:
        c = 3.001
    elif abs(c - 2.0) < 0.001:
        c = 2.001
    c1 = c - 1.0
    ea = math.exp(-xsi)
    eaa = 1.0 - ea
    xmean1 = 1.0 - (1.0 - (1.0 + xsi) * ea) * x / eaa
    x0v = 1.0 - xsi * x
    if xmean1 <= 0.999 * xmeanth:
        return _simple_scattering(xmeanth, x2meanth, s), tau, lambdaeff
    b = 1.0 + (c - xsi) * x
    b1 = b + 1.0
    bx = c * x
    eb1 = math.exp(math.log(b1) * c1)
    ebx = math.exp(math.log(bx) * c1)
    d = ebx / eb1
    xmean2 = (x0v + d - (bx - b1 * d) / (c - 2.0)) / (1.0 - d)
    f1x0 = ea / eaa
    f2x0 = c1 / (c * (1.0 - d))
    prob = f2x0 / (f1x0 + f2x0)
    qprob = xmeanth / (prob * xmean1 + (1.0 - prob) * xmean2)
    if rand(s) < qprob:
        if rand(s) < prob:
            cth = 1.0 + math.log(ea + rand(s) * eaa) * x
        else:
            var = (1.0 - d) * rand(s)
            if var < 0.01 * d:
                var /= d * c1
                cth = -1.0 + var * (1.0 - 0.5 * var * c) * (2.0 + (c - xsi) * x)
            else:
                cth = 1.0 + x * (c - xsi - c * math.exp(-math.log(var + d) / c1))
    else:
        cth = -1.0 + 2.0 * rand(s)
    return cth, tau, lambdaeff


@kernel
def _theta0(t_step, t0, t1, x0, mp):
    invbetacp = math.sqrt((t0 + MASS) * (t1 + MASS) / (t0 * (t0 + 2.0 * MASS) * t1 * (t1 + 2.0 * MASS)))
    y = t_step / x0
    theta0 = 13.6 * math.sqrt(y) * invbetacp
    return theta0 * (mp[P_TH1] + mp[P_TH2] * math.log(y))


@kernel
def _simple_scattering(xmeanth, x2meanth, s):
    a = (2.0 * xmeanth + 9.0 * x2meanth - 3.0) / (2.0 * xmeanth - 3.0 * x2meanth + 1.0)
    prob = (a + 2.0) * xmeanth / a
    if rand(s) < prob:
        return -1.0 + 2.0 * math.exp(math.log(rand_open(s)) / (a + 1.0))
    return -1.0 + 2.0 * rand(s)


@kernel
def _lat_correlation(tau, lambdaeff):
    kappa = 2.5
    kappami1 = 1.5
    if tau < TAUSMALL:
        return 0.0
    if tau < TAULIM:
        return lambdaeff * kappa * tau * tau * (1.0 - (kappa + 1.0) * tau / 3.0) / 3.0
    etau = math.exp(-tau) if tau < TAUBIG else 0.0
    lc = math.exp(-kappa * tau) / kappami1
    lc += 1.0 - kappa * etau / kappami1
    return lc * 2.0 * lambdaeff / 3.0


# ================================================================================================
# geometry and scoring
# ================================================================================================
@kernel
def find_slab(det_z, z):
    """Slab index containing ``z`` (−1 in front, n_slabs behind)."""
    n = det_z.shape[0] - 1
    if z < det_z[0]:
        return -1
    if z >= det_z[n]:
        return n
    lo = 0
    hi = n
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if det_z[mid] <= z:
            lo = mid
        else:
            hi = mid
    return lo


@kernel
def distance_out(det, slab, x, y, z, ux, uy, uz):
    """Distance along the direction to the surface of the current slab, and which face: 1 back, −1 front,
    2 a side (the particle leaves the stack)."""
    d = 1e300
    face = 0
    if uz > 0.0:
        d = (det.slab_z[slab + 1] - z) / uz
        face = 1
    elif uz < 0.0:
        d = (det.slab_z[slab] - z) / uz
        face = -1
    hx = det.half[0]
    hy = det.half[1]
    if ux > 0.0:
        dx = (hx - x) / ux
        if dx < d:
            d = dx
            face = 2
    elif ux < 0.0:
        dx = (-hx - x) / ux
        if dx < d:
            d = dx
            face = 2
    if uy > 0.0:
        dy = (hy - y) / uy
        if dy < d:
            d = dy
            face = 2
    elif uy < 0.0:
        dy = (-hy - y) / uy
        if dy < d:
            d = dy
            face = 2
    return max(d, 0.0), face


# outcomes of fly_neutral
REACHED = 0  # the particle is at its interaction point
CROSSED = 1  # it crossed into the next slab before interacting
LEFT = 2  # it left the stack


@kernel
def fly_neutral(det, slab, x, y, z, ux, uy, uz, dist):
    """Move a neutral particle (no continuous loss) by ``dist`` along its direction, or up to the surface of
    its slab if that comes first: ``(x, y, z, slab, outcome)`` with outcome :data:`REACHED`, :data:`CROSSED`
    (now at the boundary, in the neighbouring slab) or :data:`LEFT` (out of the stack)."""
    d_out, face = distance_out(det, slab, x, y, z, ux, uy, uz)
    if dist >= d_out:
        x += d_out * ux
        y += d_out * uy
        if face == 2:
            return x, y, z, slab, LEFT
        if face == 1:
            z = det.slab_z[slab + 1]
            slab += 1
        else:
            z = det.slab_z[slab]
            slab -= 1
        if slab < 0 or slab >= det.slab_mat.shape[0]:
            return x, y, z, slab, LEFT
        return x, y, z, slab, CROSSED
    return x + dist * ux, y + dist * uy, z + dist * uz, slab, REACHED


@kernel
def safety(det, slab, x, y, z):
    """Isotropic distance to the nearest surface of the current slab."""
    sz = min(z - det.slab_z[slab], det.slab_z[slab + 1] - z)
    sx = det.half[0] - abs(x)
    sy = det.half[1] - abs(y)
    return max(min(sz, sx, sy), 0.0)


@kernel
def _layer_of(det, slab, z):
    lay = det.slab_layer[slab]
    if lay != -2:
        return lay
    nl = det.layer_z.shape[0]
    for i in range(nl):
        if det.layer_z[i, 0] <= z < det.layer_z[i, 1]:
            return i
    return -1


@kernel
def deposit(det, slab, e, x, y, z, vox, over, stats, hits, nhit):
    """Score ``e`` MeV deposited at (x, y, z) in ``slab``; returns the new hit count."""
    if e <= 0.0:
        return nhit
    stats[S_EDEP] += e
    if det.slab_sens[slab] == 0:
        return nhit
    stats[S_EDEP_SENSITIVE] += e
    if hits.shape[0] > 0:
        if nhit < hits.shape[0]:
            hits[nhit, 0] = x
            hits[nhit, 1] = y
            hits[nhit, 2] = z
            hits[nhit, 3] = e
        else:
            stats[S_OVERFLOWED_HITS] += 1.0
        nhit += 1
    lay = _layer_of(det, slab, z)
    if lay < 0:
        stats[S_UNSCORED] += e
        return nhit
    par = det.layer_par[lay]
    if det.layer_kind[lay] == 0:
        ix = math.floor((x - par[0]) / par[2])
        iy = math.floor((y - par[1]) / par[3])
        nx = int(par[4])
        ny = int(par[5])
        if ix < 0 or ix >= nx or iy < 0 or iy >= ny:
            over[lay] += e
            return nhit
        vox[det.layer_offset[lay] + ix * ny + iy] += e
        return nhit
    n_r = int(par[4])
    n_a = int(par[5])
    r = math.sqrt(x * x + y * y)
    edges = det.layer_r[lay]
    if n_r <= 0 or r >= edges[n_r] or r < edges[0]:
        over[lay] += e
        return nhit
    lo = 0
    hi = n_r
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if edges[mid] <= r:
            lo = mid
        else:
            hi = mid
    alpha = math.atan2(y, x)
    ia = math.floor((alpha + math.pi) / TWO_PI * n_a)
    if ia >= n_a:
        ia = n_a - 1
    if ia < 0:
        ia = 0
    vox[det.layer_offset[lay] + ia * n_r + lo] += e
    return nhit


# ================================================================================================
# particle stack
# ================================================================================================
@kernel
def push(sf, si, n, ptype, e, x, y, z, ux, uy, uz, slab, stats):
    if n >= sf.shape[0]:
        # the stack is sized far beyond any EM shower; running out is a bug, reported through the stats
        stats[S_MAX_STACK] = -1.0
        return n
    sf[n, 0] = e
    sf[n, 1] = x
    sf[n, 2] = y
    sf[n, 3] = z
    sf[n, 4] = ux
    sf[n, 5] = uy
    sf[n, 6] = uz
    si[n, 0] = ptype
    si[n, 1] = slab
    n += 1
    if n > stats[S_MAX_STACK] and stats[S_MAX_STACK] >= 0.0:
        stats[S_MAX_STACK] = n
    if ptype == GAMMA:
        stats[S_N_PHOTONS] += 1.0
    elif ptype == ELECTRON:
        stats[S_N_ELECTRONS] += 1.0
    elif ptype == POSITRON:
        stats[S_N_POSITRONS] += 1.0
    else:
        stats[S_N_HADRONS] += 1.0
    return n


@kernel
def _annihilate_at_rest(sf, si, n, x, y, z, slab, stats, s):
    cost = 2.0 * rand(s) - 1.0
    sint = math.sqrt((1.0 - cost) * (1.0 + cost))
    phi = TWO_PI * rand(s)
    dx = sint * math.cos(phi)
    dy = sint * math.sin(phi)
    n = push(sf, si, n, GAMMA, MASS, x, y, z, dx, dy, cost, slab, stats)
    n = push(sf, si, n, GAMMA, MASS, x, y, z, -dx, -dy, -cost, slab, stats)
    return n


# ================================================================================================
# photon transport
# ================================================================================================
@kernel
def transport_photon(e, x, y, z, ux, uy, uz, slab, tab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s):
    pcut = cfg[C_PHOTON_CUT]
    while True:
        if e <= pcut:
            nhit = deposit(det, slab, e, x, y, z, vox, over, stats, hits, nhit)
            return n, nhit
        m = det.slab_mat[slab]
        i, f = ebin(tab.grid, e)
        mu_c = lin(tab.phot[m, SIG_COMPTON], i, f)
        mu_p = lin(tab.phot[m, SIG_PAIR], i, f)
        mu_e = mu_photo(tab, m, e)
        mu = mu_c + mu_p + mu_e
        dist = -math.log(rand_open(s)) / mu if mu > 0.0 else 1e300
        stats[S_STEPS_PHOTON] += 1.0
        x, y, z, slab, outcome = fly_neutral(det, slab, x, y, z, ux, uy, uz, dist)
        if outcome == LEFT:
            stats[S_ESCAPED] += e
            return n, nhit
        if outcome == CROSSED:
            continue
        r = rand(s) * mu
        if r < mu_e:
            # photo-electric absorption: the binding energy of the shell is deposited (no fluorescence in opt0)
            nel = int(tab.mat_par[m, P_NEL])
            j = pick_element(tab.pe_cdf, m, nel, i, f, s)
            nedge = int(tab.el_par[m, j, E_NEDGES])
            bind = 0.0
            for kk in range(nedge - 1, -1, -1):
                if tab.el_edges[m, j, kk] <= e:
                    bind = tab.el_edges[m, j, kk]
                    break
            te = e - bind
            nhit = deposit(det, slab, bind, x, y, z, vox, over, stats, hits, nhit)
            if te > 0.0:
                if te <= cfg[C_TRACKING_CUT]:
                    nhit = deposit(det, slab, te, x, y, z, vox, over, stats, hits, nhit)
                else:
                    cost = sauter_gavrila_cos(te, s)
                    sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
                    phi = TWO_PI * rand(s)
                    dx, dy, dz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
                    n = push(sf, si, n, ELECTRON, te, x, y, z, dx, dy, dz, slab, stats)
            return n, nhit
        if r < mu_e + mu_c:
            eps, cost = sample_compton(e, s)
            e1 = eps * e
            te = e - e1
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            nx, ny, nz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
            if te > 1e-4:
                if te <= cfg[C_TRACKING_CUT]:
                    nhit = deposit(det, slab, te, x, y, z, vox, over, stats, hits, nhit)
                else:
                    ex, ey, ez = _normalise(e * ux - e1 * nx, e * uy - e1 * ny, e * uz - e1 * nz)
                    n = push(sf, si, n, ELECTRON, te, x, y, z, ex, ey, ez, slab, stats)
            else:
                nhit = deposit(det, slab, te, x, y, z, vox, over, stats, hits, nhit)
            ux, uy, uz = nx, ny, nz
            e = e1
            if e <= 1e-4:
                nhit = deposit(det, slab, e, x, y, z, vox, over, stats, hits, nhit)
                return n, nhit
            continue
        # pair production
        nel = int(tab.mat_par[m, P_NEL])
        j = pick_element(tab.pair_cdf, m, nel, i, f, s)
        ep = tab.el_par[m, j]
        eps = sample_pair_eps(e, ep[E_Z13], ep[E_LOGZ], ep[E_FC], s)
        if rand(s) < 0.5:
            eps = 1.0 - eps
        t_em = eps * e - MASS
        t_ep = (1.0 - eps) * e - MASS
        phi = TWO_PI * rand(s)
        for lep in range(2):
            tl = t_em if lep == 0 else t_ep
            if tl < 0.0:
                tl = 0.0
            cost = modified_tsai_cos(tl, s)
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            ph = phi if lep == 0 else phi + math.pi
            dx, dy, dz = rotate_uz(ux, uy, uz, sint * math.cos(ph), sint * math.sin(ph), cost)
            n = push(sf, si, n, ELECTRON if lep == 0 else POSITRON, tl, x, y, z, dx, dy, dz, slab, stats)
        return n, nhit


# ================================================================================================
# e± transport
# ================================================================================================
@kernel
def _geom_path(tp, rng, lam0, t0, m, q, tab):
    """True → geometric path length (G4UrbanMscModel::ComputeGeomPathLength).

    Returns ``(z, par1, par3, t1, lam1)``; ``t1`` (energy after the step from the range table) and ``lam1``
    (its lambda1) are −1 when they were not needed, so that the caller can reuse them.
    """
    if tp < TLIMITMINFIX2:
        return tp, -1.0, 0.0, -1.0, -1.0
    tau = tp / lam0
    if tau <= TAUSMALL:
        return min(tp, lam0), -1.0, 0.0, -1.0, -1.0
    if tp < rng * DTRL:
        if tau < TAULIM:
            return tp * (1.0 - 0.5 * tau), -1.0, 0.0, -1.0, -1.0
        return lam0 * (1.0 - math.exp(-tau)), -1.0, 0.0, -1.0, -1.0
    if t0 < MASS or tp >= rng:
        par1 = 1.0 / rng
        par2 = 1.0 / (par1 * lam0)
        par3 = 1.0 + par2
        if tp < rng:
            zm = (1.0 - math.exp(par3 * math.log(1.0 - tp / rng))) / (par1 * par3)
        else:
            zm = 1.0 / (par1 * par3)
        return min(zm, lam0), par1, par3, -1.0, -1.0
    t1 = energy_from_range(tab, m, q, rng - tp)
    lam1 = eloss_at(tab, m, q, LAMBDA1, t1)
    if abs(lam0 - lam1) < 1e-9 * lam0:
        return lam0 * (1.0 - math.exp(-tau)), -1.0, 0.0, t1, lam1
    par1 = (lam0 - lam1) / (lam0 * tp)
    par2 = 1.0 / (par1 * lam0)
    par3 = 1.0 + par2
    zm = (1.0 - math.exp(par3 * math.log(lam1 / lam0))) / (par1 * par3)
    return min(zm, lam0), par1, par3, t1, lam1


@kernel
def _true_path(zg, tp, lam0, par1, par3, rng):
    """Geometric → true path length after a geometry-limited step (G4UrbanMscModel::ComputeTrueStepLength)."""
    if zg < TLIMITMINFIX2:
        return zg
    tl = zg
    if zg > lam0 * TAUSMALL:
        if par1 < 0.0:
            if zg < lam0:
                tl = -lam0 * math.log(1.0 - zg / lam0)
            else:
                tl = tp
        else:
            if par1 * par3 * zg < 1.0:
                tl = (1.0 - math.exp(math.log(1.0 - par1 * par3 * zg) / par3)) / par1
            else:
                tl = rng
    if tl < zg:
        tl = zg
    elif tl > tp:
        tl = tp
    return tl


@kernel
def transport_charged(ptype, e, x, y, z, ux, uy, uz, slab, tab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s):
    """Track one e± until it stops or leaves the stack; secondaries go on the stack."""
    nslab = det.slab_mat.shape[0]
    q = 0 if ptype == ELECTRON else 1
    positron = ptype == POSITRON
    tcut = cfg[C_TRACKING_CUT]
    final_range = cfg[C_FINAL_RANGE]
    dr_over_r = cfg[C_DR_OVER_RANGE]
    facrange = cfg[C_FACRANGE]
    facsafety = cfg[C_FACSAFETY]
    lin_loss = cfg[C_LIN_LOSS]
    use_fluct = cfg[C_FLUCT] > 0.5
    use_msc = cfg[C_MSC] > 0.5
    use_disp = cfg[C_DISPLACEMENT] > 0.5
    use_lpm = cfg[C_LPM] > 0.5
    n_left = -math.log(rand_open(s))
    first_step = True
    inside = False
    rangeinit = 0.0
    fr = facrange
    tlimitmin = 10.0 * TLIMITMINFIX
    while True:
        if e <= tcut:
            nhit = deposit(det, slab, e, x, y, z, vox, over, stats, hits, nhit)
            if positron:
                n = _annihilate_at_rest(sf, si, n, x, y, z, slab, stats, s)
            return n, nhit
        m = det.slab_mat[slab]
        mp = tab.mat_par[m]
        log_e = math.log(e)
        i, f = ebin_log(tab.grid, log_e)
        ell = tab.eloss[m, q]
        dedx = lin(ell[DEDX], i, f)
        rng = lin(ell[RANGE], i, f)
        lam0 = lin(ell[LAMBDA1], i, f)
        sig_ion = lin(ell[SIG_ION], i, f)
        sig_brem = lin(ell[SIG_BREM], i, f)
        sig_ann = lin(ell[SIG_ANN], i, f) if positron else 0.0
        sig = sig_ion + sig_brem + sig_ann
        # majorant over the energy range the step can cover (the step function keeps the loss below ~20 %)
        e_low = 0.8 * e
        if e_low > tcut:
            i2, f2 = ebin_log(tab.grid, log_e - 0.2231435513142097)  # ln(0.8)
            sig2 = lin(ell[SIG_ION], i2, f2) + lin(ell[SIG_BREM], i2, f2)
            if positron:
                sig2 += lin(ell[SIG_ANN], i2, f2)
            if sig2 > sig:
                sig = sig2
        s_disc = n_left / sig if sig > 0.0 else 1e300
        # continuous-loss step function (Geant4 finalRange, dRoverRange)
        if rng > final_range:
            s_loss = dr_over_r * rng + final_range * (1.0 - dr_over_r) * (2.0 - final_range / rng)
        else:
            s_loss = rng
        tp = min(s_disc, s_loss)
        discrete = s_disc <= s_loss
        if tp > rng:
            tp = rng
            discrete = False
        # multiple-scattering step limit (UseSafety)
        if use_msc and not inside and tp > TLIMITMINFIX:
            presafety = safety(det, slab, x, y, z)
            if rng < presafety:
                inside = True
            else:
                if first_step:
                    rangeinit = rng
                    fr = facrange
                    if lam0 > rng:
                        rangeinit = lam0
                    if lam0 > 1.0:
                        fr *= 0.75 + 0.25 * lam0
                    rat = 1e-3 / (e * (10.0 + e))
                    tlimitmin = max(10.0 * lam0 * rat, TLIMITMINFIX)
                tlimit = max(fr * rangeinit, facsafety * presafety)
                tlimit = max(tlimit, tlimitmin)
                if first_step:
                    temp = tlimit
                    if temp > tlimitmin:
                        for _ in range(1000):
                            temp = tlimit + 0.3 * tlimit * gauss(s)
                            if tlimitmin <= temp <= 2.0 * tlimit - tlimitmin:
                                break
                    else:
                        temp = tlimitmin
                    if tp > temp:
                        tp = temp
                        discrete = False
                elif tp > tlimit:
                    tp = tlimit
                    discrete = False
        first_step = False
        # true -> geometric path, then the geometry limit
        t1 = -1.0  # energy after the step from the range table (mean loss), computed once when needed
        lam1 = -1.0
        if use_msc:
            zg, par1, par3, t1, lam1 = _geom_path(tp, rng, lam0, e, m, q, tab)
        else:
            zg, par1, par3 = tp, -1.0, 0.0
        d_out, face = distance_out(det, slab, x, y, z, ux, uy, uz)
        crossing = False
        if zg >= d_out:
            zg = d_out
            crossing = True
            discrete = False
            tp = _true_path(zg, tp, lam0, par1, par3, rng) if use_msc else zg
            t1 = -1.0
            lam1 = -1.0
        x0 = x
        y0 = y
        z0 = z
        x += zg * ux
        y += zg * uy
        if crossing and face != 2:
            z = det.slab_z[slab + 1] if face == 1 else det.slab_z[slab]
        else:
            z += zg * uz
        # energy loss along the step
        stopped = False
        if tp >= rng:
            eloss = e
            stopped = True
        else:
            eloss = tp * dedx
            if eloss > e * lin_loss:
                if t1 < 0.0:
                    t1 = energy_from_range(tab, m, q, rng - tp)
                eloss = e - t1
            if use_fluct and eloss < e:
                cut = mp[P_CUT_EP] if positron else mp[P_CUT_EM]
                tmax = e if positron else 0.5 * e
                eloss = sample_fluctuation(eloss, min(cut, tmax), e, mp, s)
            if eloss >= e or e - eloss <= tcut:
                eloss = e
                stopped = True
        e_end = e - eloss
        stats[S_TRACK_CHARGED] += tp
        stats[S_STEPS_CHARGED] += 1.0
        n_left -= tp * sig
        # multiple scattering: new direction and lateral displacement
        if use_msc and not stopped and tp > TLIMITMINFIX and tp * 1e16 >= lam0:
            if tp > rng * DTRL:
                if t1 < 0.0:
                    t1 = energy_from_range(tab, m, q, rng - tp)
                e_msc = t1
            else:
                e_msc = e - tp * dedx
                lam1 = -1.0
            if e_msc > 1e-6:
                if lam1 < 0.0:
                    lam1 = eloss_at(tab, m, q, LAMBDA1, e_msc)
                cth, tau, lambdaeff = msc_cos_theta(tp, e, e_msc, lam0, lam1, mp, tlimitmin, s)
                if abs(cth) <= 1.0:
                    sth = math.sqrt(max((1.0 - cth) * (1.0 + cth), 0.0))
                    phi = TWO_PI * rand(s)
                    nx, ny, nz = rotate_uz(ux, uy, uz, sth * math.cos(phi), sth * math.sin(phi), cth)
                    if use_disp and not crossing and tau >= TAUSMALL:
                        rmax2 = (tp - zg) * (tp + zg)
                        if rmax2 > 0.0:
                            r = math.sqrt(rmax2) * math.exp(math.log(rand_open(s)) / 3.0)
                            if r > 0.0:
                                latcorr = _lat_correlation(tau, lambdaeff)
                                if latcorr > r:
                                    latcorr = r
                                if abs(r * sth) < latcorr:
                                    big_phi = TWO_PI * rand(s)
                                else:
                                    psi = math.acos(latcorr / (r * sth))
                                    big_phi = phi + psi if rand(s) < 0.5 else phi - psi
                                dx, dy, dz = rotate_uz(ux, uy, uz, r * math.cos(big_phi), r * math.sin(big_phi), 0.0)
                                post = 0.99 * safety(det, slab, x, y, z)
                                if post > GEOM_MIN:
                                    if r > post:
                                        sc = post / r
                                        dx *= sc
                                        dy *= sc
                                        dz *= sc
                                    x += dx
                                    y += dy
                                    z += dz
                    ux, uy, uz = nx, ny, nz
        # deposit the continuous loss at the middle of the step
        nhit = deposit(det, slab, eloss, 0.5 * (x0 + x), 0.5 * (y0 + y), 0.5 * (z0 + z), vox, over, stats, hits, nhit)
        e = e_end
        if stopped:
            if positron:
                n = _annihilate_at_rest(sf, si, n, x, y, z, slab, stats, s)
            return n, nhit
        if crossing:
            # an escaping positron takes its annihilation energy with it (2 m_e c^2 in the balance)
            if face == 2:
                stats[S_ESCAPED] += e + TWO_MASS if positron else e
                return n, nhit
            # on the boundary: the side is decided by the direction after scattering
            b = slab + 1 if face == 1 else slab
            slab = b if uz > 0.0 else b - 1
            if slab < 0 or slab >= nslab:
                stats[S_ESCAPED] += e + TWO_MASS if positron else e
                return n, nhit
            first_step = True
            continue
        if not discrete:
            continue
        # discrete interaction at the post-step energy (integral method with the majorant sig)
        n_left = -math.log(rand_open(s))
        i, f = ebin(tab.grid, e)
        s_ion = lin(ell[SIG_ION], i, f)
        s_brem = lin(ell[SIG_BREM], i, f)
        s_ann = lin(ell[SIG_ANN], i, f) if positron else 0.0
        r = rand(s) * sig
        if r < s_ion:
            cut = mp[P_CUT_EP] if positron else mp[P_CUT_EM]
            td = sample_moller_bhabha(e, cut, positron, s)
            ptot = math.sqrt(e * (e + TWO_MASS))
            pd = math.sqrt(td * (td + TWO_MASS))
            cost = min(td * (e + TWO_MASS) / (pd * ptot), 1.0)
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            dx, dy, dz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
            n = push(sf, si, n, ELECTRON, td, x, y, z, dx, dy, dz, slab, stats)
            ux, uy, uz = _normalise(ptot * ux - pd * dx, ptot * uy - pd * dy, ptot * uz - pd * dz)
            e -= td
        elif r < s_ion + s_brem:
            nel = int(mp[P_NEL])
            j = pick_element(tab.brem_cdf, m, nel, i, f, s)
            k = sample_brems_k(tab.el_par[m, j], e, mp[P_CUT_GAMMA], mp, use_lpm, s)
            cost = modified_tsai_cos(e, s)
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            gx, gy, gz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
            n = push(sf, si, n, GAMMA, k, x, y, z, gx, gy, gz, slab, stats)
            ptot = math.sqrt(e * (e + TWO_MASS))
            ux, uy, uz = _normalise(ptot * ux - k * gx, ptot * uy - k * gy, ptot * uz - k * gz)
            e -= k
        elif r < s_ion + s_brem + s_ann:
            # two-photon annihilation in flight: isotropic in the centre-of-mass frame, boosted (G4eeToTwoGammaModel)
            etot = e + TWO_MASS
            ptot = math.sqrt(e * (e + TWO_MASS))
            sqrt_s = math.sqrt(2.0 * MASS * etot)
            estar = 0.5 * sqrt_s
            gcm = etot / sqrt_s
            bcm = ptot / etot
            cost = 2.0 * rand(s) - 1.0
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            for sign in (1.0, -1.0):
                pz = sign * estar * cost
                pt = estar * sint
                el = gcm * (estar + bcm * pz)
                plz = gcm * (pz + bcm * estar)
                dx, dy, dz = _normalise(sign * pt * math.cos(phi), sign * pt * math.sin(phi), plz)
                gx, gy, gz = rotate_uz(ux, uy, uz, dx, dy, dz)
                n = push(sf, si, n, GAMMA, el, x, y, z, gx, gy, gz, slab, stats)
            return n, nhit
        # else: a fictitious interaction of the majorant; nothing happens


# ================================================================================================
# hadrons (PHYSICS.md §4, §5; caloforge.detsim.hadron builds the tables and holds the parameters)
# ================================================================================================
@kernel
def hadron_mass(ptype):
    """Rest mass (MeV) of a stack particle type."""
    if ptype == PI_PLUS or ptype == PI_MINUS:  # noqa: SIM109 (numba)
        return M_PI
    if ptype == PI_ZERO:
        return M_PI0
    if ptype == PROTON:
        return M_P
    if ptype == NEUTRON:
        return M_N
    if ptype == GAMMA:
        return 0.0
    return MASS


@kernel
def _isotropic(s):
    cost = 2.0 * rand(s) - 1.0
    sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
    phi = TWO_PI * rand(s)
    return sint * math.cos(phi), sint * math.sin(phi), cost


@kernel
def sample_delta_hadron(t, mass, cut, spin_half, s):
    """Kinetic energy of a delta ray above ``cut`` from a hadron of kinetic energy ``t`` (G4BetheBlochModel).

    1/T² proposal on [cut, W_max], accepted with 1 − β² T/W_max (+ T²/2E² for spin ½).
    """
    etot = t + mass
    etot2 = etot * etot
    gam = etot / mass
    bg2 = gam * gam - 1.0
    beta2 = bg2 / (gam * gam)
    ratio = MASS / mass
    wmax = 2.0 * MASS * bg2 / (1.0 + 2.0 * gam * ratio + ratio * ratio)
    if wmax <= cut:
        return cut
    fmax = 1.0
    if spin_half:
        fmax += 0.5 * wmax * wmax / etot2
    for _ in range(100000):
        r0 = rand(s)
        td = cut * wmax / (cut * (1.0 - r0) + wmax * r0)
        g = 1.0 - beta2 * td / wmax
        if spin_half:
            g += 0.5 * td * td / etot2
        if fmax * rand(s) <= g:
            return td
    return cut


@kernel
def hadron_fluctuation(mean_loss, step, t, mass, mp, s):
    """Energy loss of a hadron step with mean ``mean_loss``: Gaussian when many collisions share a small
    W_max (mean ≥ 10 T_c and W_max ≤ 2 T_c), else the Urban model (G4UniversalFluctuation; PHYSICS.md §3.2)."""
    gam = t / mass + 1.0
    gam2 = gam * gam
    beta2 = 1.0 - 1.0 / gam2
    ratio = MASS / mass
    wmax = 2.0 * MASS * (gam2 - 1.0) / (1.0 + 2.0 * gam * ratio + ratio * ratio)
    tcut = min(mp[P_CUT_EM], wmax)
    if mean_loss >= 10.0 * tcut and wmax <= 2.0 * tcut:
        sig2 = (wmax / beta2 - 0.5 * tcut) * TWO_PI_MC2_RCL2 * step * mp[P_NE]
        return _gauss_trunc(mean_loss, sig2, s)
    return urban_fluctuation(mean_loss, tcut, gam2, beta2, mp, s)


@kernel
def sample_feynman_x(xmin, power, s):
    """Feynman x from dN/dx ∝ (1 − x)^power/x on [xmin, 1] (PHYSICS.md §5.1)."""
    lx = math.log(xmin)
    for _ in range(10000):
        xf = math.exp(lx * rand(s))
        if rand(s) <= (1.0 - xf) ** power:
            return xf
    return xmin


@kernel
def sample_michel(s):
    """Positron energy fraction x = E/W in μ+ decay at rest, dN/dx ∝ x²(3 − 2x) (Michel spectrum)."""
    while True:
        x = rand(s)
        if rand(s) <= x * x * (3.0 - 2.0 * x):
            return x


@kernel
def _decay_pi0(sf, si, k, n, stats, s):
    """Replace the π0 at stack position ``k`` by its two photons, isotropic in its rest frame (§4)."""
    t = sf[k, 0]
    etot = t + M_PI0
    stats[S_EM_PI0] += etot
    p = math.sqrt(t * (t + 2.0 * M_PI0))
    gam = etot / M_PI0
    bg = p / M_PI0
    half = 0.5 * M_PI0
    cost = 2.0 * rand(s) - 1.0
    sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
    phi = TWO_PI * rand(s)
    px = half * sint * math.cos(phi)
    py = half * sint * math.sin(phi)
    e1 = half * (gam + bg * cost)
    e2 = half * (gam - bg * cost)
    pz1 = half * (bg + gam * cost)
    pz2 = half * (bg - gam * cost)
    ux, uy, uz = sf[k, 4], sf[k, 5], sf[k, 6]
    d1x, d1y, d1z = _normalise(px, py, pz1)
    d2x, d2y, d2z = _normalise(-px, -py, pz2)
    g1x, g1y, g1z = rotate_uz(ux, uy, uz, d1x, d1y, d1z)
    g2x, g2y, g2z = rotate_uz(ux, uy, uz, d2x, d2y, d2z)
    si[k, 0] = GAMMA
    sf[k, 0] = e1
    sf[k, 4] = g1x
    sf[k, 5] = g1y
    sf[k, 6] = g1z
    stats[S_N_PHOTONS] += 1.0
    return push(sf, si, n, GAMMA, e2, sf[k, 1], sf[k, 2], sf[k, 3], g2x, g2y, g2z, si[k, 1], stats)


@kernel
def hadron_interaction(
    ptype, e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s, at_rest
):
    """Inelastic interaction of a hadron of kinetic energy ``e`` (or π− capture at rest) with a nucleus.

    Simplified mechanistic final state (PHYSICS.md §5.1; parameters in HadronPhysics): a leading particle
    with (1 − K) of the available energy, an intranuclear cascade and an excitation energy whose nucleons each
    cost the binding energy B/A (invisible), pions made from what is left (multiplicity from the pp fit × R_A,
    charges +, −, 0 equiprobable, Feynman-x sharing, exponential p_T), evaporation of the excitation energy
    (neutrons, Coulomb-suppressed protons), its remainder as a photon. Energy is conserved exactly: the
    available energy is the kinetic energy plus the rest energy of an absorbed pion. The secondaries go on the
    stack; π0s decay to two photons at once.
    """
    par = htab.par
    m = det.slab_mat[slab]
    pion = ptype != PROTON and ptype != NEUTRON
    cls = PION_CLASS if pion else NUCLEON_CLASS
    nel = htab.n_el[m]
    i, f = ebin(tab.grid, max(e, 1e-3))
    # the target nucleus: by the inelastic cross sections, or by Fermi–Teller (∝ Z) for a capture at rest
    tot = 0.0
    for jj in range(nel):
        if at_rest:
            tot += htab.nuc[m, jj, NUC_DENSITY] * htab.nuc[m, jj, NUC_Z]
        else:
            tot += lin(htab.inel_el[m, cls, jj], i, f)
    r = rand(s) * tot
    j = nel - 1
    cum = 0.0
    for jj in range(nel - 1):
        if at_rest:
            cum += htab.nuc[m, jj, NUC_DENSITY] * htab.nuc[m, jj, NUC_Z]
        else:
            cum += lin(htab.inel_el[m, cls, jj], i, f)
        if r < cum:
            j = jj
            break
    nuc = htab.nuc[m, j]
    a = nuc[NUC_A]
    zt = nuc[NUC_Z]
    bind = nuc[NUC_BINDING]
    stats[S_N_INELASTIC] += 1.0
    if stats[S_N_INELASTIC] == 1.0:
        stats[S_FIRST_INTERACTION] = z
    e_av = e
    if pion:
        e_av += M_PI
        stats[S_REST] += M_PI
    pool = e_av
    n0 = n
    # 1. leading particle: (1 - K) of the available energy (total energy for a pion, kinetic for a nucleon)
    lead = -1
    e_lead = 0.0
    if not at_rest:
        kin = par[H_INELASTICITY_MIN] + (par[H_INELASTICITY_MAX] - par[H_INELASTICITY_MIN]) * rand(s)
        e_lead = (1.0 - kin) * e_av
        lead = ptype
        if pion:
            if rand(s) < par[H_PION_CHARGE_EXCHANGE]:
                lead = PI_ZERO
            if e_lead <= hadron_mass(lead) + 1.0:
                lead = -1  # a slow leading pion is absorbed: its energy stays with the nucleus
                e_lead = 0.0
        elif rand(s) < par[H_NUCLEON_CHARGE_EXCHANGE]:
            lead = NEUTRON if ptype == PROTON else PROTON
        pool -= e_lead
    # 2. intranuclear cascade nucleons and the excitation energy left behind (each nucleon costs B/A)
    if a > 1.5:
        ncas = poisson(par[H_CASCADE_NUCLEONS] * nuc[NUC_A13], s)
        estar = -math.log(rand_open(s)) * par[H_EXCITATION] * a ** par[H_EXCITATION_POWER]
    else:
        ncas = 1  # hydrogen: the struck proton
        estar = 0.0
    kin_sum = 0.0
    for _ in range(ncas):
        tk = -par[H_CASCADE_ENERGY] * math.log(rand_open(s))
        nt = PROTON if rand(s) * a < zt else NEUTRON
        n = push(sf, si, n, nt, tk, x, y, z, ux, uy, uz, slab, stats)
        kin_sum += tk
    nb = n - n0
    cost = kin_sum + nb * bind + estar
    if cost > pool:
        # not enough energy: the nucleus takes all that is left, with no more nucleons than binding allows
        while nb > 0 and nb * bind > 0.5 * pool:
            n -= 1
            nb -= 1
            kin_sum -= sf[n, 0]
        avail = pool - nb * bind
        if kin_sum + estar > 0.0:
            scale = avail / (kin_sum + estar)
            for k in range(n0, n):
                sf[k, 0] *= scale
            estar *= scale
        else:
            estar = avail
        pool = 0.0
    else:
        pool -= cost
    stats[S_BINDING] += nb * bind
    n_prod = n
    # 3. pions made from the rest: <n> = pions_per_charged × R_A × (<n_ch>_pp(s) − leading_charged)
    t_min = 10.0
    if not at_rest and pool > M_PI + t_min:
        m_proj = M_PI if pion else M_P
        s_gev = (M_P * M_P + m_proj * m_proj + 2.0 * M_P * (e + m_proj)) * 1e-6
        ls = math.log(s_gev)
        nch = par[H_NCH_A0] + ls * (par[H_NCH_A1] + ls * par[H_NCH_A2])
        nu = 1.0
        if a > 1.5:
            sigma_ha = lin(htab.inel_el[m, cls, j], i, f) / nuc[NUC_DENSITY]
            sigma_hn = (par[H_SIGMA_PION_NUCLEON] if pion else par[H_SIGMA_NUCLEON_NUCLEON]) * MB
            nu = max(a * sigma_hn / sigma_ha, 1.0)
        nbar = par[H_PIONS_PER_CHARGED] * 0.5 * (1.0 + nu) * max(nch - par[H_LEADING_CHARGED], 0.0)
        npi = poisson(nbar, s)
        nmax = int(pool / (M_PI + t_min))
        if npi > nmax:
            npi = nmax
        if npi > 0:
            xmin = (M_PI + t_min) / pool
            xsum = 0.0
            msum = 0.0
            for _ in range(npi):
                xf = sample_feynman_x(xmin, par[H_FEYNMAN_X_POWER], s)
                r3 = 3.0 * rand(s)
                nt = PI_PLUS if r3 < 1.0 else (PI_MINUS if r3 < 2.0 else PI_ZERO)
                n = push(sf, si, n, nt, xf, x, y, z, ux, uy, uz, slab, stats)
                xsum += xf
                msum += M_PI0 if nt == PI_ZERO else M_PI
            spare = pool - msum
            for k in range(n_prod, n):
                sf[k, 0] = spare * sf[k, 0] / xsum
            pool = 0.0
    # 4. what is still left: to the leading particle, else to the cascade nucleons, else to the nucleus
    if pool > 0.0:
        if lead >= 0:
            e_lead += pool
        elif kin_sum > 0.0 and n_prod > n0:
            scale = (kin_sum + pool) / kin_sum
            for k in range(n0, n_prod):
                sf[k, 0] *= scale
        else:
            estar += pool
        pool = 0.0
    if lead >= 0:
        t_lead = e_lead - hadron_mass(lead) if pion else e_lead
        n = push(sf, si, n, lead, t_lead, x, y, z, ux, uy, uz, slab, stats)
    n_fast = n
    # 5. evaporation: Maxwellian nucleons at temperature sqrt(E*/a) until E* < B/A; the rest as one photon
    if a > 1.5:
        ald = a / par[H_LEVEL_DENSITY]
        ratio_pn = zt / (a - zt)
        for _ in range(1000):
            if estar <= bind:
                break
            theta = math.sqrt(estar / ald)
            tk = -theta * math.log(rand_open(s) * rand_open(s))
            proton = False
            gp = ratio_pn * math.exp(-nuc[NUC_BARRIER] / theta)
            if rand(s) * (1.0 + gp) < gp:
                proton = True
                tk += nuc[NUC_BARRIER]
            if tk + bind > estar:
                break
            estar -= tk + bind
            stats[S_BINDING] += bind
            n = push(sf, si, n, PROTON if proton else NEUTRON, tk, x, y, z, ux, uy, uz, slab, stats)
    if estar > cfg[C_PHOTON_CUT]:
        n = push(sf, si, n, GAMMA, estar, x, y, z, ux, uy, uz, slab, stats)
    else:
        nhit = deposit(det, slab, estar, x, y, z, vox, over, stats, hits, nhit)
    # 6. directions: p_T ~ p_T exp(-2 p_T/<p_T>) about the projectile for the fast particles, isotropic for
    # evaporation and for a capture at rest; then the pi0 decays
    pt_scale = 0.5 * par[H_MEAN_PT]
    for k in range(n0, n):
        nt = si[k, 0]
        if at_rest or k >= n_fast:
            dx, dy, dz = _isotropic(s)
        else:
            mk = hadron_mass(nt)
            tk = sf[k, 0]
            pk = math.sqrt(tk * (tk + 2.0 * mk))
            pt = -pt_scale * math.log(rand_open(s) * rand_open(s))
            if pt < pk:
                sint = pt / pk
                cost = math.sqrt((1.0 - sint) * (1.0 + sint))
            else:
                cost = 2.0 * rand(s) - 1.0
                sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            dx, dy, dz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
        sf[k, 4] = dx
        sf[k, 5] = dy
        sf[k, 6] = dz
        if nt == PI_PLUS or nt == PI_MINUS:  # noqa: SIM109 (numba)
            stats[S_REST] -= M_PI
    n_end = n
    for k in range(n0, n_end):
        if si[k, 0] == PI_ZERO:
            n = _decay_pi0(sf, si, k, n, stats, s)
    return n, nhit


@kernel
def hadron_at_rest(ptype, x, y, z, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s):
    """End of a stopped charged hadron: π+ → μ+ ν, μ+ → e+ ν ν̄ (Michel spectrum; the e+ is tracked); π−
    nuclear capture (a nuclear break-up with the pion's rest energy); a proton has nothing left."""
    if ptype == PI_MINUS:
        return hadron_interaction(
            PI_MINUS, 0.0, x, y, z, 0.0, 0.0, 1.0, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits,
            nhit, s, True,
        )  # fmt: skip
    if ptype != PI_PLUS:
        return n, nhit
    stats[S_REST] += M_PI
    # two-body decay at rest: the muon's 4.1 MeV stay where it stops (range < 1.5 mm in LAr)
    t_mu = (M_PI - M_MU) ** 2 / (2.0 * M_PI)
    stats[S_NEUTRINO] += M_PI - M_MU - t_mu
    nhit = deposit(det, slab, t_mu, x, y, z, vox, over, stats, hits, nhit)
    w = (M_MU * M_MU + MASS * MASS) / (2.0 * M_MU)
    ee = max(sample_michel(s) * w, MASS)
    stats[S_NEUTRINO] += M_MU - ee
    stats[S_REST] += MASS  # the positron annihilates with an atomic electron
    dx, dy, dz = _isotropic(s)
    n = push(sf, si, n, POSITRON, ee - MASS, x, y, z, dx, dy, dz, slab, stats)
    return n, nhit


@kernel
def _slow_neutron_xs(nuc, e, lam):
    """Cross section (mm²) of a neutron of ``e`` MeV on one element: n–p elastic from Gammel's fit; on nuclei
    the black-disk value 2π(R + ƛ)² (ƛ = ``lam`` fm), half shadow-elastic and half compound-nucleus reaction."""
    if nuc[NUC_A] < 1.5:
        t1 = 1.206 * e
        q1 = -1.86 + e * (0.09415 + 0.0001306 * e)
        q2 = 0.4223 + 0.13 * e
        return (3.0 * math.pi / (t1 + q1 * q1) + math.pi / (t1 + q2 * q2)) * BARN
    rr = nuc[NUC_RADIUS] + lam
    return TWO_PI * rr * rr * FM2


@kernel
def slow_neutron(e, x, y, z, ux, uy, uz, slab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s):
    """A neutron below ``neutron_cut``, collision by collision. On hydrogen, and in half of the collisions with
    nuclei (shadow scattering), elastic scattering isotropic in the centre-of-mass frame with the recoil energy
    deposited where it happens; in the other half a compound nucleus re-emits the neutron isotropically with
    an evaporation energy T' ~ T' exp(−T'/θ), θ = √((T + B)/a), and the rest T − T' as a photon (inelastic
    (n, n'γ) scattering). After ``neutron_max_collisions`` or below ``neutron_stop`` the rest of the energy
    counts as undetected (S_NEUTRON_UNDETECTED)."""
    par = htab.par
    e_stop = par[H_NEUTRON_STOP]
    n_max = int(par[H_NEUTRON_MAX_COLLISIONS])
    ncoll = 0
    while True:
        if e <= e_stop or ncoll >= n_max:
            stats[S_NEUTRON_UNDETECTED] += e
            return n, nhit
        m = det.slab_mat[slab]
        nel = htab.n_el[m]
        lam = HBARC_FM / math.sqrt(e * (e + 2.0 * M_N))
        mu = 0.0
        for jj in range(nel):
            mu += htab.nuc[m, jj, NUC_DENSITY] * _slow_neutron_xs(htab.nuc[m, jj], e, lam)
        dist = -math.log(rand_open(s)) / mu if mu > 0.0 else 1e300
        x, y, z, slab, outcome = fly_neutral(det, slab, x, y, z, ux, uy, uz, dist)
        if outcome == LEFT:
            stats[S_ESCAPED] += e
            return n, nhit
        if outcome == CROSSED:
            continue
        r = rand(s) * mu
        j = nel - 1
        cum = 0.0
        for jj in range(nel - 1):
            cum += htab.nuc[m, jj, NUC_DENSITY] * _slow_neutron_xs(htab.nuc[m, jj], e, lam)
            if r < cum:
                j = jj
                break
        ncoll += 1
        nuc = htab.nuc[m, j]
        if nuc[NUC_A] > 1.5 and rand(s) < 0.5:
            theta = math.sqrt((e + nuc[NUC_BINDING]) * par[H_LEVEL_DENSITY] / nuc[NUC_A])
            t_out = -1.0
            for _ in range(20):
                t_try = -theta * math.log(rand_open(s) * rand_open(s))
                if t_try < e:
                    t_out = t_try
                    break
            if t_out >= 0.0:
                eg = e - t_out
                if eg > cfg[C_PHOTON_CUT]:
                    gx, gy, gz = _isotropic(s)
                    n = push(sf, si, n, GAMMA, eg, x, y, z, gx, gy, gz, slab, stats)
                else:
                    nhit = deposit(det, slab, eg, x, y, z, vox, over, stats, hits, nhit)
                ux, uy, uz = _isotropic(s)
                e = t_out
                continue
        am = nuc[NUC_A] * U_OVER_MN
        cth = 2.0 * rand(s) - 1.0
        den = am * am + 2.0 * am * cth + 1.0
        e_new = e * den / ((am + 1.0) * (am + 1.0))
        nhit = deposit(det, slab, e - e_new, x, y, z, vox, over, stats, hits, nhit)
        cos_lab = min(max((1.0 + am * cth) / math.sqrt(den), -1.0), 1.0)
        sin_lab = math.sqrt(max((1.0 - cos_lab) * (1.0 + cos_lab), 0.0))
        phi = TWO_PI * rand(s)
        ux, uy, uz = rotate_uz(ux, uy, uz, sin_lab * math.cos(phi), sin_lab * math.sin(phi), cos_lab)
        e = e_new


@kernel
def transport_neutron(e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s):
    """A neutron: above ``neutron_cut`` straight flights to an inelastic interaction (λ_I-based cross
    section, path resampled at each slab face), below it :func:`slow_neutron`."""
    if e < htab.par[H_NEUTRON_CUT]:
        return slow_neutron(e, x, y, z, ux, uy, uz, slab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s)
    while True:
        m = det.slab_mat[slab]
        i, f = ebin(tab.grid, e)
        mu = lin(htab.inel[m, NUCLEON_CLASS], i, f)
        dist = -math.log(rand_open(s)) / mu if mu > 0.0 else 1e300
        x, y, z, slab, outcome = fly_neutral(det, slab, x, y, z, ux, uy, uz, dist)
        if outcome == LEFT:
            stats[S_ESCAPED] += e
            return n, nhit
        if outcome == CROSSED:
            continue
        return hadron_interaction(
            NEUTRON, e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit,
            s, False,
        )  # fmt: skip


@kernel
def transport_hadron(
    ptype, e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s
):
    """Track a π±, proton or neutron until it interacts, stops or leaves the stack; secondaries go on the stack.

    Charged hadrons: steps limited by the continuous-loss step function (finalRange, dRoverRange of
    HadronPhysics), the next delta ray or inelastic interaction (integral method with a majorant, as the e±)
    and the slab faces; restricted Bethe–Bloch loss with fluctuations; Highland multiple scattering with the
    PDG correlated lateral displacement (PHYSICS.md §3.4a); below ``tracking_cut`` the hadron stops.
    """
    if ptype == NEUTRON:
        return transport_neutron(
            e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s
        )
    nslab = det.slab_mat.shape[0]
    par = htab.par
    pion = ptype != PROTON
    k = PION_CLASS if pion else NUCLEON_CLASS
    mass = M_PI if pion else M_P
    tcut = par[H_TRACKING_CUT]
    final_range = par[H_FINAL_RANGE]
    dr_over_r = par[H_DR_OVER_RANGE]
    lin_loss = cfg[C_LIN_LOSS]
    use_fluct = cfg[C_FLUCT] > 0.5
    use_msc = cfg[C_MSC] > 0.5
    use_disp = cfg[C_DISPLACEMENT] > 0.5
    n_left = -math.log(rand_open(s))
    while True:
        if e <= tcut:
            nhit = deposit(det, slab, e, x, y, z, vox, over, stats, hits, nhit)
            return hadron_at_rest(ptype, x, y, z, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s)
        m = det.slab_mat[slab]
        mp = tab.mat_par[m]
        log_e = math.log(e)
        i, f = ebin_log(tab.grid, log_e)
        dedx = lin(htab.dedx[m, k], i, f)
        rng = lin(htab.range[m, k], i, f)
        sig = lin(htab.delta[m, k], i, f) + lin(htab.inel[m, k], i, f)
        if 0.8 * e > tcut:
            i2, f2 = ebin_log(tab.grid, log_e + LN_08)
            sig2 = lin(htab.delta[m, k], i2, f2) + lin(htab.inel[m, k], i2, f2)
            if sig2 > sig:
                sig = sig2
        s_disc = n_left / sig if sig > 0.0 else 1e300
        if rng > final_range:
            s_loss = dr_over_r * rng + final_range * (1.0 - dr_over_r) * (2.0 - final_range / rng)
        else:
            s_loss = rng
        tp = min(s_disc, s_loss)
        discrete = s_disc <= s_loss
        if tp > rng:
            tp = rng
            discrete = False
        d_out, face = distance_out(det, slab, x, y, z, ux, uy, uz)
        crossing = False
        if tp >= d_out:
            tp = d_out
            crossing = True
            discrete = False
        x0 = x
        y0 = y
        z0 = z
        x += tp * ux
        y += tp * uy
        if crossing and face != 2:
            z = det.slab_z[slab + 1] if face == 1 else det.slab_z[slab]
        else:
            z += tp * uz
        stopped = False
        if tp >= rng:
            eloss = e
            stopped = True
        else:
            eloss = tp * dedx
            if eloss > e * lin_loss:
                eloss = e - energy_from_range_row(htab.range[m, k], tab.grid, rng - tp)
            if use_fluct and eloss < e:
                eloss = hadron_fluctuation(eloss, tp, e, mass, mp, s)
            if eloss >= e or e - eloss <= tcut:
                eloss = e
                stopped = True
        e_end = e - eloss
        stats[S_TRACK_CHARGED] += tp
        stats[S_STEPS_CHARGED] += 1.0
        n_left -= tp * sig
        if use_msc and not stopped and tp > 0.0:
            invbcp = math.sqrt((e + mass) * (e_end + mass) / (e * (e + 2.0 * mass) * e_end * (e_end + 2.0 * mass)))
            beta2 = e * (e + 2.0 * mass) / ((e + mass) * (e + mass))
            yx = tp / mp[P_X0]
            theta0 = 13.6 * invbcp * math.sqrt(yx) * max(1.0 + 0.038 * math.log(yx / beta2), 0.0)
            if theta0 > 0.0:
                z1 = gauss(s)
                z2 = gauss(s)
                z3 = gauss(s)
                z4 = gauss(s)
                tx = theta0 * z2
                ty = theta0 * z4
                norm = 1.0 / math.sqrt(1.0 + tx * tx + ty * ty)
                nx, ny, nz = rotate_uz(ux, uy, uz, tx * norm, ty * norm, norm)
                if use_disp and not crossing:
                    lx = tp * theta0 * (z1 * INV_SQRT12 + 0.5 * z2)
                    ly = tp * theta0 * (z3 * INV_SQRT12 + 0.5 * z4)
                    rr = math.sqrt(lx * lx + ly * ly)
                    post = 0.99 * safety(det, slab, x, y, z)
                    if rr > 0.0 and post > GEOM_MIN:
                        if rr > post:
                            lx *= post / rr
                            ly *= post / rr
                        dx, dy, dz = rotate_uz(ux, uy, uz, lx, ly, 0.0)
                        x += dx
                        y += dy
                        z += dz
                ux, uy, uz = nx, ny, nz
        nhit = deposit(det, slab, eloss, 0.5 * (x0 + x), 0.5 * (y0 + y), 0.5 * (z0 + z), vox, over, stats, hits, nhit)
        e = e_end
        if stopped:
            return hadron_at_rest(ptype, x, y, z, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits, nhit, s)
        if crossing:
            if face == 2:
                stats[S_ESCAPED] += e
                return n, nhit
            b = slab + 1 if face == 1 else slab
            slab = b if uz > 0.0 else b - 1
            if slab < 0 or slab >= nslab:
                stats[S_ESCAPED] += e
                return n, nhit
            continue
        if not discrete:
            continue
        n_left = -math.log(rand_open(s))
        i, f = ebin(tab.grid, e)
        s_delta = lin(htab.delta[m, k], i, f)
        s_inel = lin(htab.inel[m, k], i, f)
        r = rand(s) * sig
        if r < s_delta:
            td = sample_delta_hadron(e, mass, mp[P_CUT_EM], not pion, s)
            ptot = math.sqrt(e * (e + 2.0 * mass))
            pd = math.sqrt(td * (td + TWO_MASS))
            cost = min(td * (e + mass + MASS) / (pd * ptot), 1.0)
            sint = math.sqrt(max((1.0 - cost) * (1.0 + cost), 0.0))
            phi = TWO_PI * rand(s)
            dx, dy, dz = rotate_uz(ux, uy, uz, sint * math.cos(phi), sint * math.sin(phi), cost)
            n = push(sf, si, n, ELECTRON, td, x, y, z, dx, dy, dz, slab, stats)
            ux, uy, uz = _normalise(ptot * ux - pd * dx, ptot * uy - pd * dy, ptot * uz - pd * dz)
            e -= td
        elif r < s_delta + s_inel:
            return hadron_interaction(
                ptype, e, x, y, z, ux, uy, uz, slab, tab, htab, det, cfg, sf, si, n, vox, over, stats, hits,
                nhit, s, False,
            )  # fmt: skip
        # else: a fictitious interaction of the majorant


# ================================================================================================
# one shower, and a batch of showers
# ================================================================================================
@kernel
def simulate_shower(ptype, e0, x, y, z, ux, uy, uz, tab, htab, det, cfg, state, vox, over, stats, hits, sf, si):
    """Simulate one shower; adds to ``vox (n_voxels,)``, ``over (n_layers,)``, ``stats (STATS_SIZE,)``.

    ``tab`` are the electromagnetic tables (:class:`~caloforge.detsim.tables.KernelTables`), ``htab`` the
    hadronic ones (:class:`~caloforge.detsim.hadron.HadronTables`).

    ``sf (max_stack, 7)`` float64 and ``si (max_stack, 2)`` int64 are the particle stack (work space);
    ``hits (n, 4)`` receives (x, y, z, E) of scored deposits (``n = 0`` records none). Returns the number of
    hits (more than ``n`` if the buffer was too small). Compiled without numba's reference counting (the
    atomic increments on every call with array arguments cost more than the physics), so nothing here
    allocates.
    """
    nslab = det.slab_mat.shape[0]
    nhit = 0
    # the gun may stand in front of the stack: fly through the vacuum to the front face
    if z < det.slab_z[0]:
        if uz <= 0.0:
            stats[S_ESCAPED] += e0 + TWO_MASS if ptype == POSITRON else e0
            return nhit
        d = (det.slab_z[0] - z) / uz
        x += d * ux
        y += d * uy
        z = det.slab_z[0]
    slab = find_slab(det.slab_z, z)
    if slab < 0 or slab >= nslab or abs(x) >= det.half[0] or abs(y) >= det.half[1]:
        stats[S_ESCAPED] += e0 + TWO_MASS if ptype == POSITRON else e0
        return nhit
    n = push(sf, si, 0, ptype, e0, x, y, z, ux, uy, uz, slab, stats)
    while n > 0:
        n -= 1
        pt = si[n, 0]
        sl = si[n, 1]
        e = sf[n, 0]
        if pt == GAMMA:
            n, nhit = transport_photon(
                e,
                sf[n, 1],
                sf[n, 2],
                sf[n, 3],
                sf[n, 4],
                sf[n, 5],
                sf[n, 6],
                sl,
                tab,
                det,
                cfg,
                sf,
                si,
                n,
                vox,
                over,
                stats,
                hits,
                nhit,
                state,
            )
        elif pt == ELECTRON or pt == POSITRON:  # noqa: SIM109 (numba)
            n, nhit = transport_charged(
                pt,
                e,
                sf[n, 1],
                sf[n, 2],
                sf[n, 3],
                sf[n, 4],
                sf[n, 5],
                sf[n, 6],
                sl,
                tab,
                det,
                cfg,
                sf,
                si,
                n,
                vox,
                over,
                stats,
                hits,
                nhit,
                state,
            )
        else:
            n, nhit = transport_hadron(
                pt, e, sf[n, 1], sf[n, 2], sf[n, 3], sf[n, 4], sf[n, 5], sf[n, 6], sl, tab, htab, det, cfg, sf, si,
                n, vox, over, stats, hits, nhit, state,
            )  # fmt: skip
        if stats[S_MAX_STACK] < 0.0:
            return nhit
    return nhit


@kernel
def run_showers(ptype, energy, pos, direction, states, tab, htab, det, cfg, vox, over, stats, hits, sf, si):
    """Simulate a batch: shower ``k`` uses ``states[k]`` and fills row ``k`` of ``vox``, ``over``, ``stats``."""
    for k in range(energy.shape[0]):
        simulate_shower(
            ptype[k],
            energy[k],
            pos[k, 0],
            pos[k, 1],
            pos[k, 2],
            direction[k, 0],
            direction[k, 1],
            direction[k, 2],
            tab,
            htab,
            det,
            cfg,
            states[k],
            vox[k],
            over[k],
            stats[k],
            hits,
            sf,
            si,
        )
