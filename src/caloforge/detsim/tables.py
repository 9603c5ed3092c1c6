"""Physics tables per material, built once at start-up and cached on disk (PHYSICS.md §2, §3, §6, §7).

Every quantity is tabulated on one log-energy grid (:data:`GRID_EMIN` .. :data:`GRID_EMAX`, :data:`GRID_PER_DECADE`
points per decade) and interpolated linearly in ln E by the kernels. A :class:`MaterialTables` holds one material
for one range cut; :func:`pack_tables` stacks several into the flat float64 arrays the numba transport reads.

Cache: ``$CALOFORGE_CACHE`` or ``~/.cache/caloforge``, file ``detsim-tables-<hash>.npz`` keyed by the material
definition, the range cut and :data:`TABLE_VERSION`; written atomically. An unwritable cache directory is not an
error: the tables are then computed in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from caloforge.detsim import electron, msc, photon, sandia
from caloforge.detsim.cuts import production_thresholds
from caloforge.exceptions import SimulationError
from caloforge.geometry.materials import Material, radiation_length

__all__ = [
    "GRID_EMAX",
    "GRID_EMIN",
    "GRID_PER_DECADE",
    "TABLE_VERSION",
    "KernelTables",
    "MaterialTables",
    "build_material_tables",
    "energy_grid",
    "material_tables",
    "pack_tables",
]

TABLE_VERSION = 3
GRID_EMIN = 1e-4  # MeV
GRID_EMAX = 1e7  # MeV
GRID_PER_DECADE = 40
MAX_ELEMENTS = 8
MAX_EDGES = 8
MAX_SANDIA = 128

# indices of the e± table (axis 1 of MaterialTables.eloss and KernelTables.eloss)
DEDX, RANGE, SIG_ION, SIG_BREM, SIG_ANN, LAMBDA1 = range(6)
N_ELOSS = 6
# indices of the photon table
SIG_COMPTON, SIG_PAIR, SIG_PE = range(3)
N_PHOT = 3
# material scalar parameters (KernelTables.mat_par)
(
    P_DENSITY,
    P_CUT_GAMMA,
    P_CUT_EM,
    P_CUT_EP,
    P_X0,
    P_ZEFF,
    P_KP2,
    P_ELPM,
    P_LPM_THRESHOLD,
    P_I,
    P_LOG_I,
    P_NE,
    P_TH1,
    P_TH2,
    P_C1,
    P_C2,
    P_C3,
    P_C4,
    P_F1,
    P_F2,
    P_E1,
    P_E2,
    P_LOGE1,
    P_LOGE2,
    P_NEL,
    P_NSANDIA,
) = range(26)
N_MATPAR = 26
# element parameters (KernelTables.el_par)
(
    E_Z,
    E_LOGZ,
    E_FZ,
    E_ZF1,
    E_ZF2,
    E_GAMMAF,
    E_EPSF,
    E_S1,
    E_ILS1,
    E_ILS1C,
    E_COMPLETE,
    E_FC,
    E_Z13,
    E_NEDGES,
) = range(14)
N_ELPAR = 14


def energy_grid() -> np.ndarray:
    """The common log-energy grid (MeV), ``(n_energies,)``."""
    n = round(math.log10(GRID_EMAX / GRID_EMIN) * GRID_PER_DECADE)
    return GRID_EMIN * 10.0 ** (np.arange(n + 1) / GRID_PER_DECADE)


@dataclass(frozen=True)
class MaterialTables:
    """Tables of one material for one range cut.

    Attributes:
        name: material name.
        range_cut: mm.
        cuts: production thresholds (gamma, e-, e+) in MeV.
        eloss: ``(2, 6, n_E)``: for e- then e+: restricted dE/dx (MeV/mm), range (mm), Møller/Bhabha and
            bremsstrahlung cross sections above the cuts (1/mm), annihilation (e+ only, 1/mm), transport mean
            free path lambda1 (mm).
        phot: ``(3, n_E)``: Compton, pair, photo-electric macroscopic cross sections (1/mm).
        brem_el, pair_el, pe_el: ``(n_el, n_E)`` per-element cross sections for choosing the target atom.
        params: scalar material parameters (see :func:`_material_params`).
    """

    name: str
    range_cut: float
    cuts: tuple[float, float, float]
    eloss: np.ndarray
    phot: np.ndarray
    brem_el: np.ndarray
    pair_el: np.ndarray
    pe_el: np.ndarray
    params: dict[str, float]


def _range_table(grid: np.ndarray, dedx: np.ndarray) -> np.ndarray:
    """Range (mm) by integrating 1/dedx on the log grid (trapezoid on a 4× finer sub-grid in ln E)."""
    log_e = np.log(grid)
    fine = np.linspace(log_e[0], log_e[-1], 4 * (grid.size - 1) + 1)
    inv = np.exp(fine) / np.interp(fine, log_e, dedx)  # dE/dedx = E dlnE/dedx
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(fine))])
    r0 = 2.0 * grid[0] / dedx[0]  # below the grid dE/dx ∝ sqrt(E) (G4MollerBhabha low-energy form)
    return r0 + cumulative[::4]


def _fluct_params(material: Material) -> dict[str, float]:
    """Urban fluctuation constants of the material (G4IonisParamMat; PHYSICS.md §3.2)."""
    zeff = electron.electrons_per_atom(material)
    f2 = 2.0 / zeff if zeff > 2.0 else 0.0
    f1 = 1.0 - f2
    e2 = 10e-6 * zeff * zeff
    log_i = math.log(material.I * 1e-6)
    log_e1 = (log_i - f2 * math.log(e2)) / f1
    return {"f1": f1, "f2": f2, "e1": math.exp(log_e1), "e2": e2, "log_e1": log_e1, "log_e2": math.log(e2)}


def _msc_params(zeff: float) -> dict[str, float]:
    """Urban theta0 correction and tail coefficients (G4UrbanMscModel::UpdateCache; PHYSICS.md §3.4)."""
    ln_z = math.log(zeff)
    w = math.exp(ln_z / 6.0)
    facz = 0.990395 + w * (-0.168386 + w * 0.093286)
    z13 = math.exp(ln_z / 3.0)
    return {
        "th1": facz * (1.0 - 8.7780e-2 / zeff),
        "th2": facz * (4.0780e-2 + 1.7315e-4 * zeff),
        "c1": 2.3785 - z13 * (4.1981e-1 - z13 * 6.3100e-2),
        "c2": 4.7526e-1 + z13 * (1.7694 - z13 * 3.3885e-1),
        "c3": 2.3683e-1 - z13 * (1.8111 - z13 * 3.2774e-1),
        "c4": 1.7888e-2 + z13 * (1.9659e-2 - z13 * 2.6664e-3),
    }


def build_material_tables(material: Material, range_cut: float) -> MaterialTables:
    """Compute every table of ``material`` for ``range_cut`` mm (about a second; see :func:`material_tables`)."""
    if len(material.components) > MAX_ELEMENTS:
        raise SimulationError(f"material {material.name!r} has more than {MAX_ELEMENTS} elements")
    grid = energy_grid()
    thr = production_thresholds(material, range_cut)
    eloss = np.zeros((2, N_ELOSS, grid.size))
    brem_el = np.zeros((len(material.components), grid.size))
    for q, (positron, cut) in enumerate(((False, thr.electron), (True, thr.positron))):
        coll = electron.collision_dedx(material, grid, cut, positron)
        rad, sig_b, sig_b_el = electron.brems_loss_and_xs(material, grid, thr.gamma)
        dedx = coll + rad
        eloss[q, DEDX] = dedx
        eloss[q, RANGE] = _range_table(grid, dedx)
        eloss[q, SIG_ION] = electron.moller_bhabha_per_volume(material, grid, cut, positron)
        eloss[q, SIG_BREM] = sig_b
        if positron:
            eloss[q, SIG_ANN] = electron.annihilation_per_volume(material, grid)
        eloss[q, LAMBDA1] = msc.transport_mean_free_path(material, grid, positron)
        brem_el = sig_b_el
    phot = np.zeros((N_PHOT, grid.size))
    atoms = photon.atom_densities(material)
    pair_el = np.array([n * photon.pair_per_atom(Z, grid) for Z, n in atoms])
    phot[SIG_COMPTON] = photon.mu_compton(material, grid)
    phot[SIG_PAIR] = pair_el.sum(axis=0)
    phot[SIG_PE] = sandia.mu_photoelectric(material, grid)
    pe_el = np.array(
        [sandia.mu_photoelectric(_single_element(material, el.symbol, w), grid) for el, w in material.elements()]
    )
    zeff = electron.electrons_per_atom(material)
    kp2 = electron.plasma_energy_factor(material)
    e_lpm = electron.lpm_energy(material)
    params = {
        "density": material.density,
        "x0": radiation_length(material) / material.density * 10.0,
        "zeff": zeff,
        "kp2": kp2,
        "e_lpm": e_lpm,
        "lpm_threshold": math.sqrt(kp2) * e_lpm,
        "I": material.I * 1e-6,
        "n_e": material.electron_density * 1e-3,
        **_msc_params(zeff),
        **_fluct_params(material),
    }
    return MaterialTables(
        name=material.name,
        range_cut=range_cut,
        cuts=(thr.gamma, thr.electron, thr.positron),
        eloss=eloss,
        phot=phot,
        brem_el=brem_el,
        pair_el=pair_el,
        pe_el=pe_el,
        params=params,
    )


def _single_element(material: Material, symbol: str, weight: float) -> Material:
    """The material's share of one element, as a pure material of density rho w (for per-element sigma_pe)."""
    return Material(
        name=f"{material.name}:{symbol}", density=material.density * weight, components=((symbol, 1.0),), I=1.0
    )


