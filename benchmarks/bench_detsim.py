"""Speed of the reference simulation (issues 3 and 4): CPU time per shower vs energy on one core, throughput
on all.

Prints a table; asserts nothing. The target of issue 3 is at most 5 ms of one core per GeV of primary energy
in the calogan stack with default cuts (Geant4: ~35 ms/GeV, PHYSICS.md §7.2); cost should grow no faster than
linearly with energy. Issue 4 adds the π+ rows (calogan; Pb/LAr and Fe/scintillator stacks 10 λ deep, where
the showers are contained) and the π+ throughput of a calogan production run.

Usage: python benchmarks/bench_detsim.py [--quick] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from caloforge.geometry import Geometry


def _geometry(name: str) -> Geometry:
    from caloforge.detsim.hadron_validation import pb_lar_geometry, tilecal_geometry
    from caloforge.geometry import get_preset

    extra = {"pb-lar-10λ": pb_lar_geometry, "fe-scint-10λ": tilecal_geometry}
    return extra[name]() if name in extra else get_preset(name)


def one_core(geometry: str, particle: str, energy_mev: float, n: int) -> tuple[float, float]:
    """CPU seconds per shower and ms per GeV, measured in this process after a warm-up shower."""
    from caloforge.detsim.gun import EnergySpectrum, ParticleGun
    from caloforge.detsim.production import Simulator

    g = _geometry(geometry)
    sim = Simulator(g, ParticleGun(particle, EnergySpectrum("fixed", (energy_mev,))), seed=123)
    sim.run(10_000, 10_001)  # warm-up: loads the compiled kernel
    t0 = time.process_time()
    sim.run(0, n)
    per_shower = (time.process_time() - t0) / n
    return per_shower, per_shower / (energy_mev / 1000.0) * 1000.0


def throughput(geometry: str, particle: str, energy: str, n: int, workers: int) -> tuple[float, float]:
    """Showers/s and GeV/s of a production run (file output, ``workers`` processes; includes start-up)."""
    from caloforge.detsim import parse_energy, simulate

    spec = parse_energy(energy)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        simulate(geometry, particle, spec, n, seed=5, workers=workers, output=Path(tmp) / "bench.h5")
        wall = time.perf_counter() - t0
    return n / wall, n * spec.mean / 1000.0 / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer showers")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print("\none core (CPU time, after warm-up)")
    print(
        f"| {'geometry':16s} | {'particle':8s} | {'E [GeV]':>7s} | {'showers':>7s} | {'s/shower':>9s} | {'ms/GeV':>7s} |"
    )
    print("|---|---|---|---|---|---|")
    plan = [
        ("calogan", "e+", (1000.0, 200), (10000.0, 40), (100000.0, 6)),
        ("calogan", "e-", (1000.0, 200), (10000.0, 40), (100000.0, 6)),
        ("calochallenge-2", "e-", (1000.0, 200), (10000.0, 40), (100000.0, 6)),
        ("calogan", "pi+", (1000.0, 400), (10000.0, 100), (100000.0, 20)),
        ("pb-lar-10λ", "pi+", (1000.0, 200), (10000.0, 40), (100000.0, 6)),
        ("fe-scint-10λ", "pi+", (1000.0, 200), (10000.0, 40), (100000.0, 6)),
    ]
    for geometry, particle, *points in plan:
        for energy, n in points:
            n_run = max(2, int(n * scale))
            per, ms_gev = one_core(geometry, particle, energy, n_run)
            print(
                f"| {geometry:16s} | {particle:8s} | {energy / 1000:7g} | {n_run:7d} | {per:9.4f} | {ms_gev:7.3f} |",
                flush=True,
            )
    print(f"\nall cores ({args.workers} worker processes, file output, including worker start-up)")
    print("| geometry | particle | energy | showers | showers/s | GeV/s |")
    print("|---|---|---|---|---|---|")
    runs = (("calogan", "e+", "1:100", 200), ("calogan", "pi+", "1:100", 400), ("calochallenge-2", "e-", "1:1000", 60))
    for geometry, particle, energy, n in runs:
        n_run = max(4, int(n * scale))
        rate, gev = throughput(geometry, particle, energy, n_run, args.workers)
        print(f"| {geometry} | {particle} | {energy} GeV | {n_run} | {rate:.2f} | {gev:.1f} |", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\npeak memory of this process: {rss:.0f} MB (results stream to disk in chunks; memory does not grow with N)"
    )


if __name__ == "__main__":
    main()
