"""Named detector geometries of the field's public datasets.

=========================  ===================================================================================
``calogan``                CaloGAN (arXiv:1705.02355, 1712.10321): 80 × (2 mm Pb + 4 mm LAr), readout 3 × 96,
                           12 × 12, 12 × 6 over 90 / 347 / 43 mm. Scores Pb **and** LAr deposits, as the 2017
                           production code did (PHYSICS.md §9.1; ``calogan-lar`` scores the argon only).
``calochallenge-2``/``-3`` Geant4 Par04 stack, 90 × (1.4 mm W + 0.3 mm Si), 45 readout layers of 3.4 mm,
                           16 × 9 (ds2) or 50 × 18 (ds3) (α, r) bins; Si energy / 0.033 stored (PHYSICS.md §9.2).
``calochallenge-1-*``      readout-only: the ATLAS binnings of CaloChallenge dataset 1 (photons, pions).
``clic-ecal``              3DGAN-like CLIC W/Si ECAL: 25 layers (17 × 2.4 mm + 8 × 4.8 mm W, 0.5 mm Si),
                           25 × 25 cells of 5.1 mm (3DGAN fixed-angle files).
``clic-ecal-51``           the same with 51 × 51 cells (3DGAN variable-angle files).
=========================  ===================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from caloforge.exceptions import GeometryError
from caloforge.geometry.core import (
    Block,
    CartesianGrid,
    CylindricalBins,
    Geometry,
    ReadoutLayer,
    Slab,
    Stack,
)

__all__ = ["PRESETS", "get_preset", "preset_names"]


def _calogan(sensitive: tuple[str, ...], name: str, note: str) -> Geometry:
    # hep-lbdl/CaloGAN generation/src/DetectorConstruction.cc (2017): 80 layers of 2 mm G4_Pb + 4 mm LAr
    # (rho 1.390 g/cm3), 1 m × 1 m; readout boundaries at z = -150 mm and 197 mm with the stack front at
    # -240 mm, i.e. depths 90 mm and 437 mm; cells span |x|, |y| < 240 mm (PHYSICS.md §9.1, FORMATS.md).
    stack = Stack(
        blocks=(Block((Slab("Pb", 2.0), Slab("LAr-CaloGAN", 4.0)), repeat=80),),
        width_x=1000.0,
        width_y=1000.0,
        sensitive=sensitive,
        range_cut=0.7,
    )
    layers = (
        ReadoutLayer(CartesianGrid(3, 96, 160.0, 5.0), 0.0, 90.0, 0),
        ReadoutLayer(CartesianGrid(12, 12, 40.0, 40.0), 90.0, 437.0, 1),
        ReadoutLayer(CartesianGrid(12, 6, 40.0, 80.0), 437.0, 480.0, 2),
    )
    return Geometry(
        name=name,
        layers=layers,
        stack=stack,
        beam_z=-48.0,  # gun at z = -288 mm, stack front at -240 mm (2017 run2.mac)
        description=(
            "CaloGAN ATLAS-like Pb/LAr sampling calorimeter (arXiv:1712.10321): 80 x (2 mm Pb + 4 mm LAr), "
            "1 m x 1 m, readout layers 90/347/43 mm deep with 3x96 (160x5 mm), 12x12 (40x40 mm), "
            f"12x6 (40x80 mm) cells within |x|,|y| < 240 mm; energy outside goes to overflow. {note}"
        ),
    )


def calogan() -> Geometry:
    return _calogan(
        ("*",),
        "calogan",
        "Scores deposits in lead and argon alike, as the 2017 production code (hep-lbdl/CaloGAN "
        "SteppingAction.cc) did.",
    )


def calogan_lar() -> Geometry:
    return _calogan(("LAr-CaloGAN",), "calogan-lar", "Scores the liquid-argon deposits only (the later CaloGAN forks).")


_DS2_R = (0.0, 4.65, 9.3, 13.95, 18.6, 23.25, 27.9, 32.55, 37.2, 41.85)
_DS3_R = (
    0.0,
    2.325,
    4.65,
    6.975,
    9.3,
    11.625,
    13.95,
    16.275,
    18.6,
    20.925,
    23.25,
    25.575,
    27.9,
    30.225,
    32.55,
    34.875,
    37.2,
    39.525,
    41.85,
)


def _par04(name: str, r_edges: tuple[float, ...], n_alpha: int, dataset: int) -> Geometry:
    # Geant4 example Par04 as used for CaloChallenge datasets 2/3: 90 × (1.4 mm W + 0.3 mm Si); one readout
    # layer = 2 physical layers (3.4 mm); stored energy = Si energy / 0.033; evaluation threshold
    # 0.5 keV / 0.033 (CaloChallenge Dataset_creation.ipynb and evaluate.py; PHYSICS.md §9.2). The Par04
    # cylinder has an inner radius of 80 cm; locally it is modelled as flat slabs 1 m wide.
    stack = Stack(
        blocks=(Block((Slab("W", 1.4), Slab("Si", 0.3)), repeat=90),),
        width_x=1000.0,
        width_y=1000.0,
        sensitive=("Si",),
        range_cut=0.7,
    )
    layers = tuple(ReadoutLayer(CylindricalBins(r_edges, n_alpha), 3.4 * k, 3.4 * (k + 1), k) for k in range(45))
    return Geometry(
        name=name,
        layers=layers,
        stack=stack,
        energy_scale=1.0 / 0.033,
        threshold=0.5e-3 / 0.033,
        beam_z=-1.0,
        particle=11,
        xml_layer_ids=45,
        xml_attributes=(("pid", "11"), ("name", "electron")),
        description=(
            f"CaloChallenge dataset {dataset} (Geant4 Par04): 90 x (1.4 mm W + 0.3 mm Si), 45 readout layers of "
            f"3.4 mm, {n_alpha} alpha x {len(r_edges) - 1} r bins up to 41.85 mm; stored energy = Si energy / 0.033; "
            "evaluation threshold 15.15 keV (stored units)."
        ),
    )


def calochallenge_2() -> Geometry:
    return _par04("calochallenge-2", _DS2_R, 16, 2)


def calochallenge_3() -> Geometry:
    return _par04("calochallenge-3", _DS3_R, 50, 3)


def _ds1(name: str, pid: int, eta_max: str, label: str, binning: dict[int, tuple[tuple[float, ...], int]]) -> Geometry:
    # CaloChallenge code/binning_dataset_1_{photons,pions}.xml (FORMATS.md): 24 ATLAS sampling ids, most empty.
    layers = tuple(
        ReadoutLayer(CylindricalBins(edges, n_alpha), None, None, layer_id)
        for layer_id, (edges, n_alpha) in binning.items()
    )
    return Geometry(
        name=name,
        layers=layers,
        stack=None,
        threshold=1.0,  # CaloChallenge dataset 1 evaluation threshold, MeV
        particle=pid,
        xml_layer_ids=24,
        xml_attributes=(("pid", str(pid)), ("etaMin", "0"), ("etaMax", eta_max), ("name", label)),
        description=(
            f"CaloChallenge dataset 1 {label}s (ATLAS open data, 0.2 < |eta| < 0.25): readout-only, "
            f"{sum(e[1] * (len(e[0]) - 1) for e in binning.values())} voxels in {len(binning)} samplings; "
            "energies 2^8 ... 2^22 MeV; evaluation threshold 1 MeV."
        ),
    )


def calochallenge_1_photons() -> Geometry:
    return _ds1(
        "calochallenge-1-photons",
        22,
        "130",
        "photon",
        {
            0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
            1: ((0, 2, 4, 6, 8, 10, 12, 15, 20, 30, 40, 50, 70, 90, 120, 150, 200), 10),
            2: ((0, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300, 350, 400), 10),
            3: ((0, 50, 100, 200, 400, 600), 1),
            12: ((0, 100, 200, 400, 1000, 2000), 1),
        },
    )


def calochallenge_1_pions() -> Geometry:
    return _ds1(
        "calochallenge-1-pions",
        211,
        "80",
        "pion",
        {
            0: ((0, 5, 10, 30, 50, 100, 200, 400, 600), 1),
            1: ((0, 1, 4, 7, 10, 15, 30, 50, 90, 150, 200), 10),
            2: ((0, 5, 10, 20, 30, 50, 80, 130, 200, 300, 400), 10),
            3: ((0, 50, 100, 200, 400, 600), 1),
            12: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 1000, 2000), 10),
            13: ((0, 10, 20, 30, 50, 80, 100, 130, 160, 200, 250, 300, 350, 400, 600, 1000, 2000), 10),
            14: ((0, 50, 100, 150, 200, 250, 300, 400, 600, 1000, 2000), 1),
        },
    )


def _clic_ecal(name: str, n_cells: int, note: str) -> Geometry:
    # CLIC W/Si ECAL as in the LCD dataset behind 3DGAN (Khattak et al., EPJC 82 (2022) 386): 25 layers,
    # 17 × 2.4 mm then 8 × 4.8 mm tungsten with silicon pads of 5.1 × 5.1 mm (CLIC ECAL description,
    # twiki.cern.ch/twiki/bin/view/CLIC/ClicNDM_ECal, ≈ 23 X0). The silicon thickness (0.5 mm) is the CLIC
    # sensor thickness [mem]; the stored cell energies are the silicon deposits (≈ 2 % of E, FORMATS.md).
    stack = Stack(
        blocks=(
            Block((Slab("W", 2.4), Slab("Si", 0.5)), repeat=17),
            Block((Slab("W", 4.8), Slab("Si", 0.5)), repeat=8),
        ),
        width_x=1000.0,
        width_y=1000.0,
        sensitive=("Si",),
        range_cut=0.7,
    )
    layers = []
    z = 0.0
    for k in range(25):
        depth = 2.9 if k < 17 else 5.3
        layers.append(ReadoutLayer(CartesianGrid(n_cells, n_cells, 5.1, 5.1), round(z, 6), round(z + depth, 6), k))
        z += depth
    return Geometry(
        name=name,
        layers=tuple(layers),
        stack=stack,
        beam_z=-1.0,
        description=(
            "3DGAN-like CLIC ECAL: 17 x (2.4 mm W + 0.5 mm Si) + 8 x (4.8 mm W + 0.5 mm Si), readout "
            f"{n_cells} x {n_cells} cells of 5.1 x 5.1 mm per layer, beam at the centre of the middle cell; "
            f"silicon energy stored. {note}"
        ),
    )


def clic_ecal() -> Geometry:
    return _clic_ecal("clic-ecal", 25, "The 3DGAN fixed-angle data (ECAL 25 x 25 x 25).")


def clic_ecal_51() -> Geometry:
    return _clic_ecal("clic-ecal-51", 51, "The 3DGAN variable-angle data (ECAL 51 x 51 x 25, angles 60-120 degrees).")


PRESETS: dict[str, Callable[[], Geometry]] = {
    "calogan": calogan,
    "calogan-lar": calogan_lar,
    "calochallenge-1-photons": calochallenge_1_photons,
    "calochallenge-1-pions": calochallenge_1_pions,
    "calochallenge-2": calochallenge_2,
    "calochallenge-3": calochallenge_3,
    "clic-ecal": clic_ecal,
    "clic-ecal-51": clic_ecal_51,
}


def preset_names() -> list[str]:
    return list(PRESETS)


@cache
def get_preset(name: str) -> Geometry:
    """A preset geometry by name.

    Raises:
        GeometryError: the name is not a preset; the message lists the presets.
    """
    try:
        return PRESETS[name]()
    except KeyError:
        raise GeometryError(
            f"unknown geometry {name!r}; presets: {', '.join(PRESETS)}, or a .yaml/.json file"
        ) from None