# ------------------------------------------------------------------------------------------------
# disk cache
# ------------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``$CALOFORGE_CACHE`` or ``~/.cache/caloforge``."""
    env = os.environ.get("CALOFORGE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "caloforge"


def _cache_key(material: Material, range_cut: float) -> str:
    desc = {
        "version": TABLE_VERSION,
        "grid": [GRID_EMIN, GRID_EMAX, GRID_PER_DECADE],
        "density": material.density,
        "components": [[s, w] for s, w in material.components],
        "I": material.I,
        "density_effect": None if material.density_effect is None else list(material.density_effect.__dict__.values()),
        "range_cut": range_cut,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:20]


def _save(path: Path, t: MaterialTables) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                eloss=t.eloss,
                phot=t.phot,
                brem_el=t.brem_el,
                pair_el=t.pair_el,
                pe_el=t.pe_el,
                cuts=np.asarray(t.cuts),
                params=json.dumps(t.params),
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path, material: Material, range_cut: float) -> MaterialTables | None:
    try:
        with np.load(path) as z:
            cuts = tuple(float(c) for c in z["cuts"])
            return MaterialTables(
                name=material.name,
                range_cut=range_cut,
                cuts=(cuts[0], cuts[1], cuts[2]),
                eloss=z["eloss"],
                phot=z["phot"],
                brem_el=z["brem_el"],
                pair_el=z["pair_el"],
                pe_el=z["pe_el"],
                params=json.loads(str(z["params"])),
            )
    except (OSError, KeyError, ValueError):
        return None


