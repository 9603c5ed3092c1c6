"""Validation of the reference simulation against PHYSICS.md §10 (``make validate``; a fast subset in the tests).

Each check yields :class:`Row` objects: the quantity, its target with a tolerance, the measured value and
whether it is within. Misses are kept in the table (docs/validation.md explains them); nothing is hidden.

Reference geometries built here: homogeneous blocks (40 X0 deep, 0.25 X0 layers, radial rings in Molière radii),
a CALICE-like Si/W stack (arXiv:0811.2354) and an ATLAS-barrel-like Pb/LAr stack (physics/0608012).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from caloforge.detsim import cuts, electron, msc, photon
from caloforge.detsim.gun import EnergySpectrum, ParticleGun
from caloforge.detsim.production import simulate_in_memory
from caloforge.detsim.transport import S_ESCAPED, S_TRACK_CHARGED
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
    mixture,
    radiation_length,
)

__all__ = [
    "Row",
    "analytic_rows",
    "atlas_like_geometry",
    "calice_like_geometry",
    "fit_longitudinal",
    "format_table",
    "homogeneous_geometry",
    "run_validation",
    "sampling_rows",
    "shower_rows",
]

RADII_RM = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 5.0, 10.0, 100.0)


@dataclass
class Row:
    """One line of the validation table.

    ``tolerance`` is absolute unless ``relative`` (then a fraction of the target); ``target`` may be a
    ``(low, high)`` interval, in which case the tolerance widens it.
    """

    id: str
    quantity: str
    conditions: str
    target: float | tuple[float, float]
    measured: float
    tolerance: float
    relative: bool = False
    source: str = ""
    fmt: str = ".4g"

    @property
    def deviation(self) -> float:
        if isinstance(self.target, tuple):
            lo, hi = self.target
            return 0.0 if lo <= self.measured <= hi else min(abs(self.measured - lo), abs(self.measured - hi))
        return self.measured - self.target

    @property
    def ok(self) -> bool:
        if not math.isfinite(self.measured):
            return False
        if isinstance(self.target, tuple):
            lo, hi = self.target
            tol = self.tolerance * (abs(lo) + abs(hi)) / 2 if self.relative and math.isfinite(hi) else self.tolerance
            return bool(lo - tol <= self.measured <= hi + tol)
        tol = self.tolerance * abs(self.target) if self.relative else self.tolerance
        return bool(abs(self.measured - self.target) <= tol)

    def cells(self) -> list[str]:
        if isinstance(self.target, tuple) and math.isinf(self.target[1]):
            target = f"≥ {self.target[0]:{self.fmt}}"
        elif isinstance(self.target, tuple):
            target = f"{self.target[0]:{self.fmt}}–{self.target[1]:{self.fmt}}"
        else:
            target = f"{self.target:{self.fmt}}"
        tol = f"±{100 * self.tolerance:.3g} %" if self.relative else f"±{self.tolerance:{self.fmt}}"
        if isinstance(self.target, tuple):
            dev = f"{self.deviation:+.3g}"
        elif self.relative and self.target != 0:
            dev = f"{100 * (self.measured / self.target - 1):+.2f} %"
        else:
            dev = f"{self.deviation:+.3g}"
        return [
            self.id,
            self.quantity,
            self.conditions,
            target,
            tol,
            f"{self.measured:{self.fmt}}",
            dev,
            "ok" if self.ok else "MISS",
        ]


def format_table(rows: Iterable[Row]) -> str:
    """A Markdown table of the rows."""
    head = ["id", "quantity", "conditions", "target", "tolerance", "measured", "deviation", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# geometries
# ------------------------------------------------------------------------------------------------
def x0_mm(material: str) -> float:
    m = get_material(material)
    return radiation_length(m) / m.density * 10.0


def homogeneous_geometry(
    material: str, depth_x0: float = 40.0, step_x0: float = 0.25, width: float = 2000.0
) -> Geometry:
    """A block of ``material``: readout layers of ``step_x0`` X0, rings at :data:`RADII_RM` Molière radii."""
    m = get_material(material)
    x0 = x0_mm(material)
    rm = electron.moliere_radius(m)
    n_layers = round(depth_x0 / step_x0)
    dz = step_x0 * x0
    stack = Stack(blocks=(Block((Slab(material, dz),), repeat=n_layers),), width_x=width, width_y=width, range_cut=0.7)
    edges = tuple(r * rm for r in RADII_RM)
    layers = tuple(ReadoutLayer(CylindricalBins(edges, 1), k * dz, (k + 1) * dz, k) for k in range(n_layers))
    return Geometry(name=f"block-{material}", layers=layers, stack=stack, beam_z=-1.0)


def _single_readout(stack: Stack) -> tuple[ReadoutLayer, ...]:
    return (ReadoutLayer(CartesianGrid(1, 1, stack.width_x, stack.width_y), 0.0, stack.depth, 0),)


def calice_like_geometry() -> Geometry:
    """CALICE Si/W physics prototype (NIM A608 (2009) 372, arXiv:0811.2354): 3 × 10 layers of 1.4, 2.8, 4.2 mm W
    with 0.525 mm Si; readout = one layer per section (Si energy), to apply the 1:2:3 sampling weights."""
    si = Slab("Si", 0.525)
    blocks = tuple(Block((Slab("W", t), si), repeat=10) for t in (1.4, 2.8, 4.2))
    stack = Stack(blocks=blocks, width_x=500.0, width_y=500.0, sensitive=("Si",), range_cut=0.7)
    z = 0.0
    layers = []
    for k, t in enumerate((1.4, 2.8, 4.2)):
        depth = 10 * (t + 0.525)
        layers.append(ReadoutLayer(CartesianGrid(1, 1, 500.0, 500.0), z, z + depth, k))
        z += depth
    return Geometry(name="calice-like", layers=tuple(layers), stack=stack, beam_z=-1.0)


def atlas_like_geometry() -> Geometry:
    """ATLAS EM barrel, simplified (PHYSICS.md §9.3): 91 × (1.53 mm Pb + 4.2 mm LAr) ≈ 27.6 X0, LAr scored."""
    stack = Stack(
        blocks=(Block((Slab("Pb", 1.53), Slab("LAr", 4.2)), repeat=91),),
        width_x=1000.0,
        width_y=1000.0,
        sensitive=("LAr",),
        range_cut=0.7,
    )
    return Geometry(name="atlas-like", layers=_single_readout(stack), stack=stack, beam_z=-1.0)


# ------------------------------------------------------------------------------------------------
# analytic checks: V1–V6
# ------------------------------------------------------------------------------------------------
_V1_MATERIALS = ("Pb", "W", "Fe", "Cu", "LAr", "Si", "Al", "PbWO4")

# PHYSICS.md §2.3 attenuation table (cm^2/g, no Rayleigh); energies in MeV
_ATTEN_E = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0)
_ATTEN = {
    "Pb": (5.326, 0.1509, 0.06866, 0.04527, 0.04289, 0.05041, 0.09097, 0.1163),
    "W": (4.252, 0.1291, 0.0643, 0.04379, 0.04104, 0.04781, 0.08601, 0.1101),
    "Cu": (0.4125, 0.08198, 0.05897, 0.04201, 0.03163, 0.03082, 0.04602, 0.05836),
    "Fe": (0.3329, 0.08282, 0.05999, 0.04261, 0.03132, 0.02976, 0.04283, 0.05416),
    "LAr": (0.1819, 0.07902, 0.0578, 0.04068, 0.02789, 0.0244, 0.03047, 0.03802),
    "Si": (0.1672, 0.08718, 0.06388, 0.04474, 0.02952, 0.02452, 0.02742, 0.03379),
}
# PHYSICS.md §7.1 thresholds at 0.7 mm: gamma [keV], e- [MeV], e+ [MeV]
_CUTS = {
    "Pb": (94.7, 1.007, 0.947),
    "W": (97.8, 1.649, 1.539),
    "Fe": (17.3, 0.955, 0.907),
    "Cu": (20.6, 1.034, 0.980),
    "LAr": (5.20, 0.274, 0.266),
    "Si": (5.86, 0.423, 0.409),
    "Al": (5.85, 0.461, 0.445),
    "PbWO4": (75.8, 0.842, 0.798),
}


def _mu_pdg_min_dedx(material: str) -> float:
    """Minimum of the Bethe mean stopping power of a muon (MeV cm^2/g; PHYSICS.md §4 with the density effect)."""
    m = get_material(material)
    p = electron.density_effect_parameters(m)
    mass = 105.6583755
    k = 0.307075
    best = math.inf
    for lbg in np.linspace(0.0, 1.5, 601):
        bg = 10.0**lbg
        gam = math.sqrt(1.0 + bg * bg)
        beta2 = bg * bg / (gam * gam)
        wmax = (
            2
            * electron.ELECTRON_MASS
            * bg
            * bg
            / (1 + 2 * gam * electron.ELECTRON_MASS / mass + (electron.ELECTRON_MASS / mass) ** 2)
        )
        delta = float(electron._delta(p, np.array([lbg]))[0])
        arg = 2 * electron.ELECTRON_MASS * bg * bg * wmax / (m.I * 1e-6) ** 2
        dedx = k * m.z_over_a / beta2 * (0.5 * math.log(arg) - beta2 - 0.5 * delta)
        best = min(best, dedx)
    return best


def analytic_rows() -> list[Row]:
    """V1–V6: material constants, photon attenuation, pair/Compton cross sections, stopping powers, cuts."""
    rows: list[Row] = []
    src = "PDG; PHYSICS.md §6.1"
    for name in _V1_MATERIALS:
        m = get_material(name)
        ref = m.reference
        assert ref is not None
        rows.append(Row("V1", f"X0 {name} [g/cm2]", "Tsai", ref.X0, radiation_length(m), 0.01, True, src))
        rows.append(
            Row("V1", f"Ec(e-) {name} [MeV]", "Rossi", ref.Ec_electron, electron.critical_energy(m), 0.01, True, src)
        )
        rows.append(
            Row(
                "V1",
                f"Ec(e+) {name} [MeV]",
                "Rossi",
                ref.Ec_positron,
                electron.critical_energy(m, True),
                0.01,
                True,
                src,
            )
        )
        rm_gcm2 = electron.moliere_radius(m) / 10.0 * m.density
        ref_rm = ref.moliere_radius * (8.30 if name == "PbWO4" else m.density)  # PDG row of PbWO4 is at 8.30 g/cm3
        rows.append(Row("V1", f"R_M {name} [g/cm2]", "X0 E_s/Ec", ref_rm, rm_gcm2, 0.01, True, src))
        rows.append(
            Row(
                "V1",
                f"dE/dx_min {name} [MeV cm2/g]",
                "muon, Bethe",
                ref.dedx_min,
                _mu_pdg_min_dedx(name),
                0.01,
                True,
                src,
            )
        )
    for name, values in _ATTEN.items():
        mu = photon.total_attenuation(get_material(name), np.array(_ATTEN_E))
        for e, target, got in zip(_ATTEN_E, values, mu, strict=True):
            rows.append(
                Row("V2", f"mu/rho {name} [cm2/g]", f"{e:g} MeV", target, float(got), 0.03, True, "PHYSICS.md §2.3")
            )
    for sym, target in (("Pb", 42.01), ("Fe", 5.21)):
        el = get_material(sym).elements()[0][0]
        sigma = float(photon.pair_per_atom(el.Z, 1e5)[0]) / 1e-22
        pdg = 7.0 / 9.0 * el.A / (6.02214076e23 * radiation_length(get_material(sym))) * 1e24
        rows.append(
            Row(
                "V3",
                f"sigma_pair {sym} [b]",
                "100 GeV vs 7/9 A/(N_A X0)",
                pdg,
                sigma,
                0.02,
                True,
                f"PDG rule = {target} b",
            )
        )
    rows.append(
        Row(
            "V4",
            "sigma_Compton Ge [b/atom]",
            "300 keV",
            11.10,
            float(photon.compton_per_atom(32, 0.3)[0]) / 1e-22,
            0.01,
            True,
            "G4 TestEm0",
        )
    )
    water = mixture("water", 1.0, formula="H2O", I=78.0)
    coll = float(electron.collision_dedx(water, 10.0, None)[0]) * 10.0
    restricted = float(electron.collision_dedx(water, 10.0, 0.085)[0]) * 10.0
    rad = float(electron.brems_loss_and_xs(water, np.array([10.0]), 1e9)[0][0]) * 10.0
    lam1 = float(msc.transport_mean_free_path(water, np.array([10.0]), False)[0]) / 10.0
    ec = electron.critical_energy(water)
    rows += [
        Row("V5", "collision dE/dx water [MeV cm2/g]", "e- 10 MeV", 1.991, coll, 0.01, True, "G4 TestEm0 (opt3)"),
        Row(
            "V5",
            "restricted dE/dx water [MeV cm2/g]",
            "e- 10 MeV, Tc = 85 keV",
            1.613,
            restricted,
            0.01,
            True,
            "G4 TestEm0",
        ),
        Row(
            "V5",
            "radiative dE/dx water [MeV cm2/g]",
            "e- 10 MeV",
            0.1817,
            rad,
            0.03,
            True,
            "G4 TestEm0 (Seltzer-Berger)",
        ),
        Row("V5", "Ec water [MeV]", "Rossi", 78.77, ec, 0.01, True, "G4 TestEm0"),
        Row("V5", "transport mfp water [cm]", "e- 10 MeV", 28.16, lam1, 0.05, True, "G4 TestEm0 (Urban)"),
    ]
    for name, (g, em, ep) in _CUTS.items():
        thr = cuts.production_thresholds(get_material(name), 0.7)
        rows.append(Row("V6", f"gamma cut {name} [keV]", "0.7 mm", g, thr.gamma * 1e3, 0.01, True, "PHYSICS.md §7.1"))
        rows.append(Row("V6", f"e- cut {name} [MeV]", "0.7 mm", em, thr.electron, 0.01, True, "PHYSICS.md §7.1"))
        rows.append(Row("V6", f"e+ cut {name} [MeV]", "0.7 mm", ep, thr.positron, 0.01, True, "PHYSICS.md §7.1"))
    return rows


# ------------------------------------------------------------------------------------------------
# shower profiles in homogeneous media: V7, V8, V11, V12, V25
# ------------------------------------------------------------------------------------------------
def fit_longitudinal(t: np.ndarray, dedt: np.ndarray) -> tuple[float, float]:
    """Fit (1/E) dE/dt = b (bt)^(a−1) e^(−bt)/Gamma(a) to a mean profile; returns ``(a, b)``."""
    from scipy.optimize import curve_fit
    from scipy.special import gammaln

    def f(tt: np.ndarray, a: float, b: float) -> np.ndarray:
        return np.exp(np.log(b) + (a - 1) * np.log(b * tt) - b * tt - gammaln(a))

    p, _ = curve_fit(f, t, dedt, p0=(4.0, 0.5), bounds=([1.01, 0.05], [30.0, 3.0]))
    return float(p[0]), float(p[1])


@dataclass
class BlockResult:
    """Mean profiles of showers in a homogeneous block."""

    material: str
    particle: str
    energy: float
    n: int
    a: float
    b: float
    peak: float
    containment: np.ndarray  # fraction within RADII_RM[1:]
    l95: float
    track_x0: float  # mean charged track length in X0
    seconds: float

    @property
    def t_max(self) -> float:
        return (self.a - 1.0) / self.b


def simulate_block(
    material: str, particle: str, energy: float, n: int, *, seed: int = 1, workers: int = 1
) -> BlockResult:
    """Simulate ``n`` showers of ``energy`` MeV in a 40 X0 block and measure its mean profiles."""
    import time

    g = homogeneous_geometry(material)
    gun = ParticleGun(particle, EnergySpectrum("fixed", (energy,)))
    t0 = time.perf_counter()
    s, stats = simulate_in_memory(g, gun, n, seed=seed, workers=workers)
    seconds = time.perf_counter() - t0
    n_r = len(RADII_RM) - 1
    vox = s.showers.astype(np.float64).reshape(n, g.n_layers, n_r)
    step = 0.25
    dedt = vox.sum(axis=(0, 2)) / (n * energy * step)
    t = (np.arange(g.n_layers) + 0.5) * step
    a, b = fit_longitudinal(t, dedt)
    radial = vox.sum(axis=(0, 1))
    containment = np.cumsum(radial) / radial.sum()
    cum = np.cumsum(vox.sum(axis=(0, 2))) / (n * energy)
    l95 = float(np.interp(0.95, cum, (np.arange(g.n_layers) + 1) * step))
    track = float(stats[:, S_TRACK_CHARGED].mean()) / x0_mm(material)
    return BlockResult(material, particle, energy, n, a, b, float(dedt.max()), containment, l95, track, seconds)


def shower_rows(quick: bool = False, workers: int = 1, log: Callable[[str], None] | None = None) -> list[Row]:
    """V7, V8, V11, V12, V25 from simulated showers in Pb, W, Fe and PbWO4 (``quick``: a small subset)."""
    rows: list[Row] = []
    say = log or (lambda _msg: None)
    plan: list[tuple[str, tuple[str, ...], tuple[float, ...], dict[float, int]]]
    if quick:
        plan = [("Pb", ("e-",), (1000.0, 10000.0), {1000.0: 60, 10000.0: 12})]
    else:
        counts = {1000.0: 1000, 10000.0: 200, 100000.0: 40}
        plan = [(m, ("e-", "gamma"), (1000.0, 10000.0, 100000.0), counts) for m in ("Pb", "W", "Fe", "PbWO4")]
    for material, particles, energies, counts in plan:
        m = get_material(material)
        ec = electron.critical_energy(m)
        for particle in particles:
            results = []
            for e in energies:
                r = simulate_block(material, particle, e, counts[e], workers=workers)
                say(f"  {material} {particle} {e / 1000:g} GeV: n={r.n} t_max={r.t_max:.2f} ({r.seconds:.0f} s)")
                results.append(r)
                c = 0.5 if particle == "gamma" else -0.5
                lny = math.log(e / ec)
                cond = f"{particle} {e / 1000:g} GeV {material}"
                rows.append(
                    Row(
                        "V7",
                        "t_max [X0] vs ln y ∓ 0.5",
                        cond,
                        lny + c,
                        r.t_max,
                        0.5,
                        False,
                        "PDG (approximate rule)",
                        ".3g",
                    )
                )
                if particle == "e-":
                    rows.append(
                        Row(
                            "V12",
                            "GP mean-profile T [X0]",
                            cond,
                            lny - 0.858,
                            r.t_max,
                            0.1,
                            True,
                            "hep-ex/0001020 [mem]",
                            ".3g",
                        )
                    )
                    rows.append(
                        Row(
                            "V12",
                            "GP mean-profile alpha",
                            cond,
                            0.21 + (0.492 + 2.38 / m.Z_eff) * lny,
                            r.a,
                            0.1,
                            True,
                            "hep-ex/0001020 [mem]",
                            ".3g",
                        )
                    )
                    rows.append(
                        Row(
                            "V11",
                            "fraction within 1 R_M",
                            cond,
                            0.90,
                            float(r.containment[1]),
                            0.03,
                            False,
                            "PDG [mem]",
                            ".3f",
                        )
                    )
                    rows.append(
                        Row(
                            "V11",
                            "fraction within 3.5 R_M",
                            cond,
                            0.99,
                            float(r.containment[6]),
                            0.01,
                            False,
                            "PDG [mem]",
                            ".3f",
                        )
                    )
                    l95 = r.t_max + 0.08 * m.Z_eff + 9.6
                    rows.append(
                        Row(
                            "V11",
                            "L95 [X0] vs t_max + 0.08 Z + 9.6",
                            cond,
                            l95,
                            r.l95,
                            1.5,
                            False,
                            "Fabjan-Gianotti [mem]",
                            ".3g",
                        )
                    )
                    rows.append(
                        Row(
                            "V25",
                            "charged track length [X0] vs E/Ec",
                            cond,
                            e / ec,
                            r.track_x0,
                            0.15,
                            True,
                            "Rossi approx. B",
                            ".4g",
                        )
                    )
            if len(results) >= 2:
                slope = (results[-1].t_max - results[0].t_max) / math.log(results[-1].energy / results[0].energy)
                rows.append(Row("V7", "dt_max/d ln E", f"{particle} {material}", 1.0, slope, 0.1, True, "PDG", ".3g"))
    if not quick:
        r = simulate_block("Fe", "e-", 30000.0, 300, workers=workers)
        say(f"  Fe e- 30 GeV (EGS4 reference): a={r.a:.3f} b={r.b:.3f}")
        cond = "e- 30 GeV Fe"
        rows += [
            Row("V8", "gamma-fit a", cond, 4.57, r.a, 0.05, True, "EGS4, PDG fig. (TestEm2 pdg.ascii)", ".3g"),
            Row("V8", "gamma-fit b", cond, 0.549, r.b, 0.05, True, "EGS4", ".3g"),
            Row("V8", "t_max [X0]", cond, 6.50, r.t_max, 0.3, False, "EGS4", ".3g"),
            Row("V8", "peak dE/dt [1/X0]", cond, 0.114, r.peak, 0.05, True, "EGS4", ".3g"),
        ]
        rows.append(
            Row(
                "V25",
                "charged track length [X0] vs E/Ec",
                "e- 5 GeV PbWO4",
                519.0,
                simulate_block("PbWO4", "e-", 5000.0, 100, workers=workers).track_x0,
                0.15,
                True,
                "PHYSICS.md V25",
                ".4g",
            )
        )
    return rows


# ------------------------------------------------------------------------------------------------
# sampling calorimeters: V13, V15, V16, V17, linearity
# ------------------------------------------------------------------------------------------------
def _resolution_fit(energies_gev: np.ndarray, rel: np.ndarray, rel_err: np.ndarray) -> tuple[float, float]:
    """Fit sigma/E = a/sqrt(E) (+) c; returns (a, c) as fractions."""
    from scipy.optimize import curve_fit

    def f(e: np.ndarray, a: float, c: float) -> np.ndarray:
        return np.sqrt(a * a / e + c * c)

    p, _ = curve_fit(f, energies_gev, rel, p0=(0.1, 0.005), sigma=rel_err, bounds=([0.0, 0.0], [1.0, 0.2]))
    return float(p[0]), float(p[1])


def _energy_scan(
    geometry: Geometry,
    energies: tuple[float, ...],
    counts: tuple[int, ...],
    weights: np.ndarray | None,
    workers: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean response / E and sigma/response per energy for e- at normal incidence."""
    means, rels, errs = [], [], []
    for e, n in zip(energies, counts, strict=True):
        gun = ParticleGun("e-", EnergySpectrum("fixed", (e,)))
        s, _ = simulate_in_memory(geometry, gun, n, seed=seed, workers=workers)
        layers = s.layer_energies().astype(np.float64)
        resp = layers @ weights if weights is not None else layers.sum(axis=1)
        mean = float(resp.mean())
        sd = float(resp.std(ddof=1))
        means.append(mean / e)
        rels.append(sd / mean)
        errs.append(sd / mean / math.sqrt(2.0 * (n - 1)))
    return np.array(means), np.array(rels), np.array(errs)


