"""Running the simulation: in memory, or streamed to an HDF5 file by a pool of worker processes.

Work is cut into chunks of showers that do not depend on the number of workers; each shower's random state
derives from (run seed, shower index) (:meth:`ParticleGun.generate`), and chunks are written in order, so the
output is identical for any number of workers. Files are written under ``<out>.partial`` and renamed when
complete; an interrupted run continues with ``resume=True`` (the partial file's metadata must match).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from caloforge._version import __version__
from caloforge.detsim import transport
from caloforge.detsim.config import PhysicsConfig, Setup, prepare
from caloforge.detsim.gun import ParticleGun, is_hadron, transport_type
from caloforge.exceptions import SimulationError
from caloforge.geometry import Geometry, geometry_from_json
from caloforge.io.files import check_writable, open_h5, partial_path
from caloforge.io.native import NativeWriter, read_metadata
from caloforge.io.showerset import ShowerSet

__all__ = [
    "DETSIM_VERSION",
    "EM_DETSIM_VERSION",
    "ChunkResult",
    "Simulator",
    "produce",
    "run_chunks",
    "simulate_chunk",
    "simulate_in_memory",
]

# Bump when a change of the physics or of the random-number use changes the showers of a given seed.
# Version 2 added the hadrons; e±/γ showers are those of version 1 bit for bit (tests/detsim/
# test_em_regression.py), so their files keep recording version 1 and version-1 runs can be resumed.
DETSIM_VERSION = 2
EM_DETSIM_VERSION = 1

ProgressCallback = Callable[[int, int], None]


@dataclass
class ChunkResult:
    """Showers ``start..stop-1``: voxel energies in stored units (× ``geometry.energy_scale``) and extras."""

    start: int
    stop: int
    energy: np.ndarray
    showers: np.ndarray
    overflow: np.ndarray
    stats: np.ndarray
    hits: np.ndarray | None = None
    hit_counts: np.ndarray | None = None
    cpu_seconds: float = 0.0


@dataclass
class Simulator:
    """A geometry prepared for the kernel, with the gun and the physics settings.

    Build it once per process; :meth:`run` simulates any range of shower indices.
    """

    geometry: Geometry
    gun: ParticleGun
    seed: int = 0
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    setup: Setup | None = None

    def __post_init__(self) -> None:
        if self.setup is None:
            self.setup = prepare(self.geometry, self.physics)
        cfg = self.setup.cfg
        max_stack = int(cfg[transport.C_MAX_STACK])
        self._sf = np.empty((max_stack, 7))
        self._si = np.empty((max_stack, 2), dtype=np.int64)
        self._ptype = transport_type(self.gun.pdg)

    def run(self, start: int, stop: int, *, hits: bool = False) -> ChunkResult:
        """Simulate showers ``start..stop-1``."""
        assert self.setup is not None
        g = self.geometry
        t0 = time.process_time()
        energy, pos, direction, states = self.gun.generate(start, stop, self.seed, g.beam_z)
        n = stop - start
        vox = np.zeros((n, g.n_voxels))
        over = np.zeros((n, g.n_layers))
        stats = np.zeros((n, transport.STATS_SIZE))
        ptype = np.full(n, self._ptype, dtype=np.int64)
        tab, htab, det, cfg = self.setup.tables, self.setup.hadron, self.setup.detector, self.setup.cfg
        hit_list: list[np.ndarray] = []
        counts = np.zeros(n, dtype=np.int64)
        if not hits:
            transport.run_showers(
                ptype,
                energy,
                pos,
                direction,
                states,
                tab,
                htab,
                det,
                cfg,
                vox,
                over,
                stats,
                np.empty((0, 4)),
                self._sf,
                self._si,
            )
        else:
            buf = np.empty((100_000, 4))
            for k in range(n):
                while True:
                    state = states[k].copy()
                    vox[k] = 0.0
                    over[k] = 0.0
                    stats[k] = 0.0
                    nh = transport.simulate_shower(
                        ptype[k], energy[k], pos[k, 0], pos[k, 1], pos[k, 2], direction[k, 0], direction[k, 1],
                        direction[k, 2], tab, htab, det, cfg, state, vox[k], over[k], stats[k], buf, self._sf,
                        self._si,
                    )  # fmt: skip
                    if nh <= buf.shape[0]:
                        break
                    buf = np.empty((2 * nh, 4))  # same random state: the rerun reproduces the shower
                hit_list.append(buf[:nh].copy())
                counts[k] = nh
        if np.any(stats[:, transport.S_MAX_STACK] < 0):
            raise SimulationError(f"particle stack overflow (max_stack={self.physics.max_stack}); raise max_stack")
        scale = g.energy_scale
        return ChunkResult(
            start=start,
            stop=stop,
            energy=energy,
            showers=(vox * scale).astype(np.float32),
            overflow=(over * scale).astype(np.float32),
            stats=stats,
            hits=np.concatenate(hit_list).astype(np.float32) if hits else None,
            hit_counts=counts if hits else None,
            cpu_seconds=time.process_time() - t0,
        )


# ------------------------------------------------------------------------------------------------
# worker processes
# ------------------------------------------------------------------------------------------------
_WORKER: Simulator | None = None


def _init_worker(geometry_json: str, gun: ParticleGun, seed: int, physics: PhysicsConfig) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = Simulator(geometry_from_json(geometry_json), gun, seed, physics)


def _work(start: int, stop: int, hits: bool) -> ChunkResult:
    assert _WORKER is not None
    return _WORKER.run(start, stop, hits=hits)


def simulate_chunk(
    geometry: Geometry, gun: ParticleGun, start: int, stop: int, seed: int = 0, physics: PhysicsConfig | None = None
) -> ChunkResult:
    """Simulate showers ``start..stop-1`` in this process (convenience for scripts and tests)."""
    return Simulator(geometry, gun, seed, physics or PhysicsConfig()).run(start, stop)


# ------------------------------------------------------------------------------------------------
# hits file
# ------------------------------------------------------------------------------------------------
class _HitsWriter:
    """``hits (M, 4)`` float32 (x, y, z [mm], E [MeV, deposited]) and ``offsets (N + 1,)``: shower i's hits are
    ``hits[offsets[i]:offsets[i+1]]``. Written under ``<path>.partial``; resumable like the shower file."""

    def __init__(self, path: Path, resume_at: int | None) -> None:
        import h5py

        self.path = check_writable(path)
        self.tmp = partial_path(self.path)
        if resume_at is not None and self.tmp.exists():
            f = h5py.File(self.tmp, "a")
            offsets = f["offsets"]
            if offsets.shape[0] < resume_at + 1:
                f.close()
                raise SimulationError(f"cannot resume {str(self.tmp)!r}: it holds fewer showers than the shower file")
            offsets.resize(resume_at + 1, axis=0)
            f["hits"].resize(int(offsets[resume_at]), axis=0)
            self._f = f
            return
        self.tmp.unlink(missing_ok=True)
        f = h5py.File(self.tmp, "w")
        f.create_dataset(
            "hits", shape=(0, 4), maxshape=(None, 4), dtype=np.float32, chunks=(65536, 4), compression="gzip"
        )
        f.create_dataset("offsets", data=np.zeros(1, dtype=np.int64), maxshape=(None,), chunks=(4096,))
        f.attrs["columns"] = "x_mm,y_mm,z_mm,E_MeV"
        self._f = f

    def append(self, hits: np.ndarray, counts: np.ndarray) -> None:
        f = self._f
        h, o = f["hits"], f["offsets"]
        n0, m0 = o.shape[0], h.shape[0]
        h.resize(m0 + hits.shape[0], axis=0)
        h[m0:] = hits
        o.resize(n0 + counts.size, axis=0)
        o[n0:] = m0 + np.cumsum(counts)
        f.flush()

    def close(self, commit: bool) -> None:
        self._f.close()
        if commit:
            self.tmp.replace(self.path)


# ------------------------------------------------------------------------------------------------
# production
# ------------------------------------------------------------------------------------------------
def default_chunk_size(gun: ParticleGun) -> int:
    """About 1 TeV of primary energy per chunk, between 1 and 64 showers (chunking never changes results)."""
    return int(min(64, max(1, round(1.0e6 / gun.spectrum.mean))))


def run_metadata(geometry: Geometry, gun: ParticleGun, n: int, seed: int, physics: PhysicsConfig) -> dict[str, Any]:
    """The description stored in the file; a resumed run must reproduce it exactly.

    Hadron runs record :data:`DETSIM_VERSION` and the hadronic settings; e±/γ runs record
    :data:`EM_DETSIM_VERSION` and the electromagnetic settings only, exactly as version 1 did.
    """
    hadron = is_hadron(gun.pdg)
    return {
        "generator": "caloforge.detsim",
        "detsim_version": DETSIM_VERSION if hadron else EM_DETSIM_VERSION,
        "caloforge_version": __version__,
        "geometry": geometry.name,
        "gun": gun.to_dict(),
        "n_showers": n,
        "seed": seed,
        "physics": physics.to_dict(hadronic=hadron),
    }


def produce(
    output: str | Path,
    geometry: Geometry,
    gun: ParticleGun,
    n: int,
    *,
    seed: int = 0,
    physics: PhysicsConfig | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    resume: bool = False,
    hits_path: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Simulate ``n`` showers into the native HDF5 file ``output`` (see :func:`caloforge.detsim.simulate`)."""
    physics = physics or PhysicsConfig()
    if not (isinstance(n, int | np.integer) and n > 0):
        raise SimulationError(f"number of showers must be a positive integer, got {n}")
    workers, chunk = _check_run(geometry, physics, workers, chunk_size, gun)
    metadata = run_metadata(geometry, gun, int(n), seed, physics)
    out = Path(output)
    if resume and _already_complete(out, geometry, metadata, hits_path):
        if progress:
            progress(int(n), int(n))
        return out
    writer = NativeWriter(
        out,
        geometry,
        metadata=metadata,
        optional=("particle", "theta", "phi", "overflow"),
        resume=resume,
        keep_partial=True,
    )
    start_at = writer.n_written
    hits_writer = _HitsWriter(Path(hits_path), start_at if resume else None) if hits_path is not None else None
    want_hits = hits_writer is not None
    if progress:
        progress(start_at, n)
    bounds = [(a, min(a + chunk, n)) for a in range(start_at, n, chunk)]
    view = _ShowerView(geometry, gun)

    def sink(result: ChunkResult) -> None:
        writer.append(view.showerset(result))
        if hits_writer is not None and result.hits is not None and result.hit_counts is not None:
            hits_writer.append(result.hits, result.hit_counts)

    ok = False
    try:
        run_chunks(geometry, gun, seed, physics, bounds, workers, want_hits, sink, n, progress)
        ok = True
    finally:
        if hits_writer is not None:
            hits_writer.close(commit=ok)
        writer.close(commit=ok)
    return out


