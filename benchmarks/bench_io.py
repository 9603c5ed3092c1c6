"""Speed, file size and peak memory of streaming shower I/O (``make bench``; prints a table, asserts nothing).

Writes N synthetic showers of a preset geometry (default ``calochallenge-2``, 6480 voxels) in batches with the
native writer, then reads them back in batches, and reads one slice from the middle. Each phase runs in its own
process, so that its peak resident memory (``ru_maxrss``) is its own.

The showers are CaloChallenge-like in sparsity, not in physics: 30 % of the voxels non-zero with exponential
energies (as ``tests/conftest.py``), cycled from a pool of 4096 and rescaled per shower, so that the benchmark
times the I/O rather than the random-number generator.

    python benchmarks/bench_io.py                 # N = 100 000
    python benchmarks/bench_io.py --n 1000000     # the issue's 10^6 x 6480 target (~10 GB on disk)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

POOL = 4096


def _pool(geometry: Any, rng: np.random.Generator) -> np.ndarray:
    n_vox = geometry.n_voxels
    pool = np.empty((POOL, n_vox), dtype=np.float32)
    for start in range(0, POOL, 512):  # float32 pieces: keep the pool itself small next to a batch
        u = rng.random((min(512, POOL - start), n_vox), dtype=np.float32)
        piece = -np.log1p(-u) * (rng.random(u.shape, dtype=np.float32) < 0.3)
        pool[start : start + len(piece)] = piece / np.maximum(piece.sum(axis=1, keepdims=True), 1e-12)
    return pool


def _phase_write(path: str, geometry_name: str, n: int, batch: int, compression: str | None) -> dict[str, float]:
    from caloforge.geometry import get_preset
    from caloforge.io import NativeWriter, ShowerSet

    g = get_preset(geometry_name)
    rng = np.random.default_rng(1)
    pool = _pool(g, rng)
    t0 = time.perf_counter()
    with NativeWriter(path, g, optional=("particle",), compression=compression) as w:
        for start in range(0, n, batch):
            k = min(batch, n - start)
            energy = np.exp(rng.uniform(np.log(1e3), np.log(1e6), k))  # log-uniform 1 GeV - 1 TeV, MeV
            rows = (start + np.arange(k)) % POOL
            showers = pool[rows] * energy[:, None].astype(np.float32)
            w.append(ShowerSet.from_arrays(energy, showers, g, particle=11, validate=False))
    return {"seconds": time.perf_counter() - t0}


def _phase_read(path: str, n: int, batch: int) -> dict[str, float]:
    from caloforge.io import iter_batches

    t0 = time.perf_counter()
    total, seen = 0.0, 0
    for b in iter_batches(path, batch):
        total += float(b.showers.sum(dtype=np.float64))
        seen += len(b)
    if seen != n:
        raise RuntimeError(f"read {seen} showers, expected {n}")
    return {"seconds": time.perf_counter() - t0}


def _phase_slice(path: str, n: int, batch: int) -> dict[str, float]:
    from caloforge.io import read

    t0 = time.perf_counter()
    start = n // 2
    s = read(path, start=start, stop=min(start + min(batch, 1000), n))
    if not len(s):
        raise RuntimeError("empty slice")
    return {"seconds": time.perf_counter() - t0, "showers": float(len(s))}


def _child(queue: Any, fn: Any, args: tuple[Any, ...]) -> None:
    out = fn(*args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB
    queue.put(out)


def _run(fn: Any, *args: Any) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{fn.__name__} failed with exit code {proc.exitcode}")
    return dict(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of showers (default 100000)")
    parser.add_argument("--geometry", default="calochallenge-2", help="preset geometry (default calochallenge-2)")
    parser.add_argument("--batch", type=int, default=10_000, help="showers per batch (default 10000)")
    parser.add_argument("--no-compression", action="store_true", help="write without gzip")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the file (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the file")
    args = parser.parse_args(argv)

    from caloforge.geometry import get_preset

    n_vox = get_preset(args.geometry).n_voxels
    workdir = Path(tempfile.mkdtemp(prefix="caloforge-bench-", dir=args.dir))
    path = workdir / "showers.h5"
    compression = None if args.no_compression else "gzip"
    try:
        rows = [
            (
                "write (native, gzip)" if compression else "write (native)",
                _run(_phase_write, str(path), args.geometry, args.n, args.batch, compression),
            )
        ]
        size_gb = path.stat().st_size / 1e9
        rows.append(("read (iterate batches)", _run(_phase_read, str(path), args.n, args.batch)))
        rows.append(("read slice of 1000", _run(_phase_slice, str(path), args.n, args.batch)))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    raw_gb = args.n * n_vox * 4 / 1e9
    print(
        f"N = {args.n} showers x {n_vox} voxels ({args.geometry}), batch {args.batch}: {raw_gb:.2f} GB as float32, file {size_gb:.2f} GB"
    )
    print(f"{'phase':<24} {'time [s]':>10} {'showers/s':>12} {'MB/s (raw)':>11} {'peak RSS [MB]':>14}")
    for name, r in rows:
        count = r.get("showers", args.n)
        rate = count / r["seconds"]
        print(
            f"{name:<24} {r['seconds']:>10.1f} {rate:>12.0f} {rate * n_vox * 4 / 1e6:>11.0f} {r['peak_rss_mb']:>14.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