def sampling_rows(quick: bool = False, workers: int = 1, log: Callable[[str], None] | None = None) -> list[Row]:
    """Sampling fractions, containment, linearity and resolution of the target detectors."""
    say = log or (lambda _msg: None)
    rows: list[Row] = []
    # V13: CaloChallenge ds2/ds3 Par04 stack, Si/E
    g2 = get_preset("calochallenge-2")
    e_list = (10000.0,) if quick else (1000.0, 10000.0, 100000.0)
    for e in e_list:
        n = 10 if quick else {1000.0: 400, 10000.0: 100, 100000.0: 20}[e]
        s, _ = simulate_in_memory(g2, ParticleGun("e-", EnergySpectrum("fixed", (e,))), n, seed=7, workers=workers)
        sf = float(s.total_energy().mean() / g2.energy_scale / e)
        say(f"  calochallenge-2 e- {e / 1000:g} GeV: Si/E = {sf:.4f}")
        rows.append(
            Row(
                "V13",
                "sampling fraction Si/E (in readout)",
                f"e- {e / 1000:g} GeV, W 1.4/Si 0.3",
                0.033,
                sf,
                0.05,
                True,
                "CaloChallenge Dataset_creation.ipynb",
                ".4f",
            )
        )
    if quick:
        return rows
    # V15: CaloGAN total-deposit readout; and the argon-only sampling fraction
    for name in ("calogan", "calogan-lar"):
        g = get_preset(name)
        for e in (10000.0, 50000.0):
            s, _stats = simulate_in_memory(
                g, ParticleGun("e+", EnergySpectrum("fixed", (e,))), 40, seed=11, workers=workers
            )
            frac = float(s.total_energy().mean() / e)
            say(f"  {name} e+ {e / 1000:g} GeV: sum/E = {frac:.4f}")
            if name == "calogan":
                rows.append(
                    Row(
                        "V15",
                        "sum of cells / E (Pb+LAr readout)",
                        f"e+ {e / 1000:g} GeV",
                        (0.97, 0.99),
                        frac,
                        0.01,
                        False,
                        "PHYSICS.md §9.1 estimate",
                        ".4f",
                    )
                )
            else:
                rows.append(
                    Row(
                        "V15",
                        "LAr sum / E (calogan-lar), below f_mip",
                        f"e+ {e / 1000:g} GeV",
                        (0.15, 0.2475),
                        frac,
                        0.0,
                        False,
                        "f_mip = 0.2475; e/mip < 1",
                        ".4f",
                    )
                )
    # V16: ATLAS-like Pb/LAr
    ga = atlas_like_geometry()
    energies: tuple[float, ...] = (10000.0, 20000.0, 50000.0, 100000.0)
    means, rel, err = _energy_scan(ga, energies, (400, 300, 150, 100), None, workers, 21)
    a, c = _resolution_fit(np.array(energies) / 1000.0, rel, err)
    say(f"  ATLAS-like: stochastic {100 * a:.2f} %, constant {100 * c:.2f} %, response/E {np.round(means, 4)}")
    rows.append(
        Row(
            "V16",
            "stochastic term [%·√GeV]",
            "ATLAS-like Pb 1.53/LAr 4.2 mm, e- 10–100 GeV",
            10.0,
            100 * a,
            0.15,
            True,
            "physics/0608012 (≈10 %)",
            ".3g",
        )
    )
    rows.append(
        Row(
            "V16",
            "linearity: max deviation of resp/⟨resp⟩ from 1 [%]",
            "ATLAS-like, e- 10–100 GeV",
            0.0,
            100 * float(np.max(np.abs(means / means.mean() - 1))),
            1.0,
            False,
            "physics/0608012 (±0.1 % with corrections)",
            ".3g",
        )
    )
    rows.append(
        Row(
            "V16",
            "sampling fraction LAr/E",
            "ATLAS-like, e- 10 GeV",
            (0.2, 0.312),
            float(means[0]),
            0.0,
            False,
            "f_mip = 0.312, e/mip < 1",
            ".4f",
        )
    )
    # V17: CALICE-like Si/W with the 1:2:3 section weights
    gc = calice_like_geometry()
    energies = (6000.0, 10000.0, 20000.0, 30000.0, 45000.0)
    w = np.array([1.0, 2.0, 3.0])
    means, rel, err = _energy_scan(gc, energies, (500, 400, 250, 200, 150), w, workers, 31)
    a, c = _resolution_fit(np.array(energies) / 1000.0, rel, err)
    say(f"  CALICE-like: stochastic {100 * a:.2f} %, constant {100 * c:.2f} %, response/E {np.round(means, 5)}")
    rows.append(
        Row(
            "V17",
            "stochastic term [%·√GeV]",
            "CALICE-like Si/W, e- 6–45 GeV",
            16.6,
            100 * a,
            0.1,
            True,
            "arXiv:0811.2354",
            ".3g",
        )
    )
    rows.append(
        Row(
            "V17",
            "linearity: max deviation of resp/⟨resp⟩ from 1 [%]",
            "CALICE-like, e- 6–45 GeV",
            0.0,
            100 * float(np.max(np.abs(means / means.mean() - 1))),
            1.0,
            False,
            "arXiv:0811.2354 (within ~1 %)",
            ".3g",
        )
    )
    return rows


