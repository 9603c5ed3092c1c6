"""The reference simulation: a detailed condensed-history Monte Carlo of showers in slab stacks.

Particles are tracked one by one through the layers of a :class:`~caloforge.geometry.Geometry` with the physics
of Geant4's standard electromagnetic list ("opt0", the EM part of FTFP_BERT) rebuilt without data files, and a
simplified mechanistic hadronic cascade for π±, protons and neutrons (PHYSICS.md §4–§5; docs/physics.md lists
every formula and parameter with its source).

>>> from caloforge.detsim import simulate
>>> showers = simulate("calogan", "e+", 10_000.0, n=2, seed=1)  # doctest: +SKIP
>>> showers.showers.shape  # doctest: +SKIP
(2, 504)

Modules: ``constants``; cross sections ``photon``, ``electron``, ``msc``, ``sandia``; ``cuts`` (range cut →
thresholds); ``tables`` (tabulation, disk cache); ``hadron`` (hadron stopping powers, cross sections and the
final-state parameters); ``detector`` (geometry → kernel arrays); ``transport`` (the numba kernel); ``gun``;
``config`` (physics settings); ``production`` (parallel, resumable runs); ``validation`` and
``hadron_validation`` (the targets of PHYSICS.md §10 and the measurements behind ``make validate``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from caloforge.detsim.config import PhysicsConfig
from caloforge.detsim.cuts import production_thresholds, range_cut_to_energy
from caloforge.detsim.gun import EnergySpectrum, ParticleGun, parse_energy
from caloforge.detsim.hadron import HadronPhysics
from caloforge.detsim.production import DETSIM_VERSION, EM_DETSIM_VERSION, produce, simulate_in_memory
from caloforge.exceptions import SimulationError
from caloforge.geometry import Geometry, resolve_geometry
from caloforge.io.showerset import ShowerSet

__all__ = [
    "DETSIM_VERSION",
    "EM_DETSIM_VERSION",
    "EnergySpectrum",
    "HadronPhysics",
    "ParticleGun",
    "PhysicsConfig",
    "parse_energy",
    "produce",
    "production_thresholds",
    "range_cut_to_energy",
    "simulate",
]


def simulate(
    geometry: str | Path | Geometry,
    particle: str | int = "e-",
    energy: float | Sequence[float] | EnergySpectrum = 10_000.0,
    n: int = 100,
    *,
    seed: int = 0,
    spectrum: str | None = None,
    position: tuple[float, float] = (0.0, 0.0),
    theta: float = 0.0,
    phi: float = 0.0,
    physics: PhysicsConfig | None = None,
    workers: int | None = 1,
    output: str | Path | None = None,
    resume: bool = False,
    hits: str | Path | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ShowerSet | Path:
    """Simulate ``n`` showers — the library side of ``caloforge simulate``.

    Args:
        geometry: preset name, geometry file or :class:`Geometry` (it must have a physical stack).
        particle: ``e-``, ``e+``, ``gamma``, ``pi+``, ``pi-``, ``proton`` or ``neutron`` (aliases and PDG ids
            accepted).
        energy: kinetic energy in MeV: a number, ``(low, high)`` with ``spectrum`` ``uniform`` (default) or
            ``log``, a list (cycled so that every value gets the same number of showers), or an
            :class:`EnergySpectrum`.
        n: number of showers.
        seed: run seed; shower ``i`` depends only on ``(seed, i)``.
        position: ``(x, y)`` in mm where the particle crosses the front face of the stack.
        theta, phi: direction (rad); the gun stands at the geometry's ``beam_z``.
        physics: physics settings (default: Geant4 opt0-like, the geometry's range cut; the hadronic model of
            :class:`HadronPhysics`).
        workers: worker processes (``None``: all cores). Results do not depend on it.
        output: write a native HDF5 file (returned as a Path) instead of returning a :class:`ShowerSet`.
        resume: continue an interrupted run of the same settings from ``<output>.partial``.
        hits: also write every scored deposit ``(x, y, z, E)`` to this HDF5 file (``output`` runs only).
        chunk_size: showers per work unit (default about 1 TeV of primary energy).
        progress: ``callback(done, total)``.

    Raises:
        SimulationError: unknown particle, non-positive energy or ``n``, readout-only geometry.
        DataFormatError: an output path that cannot be written, or a partial file of other settings.
    """
    g = resolve_geometry(geometry)
    gun = ParticleGun(particle, _spectrum(energy, spectrum), position=position, theta=theta, phi=phi)
    if output is not None:
        return produce(
            output,
            g,
            gun,
            n,
            seed=seed,
            physics=physics,
            workers=workers,
            chunk_size=chunk_size,
            resume=resume,
            hits_path=hits,
            progress=progress,
        )
    if hits is not None:
        raise SimulationError("a hit list is written next to an output file: pass output= as well")
    showers, _ = simulate_in_memory(
        g, gun, n, seed=seed, physics=physics, workers=workers, chunk_size=chunk_size, progress=progress
    )
    return showers


def _spectrum(energy: float | Sequence[float] | EnergySpectrum, spectrum: str | None) -> EnergySpectrum:
    if isinstance(energy, EnergySpectrum):
        return energy
    if isinstance(energy, int | float):
        if spectrum is not None:
            raise SimulationError("a spectrum needs an energy range (low, high)")
        return EnergySpectrum("fixed", (float(energy),))
    values = tuple(float(v) for v in energy)
    if spectrum is not None:
        return EnergySpectrum(spectrum, values)
    return EnergySpectrum("list", values)
