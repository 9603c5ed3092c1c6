"""Settings of the reference simulation and the set-up of a geometry for the kernel.

Defaults are Geant4's G4EmStandardPhysics ("opt0", the EM part of FTFP_BERT; G4EmParameters.cc, PHYSICS.md §1):
range cut 0.7 mm, lowest e± energy 1 keV, step function (0.2, 1 mm), Urban msc with UseSafety and range
factor 0.04, linear-loss limit 0.01, fluctuations and LPM on. The hadronic settings are
:class:`~caloforge.detsim.hadron.HadronPhysics`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np

from caloforge.detsim import transport
from caloforge.detsim.constants import LOWEST_ELECTRON_ENERGY, PHOTON_TRACKING_CUT
from caloforge.detsim.detector import DetectorArrays, detector_arrays, stack_materials
from caloforge.detsim.hadron import HadronPhysics, HadronTables, hadron_tables
from caloforge.detsim.tables import KernelTables, material_tables, pack_tables
from caloforge.exceptions import SimulationError
from caloforge.geometry import Geometry

__all__ = ["HadronPhysics", "PhysicsConfig", "Setup", "prepare"]


@dataclass(frozen=True)
class PhysicsConfig:
    """Physics settings (MeV, mm).

    Attributes:
        range_cut: production range cut; ``None`` takes the geometry's (``Stack.range_cut``).
        tracking_cut: e± below are stopped and deposit locally (Geant4 ``lowestElectronEnergy``).
        photon_cut: photons below are absorbed locally.
        final_range, dr_over_range: the continuous-loss step function.
        msc_range_factor, msc_safety_factor: Urban UseSafety step limitation (facrange, facsafety).
        lin_loss_limit: above this fractional loss the range table is used instead of dE/dx × step.
        fluctuations, multiple_scattering, lateral_displacement, lpm: switch the effects on or off (the first
            three for hadrons too).
        max_stack: capacity of the particle stack.
        hadronic: settings and parameters of the hadron transport and final-state model
            (:class:`~caloforge.detsim.hadron.HadronPhysics`); they do not affect e±/γ showers.
    """

    range_cut: float | None = None
    tracking_cut: float = LOWEST_ELECTRON_ENERGY
    photon_cut: float = PHOTON_TRACKING_CUT
    final_range: float = 1.0
    dr_over_range: float = 0.2
    msc_range_factor: float = 0.04
    msc_safety_factor: float = 0.6
    lin_loss_limit: float = 0.01
    fluctuations: bool = True
    multiple_scattering: bool = True
    lateral_displacement: bool = True
    lpm: bool = True
    max_stack: int = 20_000
    hadronic: HadronPhysics = field(default_factory=HadronPhysics)

    def __post_init__(self) -> None:
        if not isinstance(self.hadronic, HadronPhysics):
            raise SimulationError(f"physics setting hadronic must be a HadronPhysics, got {self.hadronic!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool | HadronPhysics) or value is None:
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise SimulationError(f"physics setting {f.name} must be a positive number, got {value!r}")
        if self.dr_over_range > 1.0:
            raise SimulationError(f"dr_over_range must be in (0, 1], got {self.dr_over_range}")

    def cut_for(self, geometry: Geometry) -> float:
        if self.range_cut is not None:
            return self.range_cut
        return geometry.stack.range_cut if geometry.stack is not None else 0.7

    def to_array(self) -> np.ndarray:
        cfg = np.zeros(transport.CFG_SIZE)
        cfg[transport.C_TRACKING_CUT] = self.tracking_cut
        cfg[transport.C_PHOTON_CUT] = self.photon_cut
        cfg[transport.C_FINAL_RANGE] = self.final_range
        cfg[transport.C_DR_OVER_RANGE] = self.dr_over_range
        cfg[transport.C_FACRANGE] = self.msc_range_factor
        cfg[transport.C_FACSAFETY] = self.msc_safety_factor
        cfg[transport.C_LIN_LOSS] = self.lin_loss_limit
        cfg[transport.C_FLUCT] = float(self.fluctuations)
        cfg[transport.C_MSC] = float(self.multiple_scattering)
        cfg[transport.C_DISPLACEMENT] = float(self.lateral_displacement)
        cfg[transport.C_LPM] = float(self.lpm)
        cfg[transport.C_MAX_STACK] = float(self.max_stack)
        return cfg

    def to_dict(self, hadronic: bool = False) -> dict[str, Any]:
        """The settings as a plain dict; the hadronic ones only with ``hadronic`` (they do not change e±/γ
        showers, so the description of an electromagnetic run stays what detsim version 1 wrote)."""
        d = asdict(self)
        hadr = d.pop("hadronic")
        if hadronic:
            d["hadronic"] = hadr
        return d


class Setup(NamedTuple):
    """Everything the kernel needs for one geometry."""

    tables: KernelTables
    hadron: HadronTables
    detector: DetectorArrays
    cfg: np.ndarray
    cuts: dict[str, tuple[float, float, float]]


def prepare(geometry: Geometry, config: PhysicsConfig | None = None, *, use_cache: bool = True) -> Setup:
    """Build (or load from the cache) the tables of every material of ``geometry`` and flatten the geometry."""
    config = config or PhysicsConfig()
    mats = stack_materials(geometry)
    cut = config.cut_for(geometry)
    tabs = [material_tables(m, cut, use_cache=use_cache) for m in mats]
    return Setup(
        tables=pack_tables(mats, tabs),
        hadron=hadron_tables(mats, [t.cuts[1] for t in tabs], config.hadronic),
        detector=detector_arrays(geometry),
        cfg=config.to_array(),
        cuts={m.name: t.cuts for m, t in zip(mats, tabs, strict=True)},
    )
