"""Generation speed of every model family (``make bench``; prints a table, asserts nothing).

For each family, an untrained model with the family's default configuration is built for a geometry (default
``calogan``, 504 voxels) and timed through the same path as ``caloforge generate``: ``FastSim.sample`` — noise
drawn on the CPU, the forward pass in ``torch.inference_mode``, the showers handed back as numpy arrays in MeV.
The time of a batch is the best of several repeats after a warm-up, divided by the batch size.
The issue's target: ≤ 0.1 ms per shower at batch 10,000 on 2 CPU threads (BoloGAN: 0.55 ms on the CaloChallenge's
CPU, EVALUATION.md).

    python benchmarks/bench_models.py                    # 2 threads, calogan geometry
    python benchmarks/bench_models.py --threads 1 --geometry clic-ecal --family calogan
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _time_batch(sim: object, n: int, repeats: int) -> tuple[float, float]:
    """Best wall-clock and process-CPU milliseconds per shower over ``repeats`` batches of ``n``."""
    energy = np.linspace(1e3, 1e5, n)
    sim.sample(energy, seed=0, batch_size=n)  # type: ignore[attr-defined]  # warm-up: allocator, kernels
    wall = cpu = float("inf")
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        sim.sample(energy, seed=r, batch_size=n)  # type: ignore[attr-defined]
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall / n * 1e3, cpu / n * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--geometry", default="calogan", help="preset geometry (default calogan)")
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--batches", default="1,100,10000", help="batch sizes, comma-separated")
    args = parser.parse_args(argv)

    import torch

    from caloforge.geometry import get_preset
    from caloforge.inference import FastSim
    from caloforge.models import Preprocessing, build_model, family_names, get_family

    torch.set_num_threads(args.threads)
    geometry = get_preset(args.geometry)
    batches = [int(b) for b in args.batches.split(",")]
    families = args.family or family_names()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"geometry {geometry.name} ({geometry.n_voxels} voxels), {args.threads} threads, torch {torch.__version__}, "
        f"{os.cpu_count()} cores, load average {load:.2f} (timings are only meaningful on an idle machine)"
    )
    print("ms/shower: wall clock (process CPU time in brackets, summed over threads)")
    header = f"{'family':<10} {'params':>10} {'size MB':>8} " + " ".join(f"{'@' + str(b):>20}" for b in batches)
    print(header)
    print("-" * len(header))
    for family in families:
        cls = get_family(family)
        try:
            cls.check_geometry(geometry)
        except Exception as exc:  # e.g. CaloGAN on a cylindrical readout
            print(f"{family:<10} skipped: {exc}")
            continue
        # the preprocessing a model of this family would fit on 1-100 GeV showers
        pre = Preprocessing(energy_min=1e3, energy_max=1e5)
        if family == "calogan":
            pre = pre.replace(energy_scaling="linear", voxel_norm="fixed", voxel_scale=1e3)
        model = build_model(family, geometry, preprocessing=pre, seed=0)
        sim = FastSim(model, threads=args.threads)
        cells = []
        for b in batches:
            wall, cpu = _time_batch(sim, b, max(2, min(20, 20_000 // b)))
            cells.append(f"{wall:.4f} ({cpu:.4f})")
        size = model.n_parameters * 4 / 1e6
        print(f"{family:<10} {model.n_parameters:>10,d} {size:>8.2f} " + " ".join(f"{c:>20}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