def material_tables(material: Material, range_cut: float, *, use_cache: bool = True) -> MaterialTables:
    """The tables of ``material`` for ``range_cut`` mm, from the disk cache when possible."""
    if not use_cache:
        return build_material_tables(material, range_cut)
    path = cache_dir() / f"detsim-tables-{_cache_key(material, range_cut)}.npz"
    if path.exists():
        loaded = _load(path, material, range_cut)
        if loaded is not None:
            return loaded
    tables = build_material_tables(material, range_cut)
    with contextlib.suppress(OSError):  # read-only or missing cache folder: keep the tables in memory only
        _save(path, tables)
    return tables


# ------------------------------------------------------------------------------------------------
# packing for the kernels
# ------------------------------------------------------------------------------------------------
class KernelTables(NamedTuple):
    """Flat arrays read by the numba transport (index ``m`` = material of :attr:`names`).

    Attributes:
        grid: ``(3,)`` ln(E_min), 1/d(ln E), n_E.
        eloss: ``(n_mat, 2, 6, n_E)`` e± tables (see :class:`MaterialTables`).
        phot: ``(n_mat, 3, n_E)`` photon cross sections.
        mat_par: ``(n_mat, N_MATPAR)`` scalars (P_* indices).
        el_par: ``(n_mat, MAX_ELEMENTS, N_ELPAR)`` element constants (E_* indices).
        el_edges: ``(n_mat, MAX_ELEMENTS, MAX_EDGES)`` absorption edges (MeV), ascending.
        brem_cdf, pair_cdf, pe_cdf: ``(n_mat, MAX_ELEMENTS, n_E)`` cumulative element fractions.
        sandia_e: ``(n_mat, MAX_SANDIA)`` lower edges of the merged Sandia intervals (MeV).
        sandia_c: ``(n_mat, MAX_SANDIA, 4)`` coefficients: mu_pe = sum_k c_k / E^(k+1) (1/mm).
    """

    grid: np.ndarray
    eloss: np.ndarray
    phot: np.ndarray
    mat_par: np.ndarray
    el_par: np.ndarray
    el_edges: np.ndarray
    brem_cdf: np.ndarray
    pair_cdf: np.ndarray
    pe_cdf: np.ndarray
    sandia_e: np.ndarray
    sandia_c: np.ndarray


