"""Elements and materials of calorimeter stacks.

Every constant carries its source (see ../shared/PHYSICS.md §6 in the design notes; reproduced in docs/physics.md):

* element masses A and mean excitation energies I: NIST/ICRU Report 37 values as used by Geant4's
  ``G4NistMaterialBuilder`` (PHYSICS.md §6.1 for the elements listed there; the others are standard
  NIST values);
* Sternheimer density-effect parameters: Sternheimer, Berger & Seltzer, ADNDT 30 (1984) 261, as in Geant4's
  ``G4DensityEffectData`` (PHYSICS.md §6.3);
* reference X0, Ec, R_M, dE/dx_min and λ_I: PDG "Atomic and nuclear properties of materials", reproduced with
  the Tsai/Berger–Seltzer formulas (PHYSICS.md §6.1). They are stored for comparison and for quick
  descriptions; the simulation computes its own from first principles (``caloforge.detsim.physics``).

Units: density g/cm³, I in eV, lengths in the reference block in g/cm² and cm as labelled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from caloforge.exceptions import GeometryError

__all__ = [
    "ELEMENTS",
    "MATERIALS",
    "DensityEffect",
    "Element",
    "Material",
    "MaterialReference",
    "get_material",
    "mixture",
    "radiation_length",
]

# fine-structure constant (CODATA 2018)
ALPHA = 1.0 / 137.035999
# 4 α r_e² N_A in cm²/mol expressed through the PDG constant 716.408 g/cm² (PDG review "Passage of particles
# through matter", Eq. 34.25: 1/X0 = 4 α r_e² N_A/A {Z² [L_rad − f(Z)] + Z L'_rad})
_X0_CONSTANT = 716.408  # g cm^-2


@dataclass(frozen=True)
class Element:
    """A chemical element.

    Attributes:
        symbol: chemical symbol, e.g. ``"Pb"``.
        Z: atomic number.
        A: molar mass in g/mol.
        I: mean excitation energy in eV (ICRU 37 / NIST).
    """

    symbol: str
    Z: int
    A: float
    I: float


# (symbol, Z, A [g/mol], I [eV]) — NIST/ICRU 37 values (the ones of PHYSICS.md §6.1 agree exactly:
# Pb 207.2/823, W 183.84/727, Fe 55.845/286, Cu 63.546/322, Ar 39.948/188, Si 28.0855/173, Al 26.98/166).
_ELEMENT_ROWS: tuple[tuple[str, int, float, float], ...] = (
    ("H", 1, 1.00794, 19.2),
    ("He", 2, 4.002602, 41.8),
    ("Li", 3, 6.941, 40.0),
    ("Be", 4, 9.012182, 63.7),
    ("B", 5, 10.811, 76.0),
    ("C", 6, 12.0107, 81.0),
    ("N", 7, 14.0067, 82.0),
    ("O", 8, 15.9994, 95.0),
    ("F", 9, 18.9984032, 115.0),
    ("Ne", 10, 20.1797, 137.0),
    ("Na", 11, 22.98977, 149.0),
    ("Mg", 12, 24.305, 156.0),
    ("Al", 13, 26.9815386, 166.0),
    ("Si", 14, 28.0855, 173.0),
    ("P", 15, 30.973762, 173.0),
    ("S", 16, 32.065, 180.0),
    ("Cl", 17, 35.453, 174.0),
    ("Ar", 18, 39.948, 188.0),
    ("K", 19, 39.0983, 190.0),
    ("Ca", 20, 40.078, 191.0),
    ("Ti", 22, 47.867, 233.0),
    ("Cr", 24, 51.9961, 257.0),
    ("Mn", 25, 54.938045, 272.0),
    ("Fe", 26, 55.845, 286.0),
    ("Co", 27, 58.933195, 297.0),
    ("Ni", 28, 58.6934, 311.0),
    ("Cu", 29, 63.546, 322.0),
    ("Zn", 30, 65.38, 330.0),
    ("Ga", 31, 69.723, 334.0),
    ("Ge", 32, 72.64, 350.0),
    ("Br", 35, 79.904, 357.0),
    ("Kr", 36, 83.798, 352.0),
    ("Zr", 40, 91.224, 393.0),
    ("Mo", 42, 95.96, 424.0),
    ("Ag", 47, 107.8682, 470.0),
    ("Cd", 48, 112.411, 469.0),
    ("Sn", 50, 118.71, 488.0),
    ("I", 53, 126.90447, 491.0),
    ("Xe", 54, 131.293, 482.0),
    ("Cs", 55, 132.9054519, 488.0),
    ("Ba", 56, 137.327, 491.0),
    ("La", 57, 138.90547, 501.0),
    ("Ce", 58, 140.116, 523.0),
    ("Gd", 64, 157.25, 591.0),
    ("Lu", 71, 174.9668, 694.0),
    ("Ta", 73, 180.94788, 718.0),
    ("W", 74, 183.84, 727.0),
    ("Pt", 78, 195.084, 790.0),
    ("Au", 79, 196.966569, 790.0),
    ("Pb", 82, 207.2, 823.0),
    ("Bi", 83, 208.9804, 823.0),
    ("U", 92, 238.02891, 890.0),
)

ELEMENTS: dict[str, Element] = {row[0]: Element(*row) for row in _ELEMENT_ROWS}


@dataclass(frozen=True)
class DensityEffect:
    """Sternheimer density-effect parameters (ADNDT 30 (1984) 261).

    δ(x) = 2 ln10 x − C̄ + a (x1 − x)^m for x0 ≤ x < x1, 2 ln10 x − C̄ above x1, δ0 10^{2(x − x0)} below x0,
    with x = log10(βγ). ``c_bar`` is C̄ (positive; the tables list −C).
    """

    c_bar: float
    x0: float
    x1: float
    a: float
    m: float
    delta0: float


@dataclass(frozen=True)
class MaterialReference:
    """Published electromagnetic and nuclear constants of a material (PDG; PHYSICS.md §6.1).

    Lengths per unit density are in g/cm², energies in MeV; ``moliere_radius`` is in cm.
    """

    X0: float
    Ec_electron: float
    Ec_positron: float
    moliere_radius: float
    dedx_min: float
    lambda_I: float


@dataclass(frozen=True)
class Material:
    """A homogeneous material: a density and a composition by mass fraction.

    Attributes:
        name: unique name used in geometry files (``"Pb"``, ``"LAr"``...).
        density: g/cm³.
        components: ``((symbol, mass_fraction), ...)``; fractions sum to 1.
        I: mean excitation energy in eV (tabulated for NIST compounds, else the Bragg rule).
        density_effect: Sternheimer parameters where tabulated, else ``None`` (the simulation then uses the
            Sternheimer–Peierls recipe, PHYSICS.md §6.2).
        state: ``"solid"``, ``"liquid"`` or ``"gas"``.
        reference: published constants for validation, where known.
        source: where the definition comes from.
    """

    name: str
    density: float
    components: tuple[tuple[str, float], ...]
    I: float
    density_effect: DensityEffect | None = None
    state: str = "solid"
    reference: MaterialReference | None = None
    source: str = ""
    aliases: tuple[str, ...] = field(default=())

    def elements(self) -> list[tuple[Element, float]]:
        """The components as ``(Element, mass_fraction)`` pairs."""
        return [(ELEMENTS[s], w) for s, w in self.components]

    @property
    def electron_density(self) -> float:
        """Electrons per cm³: n_e = ρ N_A Σ w_j Z_j/A_j (PHYSICS.md §6.2)."""
        return self.density * 6.02214076e23 * self.z_over_a

    @property
    def z_over_a(self) -> float:
        """<Z/A> = Σ w_j Z_j/A_j in mol/g."""
        return sum(w * e.Z / e.A for e, w in self.elements())

    @property
    def Z_eff(self) -> float:
        """Mass-weighted mean atomic number (the convention of GFlash, PHYSICS.md §8.2)."""
        return sum(w * e.Z for e, w in self.elements())

    @property
    def A_eff(self) -> float:
        """Mass-weighted mean molar mass in g/mol (GFlash convention)."""
        return sum(w * e.A for e, w in self.elements())


def _coulomb_correction(Z: int) -> float:
    """Davies–Bethe–Maximon Coulomb correction f_c(Z) (PHYSICS.md §2.1, as G4Element)."""
    a2 = (ALPHA * Z) ** 2
    return a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)


# Dirac–Fock radiation logarithms for Z = 1..4 (PDG; G4Element): L_rad, L'_rad
_LRAD_LIGHT = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}


def element_radiation_length(element: Element) -> float:
    """Radiation length of an element in g/cm² (Tsai; PDG Eq. 34.25; PHYSICS.md §3.1).

    >>> round(element_radiation_length(ELEMENTS["Pb"]), 2)
    6.37
    """
    Z = element.Z
    if Z in _LRAD_LIGHT:
        l_rad, l_rad_prime = _LRAD_LIGHT[Z]
    else:
        l_rad = math.log(184.15 * Z ** (-1.0 / 3.0))
        l_rad_prime = math.log(1194.0 * Z ** (-2.0 / 3.0))
    return _X0_CONSTANT * element.A / (Z * Z * (l_rad - _coulomb_correction(Z)) + Z * l_rad_prime)


def radiation_length(material: Material) -> float:
    """Radiation length in g/cm² with the mixture rule 1/X0 = Σ w_j/X0_j (PHYSICS.md §6.2)."""
    inv = sum(w / element_radiation_length(e) for e, w in material.elements())
    return 1.0 / inv


def _bragg_I(components: tuple[tuple[str, float], ...]) -> float:
    """Bragg additivity for the mean excitation energy (PHYSICS.md §6.2)."""
    num = sum(w * ELEMENTS[s].Z / ELEMENTS[s].A * math.log(ELEMENTS[s].I) for s, w in components)
    den = sum(w * ELEMENTS[s].Z / ELEMENTS[s].A for s, w in components)
    return math.exp(num / den)


_FORMULA = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def parse_formula(formula: str) -> tuple[tuple[str, float], ...]:
    """Mass fractions from a chemical formula such as ``"PbWO4"`` or ``"C9H10"``.

    >>> [(s, round(w, 4)) for s, w in parse_formula("PbWO4")]
    [('Pb', 0.4553), ('W', 0.404), ('O', 0.1406)]
    """
    counts: dict[str, float] = {}
    pos = 0
    for match in _FORMULA.finditer(formula):
        if match.start() != pos:
            break
        symbol, number = match.group(1), match.group(2)
        if symbol not in ELEMENTS:
            raise GeometryError(f"formula {formula!r}: unknown element {symbol!r}")
        counts[symbol] = counts.get(symbol, 0.0) + (float(number) if number else 1.0)
        pos = match.end()
    if pos != len(formula) or not counts:
        raise GeometryError(f"formula {formula!r} is not a chemical formula like 'PbWO4' or 'C9H10'")
    mass = {s: n * ELEMENTS[s].A for s, n in counts.items()}
    total = sum(mass.values())
    return tuple((s, m / total) for s, m in mass.items())


def mixture(
    name: str,
    density: float,
    *,
    mass_fractions: dict[str, float] | None = None,
    formula: str | None = None,
    materials: dict[str, float] | None = None,
    I: float | None = None,
    state: str = "solid",
    source: str = "user-defined",
) -> Material:
    """Build a material from elements by mass fraction, a chemical formula, or other materials by mass fraction.

    Exactly one of ``mass_fractions``, ``formula`` and ``materials`` is given. The mean excitation energy
    defaults to the Bragg rule; density-effect parameters are then left to the Sternheimer–Peierls recipe.

    Raises:
        GeometryError: unknown elements or materials, fractions that are not positive or do not sum to 1,
            or a density that is not positive.
    """
    given = [x is not None for x in (mass_fractions, formula, materials)]
    if sum(given) != 1:
        raise GeometryError(f"material {name!r}: give exactly one of mass_fractions, formula, materials")
    if not (density > 0 and math.isfinite(density)):
        raise GeometryError(f"material {name!r}: density must be a positive number (g/cm3), got {density}")
    if formula is not None:
        components = parse_formula(formula)
    else:
        parts = mass_fractions if mass_fractions is not None else materials
        assert parts is not None
        if any(not (w > 0) for w in parts.values()):
            raise GeometryError(f"material {name!r}: mass fractions must be positive")
        total = sum(parts.values())
        if abs(total - 1.0) > 1e-3:
            raise GeometryError(f"material {name!r}: mass fractions sum to {total:.4f}, not 1")
        # fractions that already sum to 1 are kept bit for bit, so that a material survives a JSON round trip
        scale = 1.0 if abs(total - 1.0) <= 1e-12 else total
        acc: dict[str, float] = {}
        if mass_fractions is not None:
            for s, w in mass_fractions.items():
                if s not in ELEMENTS:
                    raise GeometryError(f"material {name!r}: unknown element {s!r}")
                acc[s] = acc.get(s, 0.0) + w / scale
        else:
            assert materials is not None
            for m, w in materials.items():
                for s, ws in get_material(m).components:
                    acc[s] = acc.get(s, 0.0) + ws * w / scale
        components = tuple(acc.items())
    return Material(
        name=name,
        density=density,
        components=components,
        I=I if I is not None else _bragg_I(components),
        state=state,
        source=source,
    )


def _single(symbol: str) -> tuple[tuple[str, float], ...]:
    return ((symbol, 1.0),)


_PDG = "PDG Atomic & Nuclear Properties; PHYSICS.md §6.1"

MATERIALS: dict[str, Material] = {}


def _register(material: Material) -> None:
    for key in (material.name, *material.aliases):
        MATERIALS[key] = material


_register(
    Material(
        "Pb",
        11.35,
        _single("Pb"),
        823.0,
        DensityEffect(6.2018, 0.3776, 3.8073, 0.09359, 3.1608, 0.14),
        reference=MaterialReference(6.370, 7.43, 7.16, 1.602, 1.122, 199.6),
        source=_PDG,
        aliases=("G4_Pb", "lead"),
    )
)
_register(
    Material(
        "W",
        19.30,
        _single("W"),
        727.0,
        DensityEffect(5.4059, 0.2167, 3.4960, 0.15509, 2.8447, 0.14),
        reference=MaterialReference(6.763, 7.97, 7.68, 0.933, 1.145, 191.9),
        source=_PDG,
        aliases=("G4_W", "tungsten"),
    )
)
_register(
    Material(
        "Fe",
        7.874,
        _single("Fe"),
        286.0,
        DensityEffect(4.2911, -0.0012, 3.1531, 0.14680, 2.9632, 0.12),
        reference=MaterialReference(13.84, 21.68, 21.00, 1.719, 1.450, 132.1),
        source=_PDG,
        aliases=("G4_Fe", "iron"),
    )
)
_register(
    Material(
        "Cu",
        8.96,
        _single("Cu"),
        322.0,
        DensityEffect(4.4190, -0.0254, 3.2792, 0.14339, 2.9044, 0.08),
        reference=MaterialReference(12.86, 19.42, 18.79, 1.568, 1.402, 137.3),
        source=_PDG,
        aliases=("G4_Cu", "copper"),
    )
)
# Liquid argon: Geant4 NIST G4_lAr density 1.396 g/cm3; the density-effect parameters are the
# Sternheimer–Peierls values Geant4 falls back to (PHYSICS.md §6.3).
_LAR_DENSITY_EFFECT = DensityEffect(5.2146, 0.2000, 3.0000, 0.19559, 3.0000, 0.0)
_register(
    Material(
        "LAr",
        1.396,
        _single("Ar"),
        188.0,
        _LAR_DENSITY_EFFECT,
        state="liquid",
        reference=MaterialReference(19.55, 32.84, 31.91, 9.043, 1.507, 119.7),
        source=_PDG + "; density G4_lAr",
        aliases=("G4_lAr", "liquid-argon"),
    )
)
# CaloGAN defines its own liquid argon: rho = 1.390 g/cm3, A = 39.95 (hep-lbdl/CaloGAN
# generation/src/DetectorConstruction.cc, PHYSICS.md §9.1). A differs from NIST by 0.005 %: kept at 39.948.
_register(
    Material(
        "LAr-CaloGAN",
        1.390,
        _single("Ar"),
        188.0,
        _LAR_DENSITY_EFFECT,
        state="liquid",
        source="CaloGAN DetectorConstruction.cc (rho 1.390 g/cm3)",
    )
)
_register(
    Material(
        "Si",
        2.329,
        _single("Si"),
        173.0,
        DensityEffect(4.4351, 0.2014, 2.8715, 0.14921, 3.2546, 0.14),
        reference=MaterialReference(21.82, 40.19, 39.05, 4.944, 1.663, 108.4),
        source=_PDG,
        aliases=("G4_Si", "silicon"),
    )
)
_register(
    Material(
        "Al",
        2.699,
        _single("Al"),
        166.0,
        DensityEffect(4.2395, 0.1708, 3.0127, 0.08024, 3.6345, 0.12),
        reference=MaterialReference(24.01, 42.70, 41.48, 4.418, 1.614, 107.2),
        source=_PDG,
        aliases=("G4_Al", "aluminium", "aluminum"),
    )
)
# PbWO4: Geant4 NIST density 8.28 g/cm3 and I = 600.7 eV; no tabulated density-effect parameters
# (Sternheimer–Peierls is used). The PDG reference row is for 8.30 g/cm3 (PHYSICS.md §6.1); the
# per-mass constants (X0 in g/cm2, Ec) do not depend on density.
_register(
    Material(
        "PbWO4",
        8.28,
        (("Pb", 0.4553), ("W", 0.4040), ("O", 0.1407)),
        600.7,
        reference=MaterialReference(7.39, 9.63, 9.31, 1.960, 1.229, 168.3),
        source=_PDG + "; density G4_PbWO4",
        aliases=("G4_PbWO4",),
    )
)
_register(
    Material(
        "polystyrene",
        1.06,
        (("C", 0.9226), ("H", 0.0774)),
        68.7,
        DensityEffect(3.2999, 0.1647, 2.5031, 0.16454, 3.2224, 0.0),
        reference=MaterialReference(43.79, 93.11, 90.65, 9.41, 1.935, 81.7),
        source=_PDG + "; G4_POLYSTYRENE",
        aliases=("G4_POLYSTYRENE",),
    )
)
_register(
    Material(
        "PVT",
        1.032,
        (("C", 0.9147), ("H", 0.0853)),
        64.7,
        DensityEffect(3.1997, 0.1464, 2.4855, 0.16101, 3.2393, 0.0),
        reference=MaterialReference(43.91, 94.14, 91.66, 9.58, 1.955, 81.3),
        source=_PDG + "; G4_PLASTIC_SC_VINYLTOLUENE",
        aliases=("G4_PLASTIC_SC_VINYLTOLUENE", "scintillator"),
    )
)
# G10/FR4: 60 % SiO2 + 40 % epoxy by mass (Geant4 composite_calorimeter material.cms, PHYSICS.md §6.1);
# I from the Bragg rule (≈ 91 eV).
_G10 = (("Si", 0.2804), ("O", 0.4527), ("C", 0.2142), ("H", 0.0527))
_register(
    Material(
        "G10",
        1.70,
        _G10,
        _bragg_I(_G10),
        reference=MaterialReference(31.3, 63.0, 61.2, 6.21, 1.86, 90.0),
        source="Geant4 composite_calorimeter material.cms; PHYSICS.md §6.1",
        aliases=("FR4",),
    )
)
# Air (G4_AIR: N 75.5 %, O 23.2 %, Ar 1.3 % by mass, 1.205 mg/cm3, I = 85.7 eV) and the Geant4
# "Galactic" vacuum (hydrogen at 1e-25 g/cm3).
_register(
    Material(
        "Air",
        1.20479e-3,
        (("C", 0.000124), ("N", 0.755268), ("O", 0.231781), ("Ar", 0.012827)),
        85.7,
        state="gas",
        source="Geant4 G4_AIR",
        aliases=("G4_AIR", "air"),
    )
)
_register(
    Material(
        "Vacuum",
        1e-25,
        _single("H"),
        21.8,
        state="gas",
        source="Geant4 G4_Galactic",
        aliases=("G4_Galactic", "vacuum"),
    )
)


def get_material(name: str, extra: dict[str, Material] | None = None) -> Material:
    """Look a material up by name or alias (``extra`` holds user-defined ones and wins).

    Raises:
        GeometryError: the name is unknown; the message lists the known names.
    """
    if extra and name in extra:
        return extra[name]
    try:
        return MATERIALS[name]
    except KeyError:
        known = sorted({m.name for m in MATERIALS.values()} | set(extra or {}))
        raise GeometryError(f"unknown material {name!r}; known: {', '.join(known)}") from None
