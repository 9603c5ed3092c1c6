"""Physical constants of the reference simulation, in the library's units (MeV, mm) unless named otherwise.

Sources: CODATA 2018 (via the PDG review "Physical constants", 2024) as quoted in PHYSICS.md "Physical constants";
Geant4's tracking parameters of G4EmStandardPhysics ("opt0", the EM part of FTFP_BERT) from G4EmParameters.cc
(Geant4 11.4; PHYSICS.md §1). docs/physics.md collects them.
"""

from __future__ import annotations

import math

__all__ = [
    "ALPHA",
    "AVOGADRO",
    "BOHR_RADIUS",
    "CLASSIC_ELECTRON_RADIUS",
    "ELECTRON_MASS",
    "HBARC",
    "LOWEST_ELECTRON_ENERGY",
    "PHOTON_TRACKING_CUT",
    "TWO_PI_MC2_RCL2",
]

# fine-structure constant (CODATA 2018)
ALPHA = 1.0 / 137.035999
# electron rest energy, MeV (CODATA 2018)
ELECTRON_MASS = 0.51099895
# classical electron radius, mm (2.8179403e-13 cm, CODATA 2018)
CLASSIC_ELECTRON_RADIUS = 2.8179403262e-12
# Avogadro constant, 1/mol
AVOGADRO = 6.02214076e23
# hbar c in MeV mm (197.3269804 MeV fm)
HBARC = 197.3269804e-12
# Bohr radius, mm (5.29177210903e-9 cm)
BOHR_RADIUS = 5.29177210903e-8
# reduced Compton wavelength of the electron, mm (hbar/(m_e c) = 3.8616e-11 cm)
REDUCED_COMPTON_WAVELENGTH = HBARC / ELECTRON_MASS
# 2 pi r_e^2 m_e c^2 in MeV mm^2 (PHYSICS.md: 2.5496e-25 MeV cm^2)
TWO_PI_MC2_RCL2 = 2.0 * math.pi * CLASSIC_ELECTRON_RADIUS**2 * ELECTRON_MASS
# E_s = m_e c^2 sqrt(4 pi / alpha), the scale energy of the Moliere radius (PDG), MeV
SCALE_ENERGY = ELECTRON_MASS * math.sqrt(4.0 * math.pi / ALPHA)

# Geant4 opt0 tracking parameters (G4EmParameters.cc, PHYSICS.md §1)
LOWEST_ELECTRON_ENERGY = 1.0e-3  # MeV: e± below are stopped and deposit locally ("lowestElectronEnergy")
# Photons are tracked to absorption in Geant4. Below 1 keV their mean free path is below 2 µm in every
# material of the stacks here, so depositing them locally changes no cell energy (docs/physics.md).
PHOTON_TRACKING_CUT = 1.0e-3  # MeV
DEFAULT_RANGE_CUT = 0.7  # mm, FTFP_BERT defaultCutValue
LOWEST_CUT_ENERGY = 990.0e-6  # MeV, G4ProductionCutsTable lowest energy threshold (990 eV)