def energy_balance(stats: np.ndarray) -> np.ndarray:
    """Deposited + escaped energy per shower (for conservation checks)."""
    from caloforge.detsim.transport import S_EDEP

    return stats[:, S_EDEP] + stats[:, S_ESCAPED]


def run_validation(
    quick: bool = False, workers: int = 1, log: Callable[[str], None] | None = None, only: str = "all"
) -> list[Row]:
    """Every check; ``quick`` runs the fast subset; ``only`` is ``all``, ``em`` or ``hadronic``."""
    from caloforge.detsim.hadron_validation import hadron_rows

    if only not in ("all", "em", "hadronic"):
        raise ValueError(f"only must be all, em or hadronic, got {only!r}")
    say = log or (lambda _msg: None)
    rows: list[Row] = []
    if only in ("all", "em"):
        say("analytic checks (V1–V6)")
        rows += analytic_rows()
        say("showers in homogeneous media (V7, V8, V11, V12, V25)")
        rows += shower_rows(quick, workers, say)
        say("sampling calorimeters (V13, V15–V17)")
        rows += sampling_rows(quick, workers, say)
    if only in ("all", "hadronic"):
        say("hadronic showers (V18–V23, calogan π+ vs e+)")
        rows += hadron_rows(quick, workers, say)
    return rows