def _cdf(per_el: np.ndarray) -> np.ndarray:
    total = per_el.sum(axis=0)
    c = np.cumsum(per_el, axis=0) / np.where(total > 0, total, 1.0)
    c[-1] = 1.0
    return c


def pack_tables(materials: list[Material], tables: list[MaterialTables]) -> KernelTables:
    """Stack the tables of several materials into :class:`KernelTables` (order of ``materials``)."""
    grid = energy_grid()
    n_mat, n_e = len(materials), grid.size
    eloss = np.stack([t.eloss for t in tables])
    phot = np.stack([t.phot for t in tables])
    mat_par = np.zeros((n_mat, N_MATPAR))
    el_par = np.zeros((n_mat, MAX_ELEMENTS, N_ELPAR))
    el_edges = np.zeros((n_mat, MAX_ELEMENTS, MAX_EDGES))
    brem_cdf = np.ones((n_mat, MAX_ELEMENTS, n_e))
    pair_cdf = np.ones((n_mat, MAX_ELEMENTS, n_e))
    pe_cdf = np.ones((n_mat, MAX_ELEMENTS, n_e))
    sandia_e = np.full((n_mat, MAX_SANDIA), np.inf)
    sandia_c = np.zeros((n_mat, MAX_SANDIA, 4))
    for m, (mat, t) in enumerate(zip(materials, tables, strict=True)):
        p = t.params
        row = mat_par[m]
        row[P_DENSITY] = p["density"]
        row[P_CUT_GAMMA], row[P_CUT_EM], row[P_CUT_EP] = t.cuts
        row[P_X0] = p["x0"]
        row[P_ZEFF] = p["zeff"]
        row[P_KP2] = p["kp2"]
        row[P_ELPM] = p["e_lpm"]
        row[P_LPM_THRESHOLD] = p["lpm_threshold"]
        row[P_I] = p["I"]
        row[P_LOG_I] = math.log(p["I"])
        row[P_NE] = p["n_e"]
        row[P_TH1], row[P_TH2] = p["th1"], p["th2"]
        row[P_C1], row[P_C2], row[P_C3], row[P_C4] = p["c1"], p["c2"], p["c3"], p["c4"]
        row[P_F1], row[P_F2] = p["f1"], p["f2"]
        row[P_E1], row[P_E2] = p["e1"], p["e2"]
        row[P_LOGE1], row[P_LOGE2] = p["log_e1"], p["log_e2"]
        elements = mat.elements()
        row[P_NEL] = len(elements)
        for j, (el, _) in enumerate(elements):
            b = electron.brems_element(el)
            ep = el_par[m, j]
            ep[E_Z] = el.Z
            ep[E_LOGZ] = b.log_z
            ep[E_FZ] = b.fz
            ep[E_ZF1] = b.z_factor1
            ep[E_ZF2] = b.z_factor2
            ep[E_GAMMAF] = b.gamma_factor
            ep[E_EPSF] = b.epsilon_factor
            ep[E_S1] = b.var_s1
            ep[E_ILS1] = b.il_var_s1
            ep[E_ILS1C] = b.il_var_s1_cond
            ep[E_COMPLETE] = 1.0 if b.complete_screening else 0.0
            ep[E_FC] = electron.coulomb_correction(el.Z)
            ep[E_Z13] = el.Z ** (1.0 / 3.0)
            edges = sandia.absorption_edges(el.Z)[-MAX_EDGES:]
            ep[E_NEDGES] = edges.size
            el_edges[m, j, : edges.size] = edges
        nel = len(elements)
        brem_cdf[m, :nel] = _cdf(t.brem_el)
        pair_cdf[m, :nel] = _cdf(t.pair_el)
        pe_cdf[m, :nel] = _cdf(t.pe_el)
        edges_s, coef_s = sandia.material_intervals(mat)
        if edges_s.size > MAX_SANDIA:
            raise SimulationError(f"material {mat.name!r} has too many photo-absorption intervals")
        sandia_e[m, : edges_s.size] = edges_s
        sandia_c[m, : edges_s.size] = coef_s
        row[P_NSANDIA] = edges_s.size
    log_e = np.log(grid)
    grid_info = np.array([log_e[0], 1.0 / (log_e[1] - log_e[0]), float(n_e)])
    return KernelTables(
        grid=grid_info,
        eloss=np.ascontiguousarray(eloss),
        phot=np.ascontiguousarray(phot),
        mat_par=mat_par,
        el_par=el_par,
        el_edges=el_edges,
        brem_cdf=brem_cdf,
        pair_cdf=pair_cdf,
        pe_cdf=pe_cdf,
        sandia_e=sandia_e,
        sandia_c=sandia_c,
    )