def _already_complete(out: Path, geometry: Geometry, metadata: dict[str, Any], hits_path: str | Path | None) -> bool:
    """Whether ``resume`` finds ``out`` finished by this very run (then there is nothing to do).

    A finished file of another run is an error rather than something to overwrite silently.
    """
    if partial_path(out).exists() or not out.exists():
        return False
    wanted = json.dumps(metadata, sort_keys=True)
    try:
        with open_h5(out) as f:
            stored_geometry = f.attrs.get("geometry")
        stored = json.dumps(read_metadata(out), sort_keys=True)
    except (OSError, ValueError) as exc:
        raise SimulationError(f"--resume: cannot read the existing output {str(out)!r} ({exc}); remove it") from exc
    if stored != wanted or stored_geometry != geometry.to_json():
        raise SimulationError(
            f"--resume: {str(out)!r} is already complete but was made with other settings; remove it, or give "
            "another output file"
        )
    if hits_path is not None and not Path(hits_path).exists():
        raise SimulationError(
            f"--resume: {str(out)!r} is already complete but its hit list {str(hits_path)!r} is missing; remove "
            f"{str(out)!r} to simulate both again"
        )
    return True


def _check_run(
    geometry: Geometry, physics: PhysicsConfig, workers: int | None, chunk_size: int | None, gun: ParticleGun
) -> tuple[int, int]:
    if workers is None:
        workers = os.cpu_count() or 1
    if workers < 1:
        raise SimulationError(f"--workers must be >= 1, got {workers}")
    chunk = chunk_size or default_chunk_size(gun)
    if chunk < 1:
        raise SimulationError(f"chunk size must be >= 1, got {chunk}")
    if geometry.stack is None:
        prepare(geometry, physics)  # raises the readout-only error
    return workers, chunk


