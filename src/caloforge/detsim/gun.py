"""The particle gun: particle type, energy spectrum, position and direction of every shower.

Each shower's random numbers derive from ``numpy.random.SeedSequence(seed, spawn_key=(index,))``, so shower
``index`` is the same whatever the chunking or the number of worker processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from caloforge.detsim import transport
from caloforge.exceptions import SimulationError
from caloforge.io.showerset import particle_code, particle_name

__all__ = ["EnergySpectrum", "ParticleGun", "is_hadron", "parse_energy", "transport_type"]

_KINDS = ("fixed", "uniform", "log", "list")
_EM_TYPES = {22: transport.GAMMA, 11: transport.ELECTRON, -11: transport.POSITRON}
_HADRON_TYPES = {211: transport.PI_PLUS, -211: transport.PI_MINUS, 2212: transport.PROTON, 2112: transport.NEUTRON}
_TYPES = {**_EM_TYPES, **_HADRON_TYPES}
_NAMES = "e-, e+, gamma, pi+, pi-, proton or neutron"


def transport_type(pdg: int) -> int:
    """The kernel's particle type of a PDG id.

    Raises:
        SimulationError: a particle detsim does not transport.
    """
    if pdg not in _TYPES:
        raise SimulationError(f"particle {particle_name(pdg)!r} is not simulated by detsim: use {_NAMES}")
    return _TYPES[pdg]


def is_hadron(pdg: int) -> bool:
    """Whether the PDG id is one of the hadrons detsim simulates (π±, p, n)."""
    return pdg in _HADRON_TYPES


@dataclass(frozen=True)
class EnergySpectrum:
    """Incident (kinetic) energies in MeV.

    Attributes:
        kind: ``fixed`` (one value), ``uniform`` or ``log`` (log-uniform) between two values, or ``list``
            (shower ``i`` takes ``values[i % len(values)]``, so every value gets the same number of showers).
        values: the energies (MeV).
    """

    kind: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise SimulationError(f"energy spectrum must be one of {', '.join(_KINDS)}, got {self.kind!r}")
        vals = tuple(float(v) for v in self.values)
        object.__setattr__(self, "values", vals)
        if not vals or any(not (math.isfinite(v) and v > 0) for v in vals):
            raise SimulationError(f"energies must be positive numbers, got {list(self.values)}")
        if self.kind in ("uniform", "log") and (len(vals) != 2 or vals[0] >= vals[1]):
            raise SimulationError(f"a {self.kind} spectrum needs two energies low < high, got {list(vals)}")
        if self.kind == "fixed" and len(vals) != 1:
            raise SimulationError(f"a fixed energy is one value, got {list(vals)}")

    @property
    def mean(self) -> float:
        """Mean energy (MeV)."""
        v = self.values
        if self.kind == "uniform":
            return 0.5 * (v[0] + v[1])
        if self.kind == "log":
            return (v[1] - v[0]) / math.log(v[1] / v[0])
        return float(np.mean(v))

    def sample(self, index: int, u: float) -> float:
        """Energy of shower ``index`` given a uniform deviate ``u``."""
        v = self.values
        if self.kind == "fixed":
            return v[0]
        if self.kind == "list":
            return v[index % len(v)]
        if self.kind == "uniform":
            return v[0] + (v[1] - v[0]) * u
        return math.exp(math.log(v[0]) + u * math.log(v[1] / v[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values_MeV": list(self.values)}


def parse_energy(text: str, spectrum: str | None = None, *, unit: float = 1000.0) -> EnergySpectrum:
    """Parse a command-line energy: ``50`` (fixed), ``1:100`` (range), ``10,20,50`` (list), in GeV by default.

    Args:
        text: the option value.
        spectrum: ``uniform`` or ``log`` for a range (default ``uniform``).
        unit: MeV per unit of ``text`` (1000 for GeV).

    Raises:
        SimulationError: unparsable or non-positive energies, or a spectrum given for a fixed energy.
    """
    raw = text.strip()
    try:
        if ":" in raw:
            lo_text, hi_text = raw.split(":", 1)
            lo, hi = float(lo_text) * unit, float(hi_text) * unit
            kind = spectrum or "uniform"
            if kind not in ("uniform", "log"):
                raise SimulationError(f"--spectrum must be uniform or log, got {kind!r}")
            return EnergySpectrum(kind, (lo, hi))
        if "," in raw:
            vals = tuple(float(v) * unit for v in raw.split(",") if v.strip())
            return EnergySpectrum("list", vals)
        value = float(raw) * unit
    except ValueError:
        raise SimulationError(f"--energy {text!r}: give a number, a range low:high or a list a,b,c (GeV)") from None
    if spectrum not in (None, "uniform", "log"):
        raise SimulationError(f"--spectrum must be uniform or log, got {spectrum!r}")
    return EnergySpectrum("fixed", (value,))


@dataclass(frozen=True)
class ParticleGun:
    """What is fired at the calorimeter.

    Attributes:
        particle: PDG id (11 e-, -11 e+, 22 gamma, 211 pi+, -211 pi-, 2212 proton, 2112 neutron) or a name.
        energy: spectrum of kinetic energies (MeV); a number is a fixed energy.
        position: ``(x, y)`` where the particle crosses the front face of the stack (mm), default the axis.
        z: z of the gun (mm, ``None``: the geometry's ``beam_z``).
        theta: polar angle of incidence (rad, 0 = along +z).
        phi: azimuth of the direction (rad).
    """

    particle: int | str = 11
    energy: EnergySpectrum | float = 10_000.0
    position: tuple[float, float] = (0.0, 0.0)
    z: float | None = None
    theta: float = 0.0
    phi: float = 0.0

    def __post_init__(self) -> None:
        try:
            code = particle_code(self.particle)
        except Exception as exc:  # DataFormatError from io: re-raise as a simulation error for the CLI option
            raise SimulationError(f"unknown particle {self.particle!r}; use {_NAMES}") from exc
        transport_type(code)
        object.__setattr__(self, "particle", code)
        if not isinstance(self.energy, EnergySpectrum):
            object.__setattr__(self, "energy", EnergySpectrum("fixed", (float(self.energy),)))
        if not (0.0 <= self.theta < 0.5 * math.pi):
            raise SimulationError(f"incidence angle must be in [0, 90) degrees, got {math.degrees(self.theta):g}")
        if not all(math.isfinite(v) for v in (*self.position, self.phi, self.z if self.z is not None else 0.0)):
            raise SimulationError("gun position and angles must be finite numbers")

    @property
    def pdg(self) -> int:
        return int(self.particle)

    @property
    def spectrum(self) -> EnergySpectrum:
        assert isinstance(self.energy, EnergySpectrum)
        return self.energy

    def direction(self) -> tuple[float, float, float]:
        st = math.sin(self.theta)
        return st * math.cos(self.phi), st * math.sin(self.phi), math.cos(self.theta)

    def to_dict(self) -> dict[str, Any]:
        return {
            "particle": particle_name(self.pdg),
            "energy": self.spectrum.to_dict(),
            "position_mm": list(self.position),
            "z_mm": self.z,
            "theta_rad": self.theta,
            "phi_rad": self.phi,
        }

    def generate(
        self, start: int, stop: int, seed: int, beam_z: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gun parameters of showers ``start..stop-1``.

        Returns:
            ``energy (n,)`` MeV, ``position (n, 3)`` mm, ``direction (n, 3)``, ``states (n, 4)`` uint64 kernel
            random states.
        """
        n = stop - start
        energy = np.empty(n)
        states = np.empty((n, 4), dtype=np.uint64)
        for k in range(n):
            words = np.random.SeedSequence(seed, spawn_key=(start + k,)).generate_state(6, dtype=np.uint64)
            if not np.any(words[:4]):
                words[0] = 1  # xoshiro's state must not be all zero
            states[k] = words[:4]
            u = float(words[4] >> np.uint64(11)) * (1.0 / 9007199254740992.0)
            energy[k] = self.spectrum.sample(start + k, u)
        ux, uy, uz = self.direction()
        z_gun = beam_z if self.z is None else self.z
        x0 = self.position[0] + z_gun * ux / uz
        y0 = self.position[1] + z_gun * uy / uz
        position = np.tile(np.array([x0, y0, z_gun]), (n, 1))
        direction = np.tile(np.array([ux, uy, uz]), (n, 1))
        return energy, position, direction, states