def simulate_in_memory(
    geometry: Geometry,
    gun: ParticleGun,
    n: int,
    *,
    seed: int = 0,
    physics: PhysicsConfig | None = None,
    workers: int | None = 1,
    chunk_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[ShowerSet, np.ndarray]:
    """Simulate ``n`` showers into memory; returns the ShowerSet and the per-shower kernel statistics."""
    physics = physics or PhysicsConfig()
    if not (isinstance(n, int | np.integer) and n > 0):
        raise SimulationError(f"number of showers must be a positive integer, got {n}")
    workers, chunk = _check_run(geometry, physics, workers, chunk_size, gun)
    bounds = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    view = _ShowerView(geometry, gun)
    parts: list[ShowerSet] = []
    stats: list[np.ndarray] = []

    def sink(result: ChunkResult) -> None:
        parts.append(view.showerset(result))
        stats.append(result.stats)

    run_chunks(geometry, gun, seed, physics, bounds, workers, False, sink, n, progress)
    return ShowerSet.concatenate(parts), np.concatenate(stats)


def run_chunks(
    geometry: Geometry,
    gun: ParticleGun,
    seed: int,
    physics: PhysicsConfig,
    bounds: list[tuple[int, int]],
    workers: int,
    want_hits: bool,
    sink: Callable[[ChunkResult], None],
    n: int,
    progress: ProgressCallback | None,
) -> None:
    """Simulate the chunks ``bounds`` and hand their results to ``sink`` in order."""
    if workers == 1 or len(bounds) <= 1:
        sim = Simulator(geometry, gun, seed, physics)
        for a, b in bounds:
            sink(sim.run(a, b, hits=want_hits))
            if progress:
                progress(b, n)
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    # spawn: numba and forked process state do not mix; workers load the compiled kernels from numba's cache
    ctx = multiprocessing.get_context("spawn")
    pending: dict[int, Future[ChunkResult]] = {}
    next_submit = 0
    next_write = 0
    max_in_flight = 2 * workers
    with ProcessPoolExecutor(
        max_workers=min(workers, len(bounds)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(geometry.to_json(), gun, seed, physics),
    ) as pool:
        try:
            while next_write < len(bounds):
                while next_submit < len(bounds) and next_submit - next_write < max_in_flight:
                    a, b = bounds[next_submit]
                    pending[next_submit] = pool.submit(_work, a, b, want_hits)
                    next_submit += 1
                result = pending.pop(next_write).result()
                sink(result)
                next_write += 1
                if progress:
                    progress(result.stop, n)
        except BaseException:
            for fut in pending.values():
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class _ShowerView:
    """Turns chunk results into ShowerSets without building physics tables (the parent of the workers)."""

    def __init__(self, geometry: Geometry, gun: ParticleGun) -> None:
        self.geometry = geometry
        self.gun = gun

    def showerset(self, result: ChunkResult) -> ShowerSet:
        n = result.stop - result.start
        return ShowerSet.from_arrays(
            result.energy,
            result.showers,
            self.geometry,
            particle=np.full(n, self.gun.pdg, dtype=np.int32),
            theta=np.full(n, self.gun.theta),
            phi=np.full(n, self.gun.phi),
            overflow=result.overflow,
            validate=False,
        )
