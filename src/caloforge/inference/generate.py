"""Streaming generation into a native HDF5 file with bounded memory, resumable after an interruption."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge._version import __version__
from caloforge.exceptions import DataFormatError, ModelError
from caloforge.models.seeding import derive_seed

if TYPE_CHECKING:
    from caloforge.inference.fastsim import Extrapolation, FastSim
    from caloforge.inference.spectrum import EnergySpectrum

__all__ = ["generate_to_file"]

_ENERGY_KEY = 12


def generate_to_file(
    sim: FastSim,
    path: str | Path,
    n: int,
    spectrum: EnergySpectrum,
    *,
    seed: int,
    particle: str | int | None = None,
    theta: float | None = None,
    batch_size: int = 10_000,
    resume: bool = False,
    allow_extrapolation: bool = False,
    extrapolation: Extrapolation | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Generate ``n`` showers with energies drawn from ``spectrum`` into a native file at ``path``.

    Batch ``b`` draws its energies and noise from seeds derived from ``(seed, b)``: the file depends only on
    the arguments. The file is written under ``<path>.partial``, which is kept after an error or Ctrl-C;
    ``resume=True`` (with the same arguments) continues it.

    Args:
        sim: the model.
        path: the output file.
        n: number of showers.
        spectrum: incident energies (MeV).
        seed: the random seed.
        particle: particle name or PDG id (optional for single-particle models).
        theta: incidence angle in rad for every shower (models conditioned on θ).
        batch_size: showers per batch (bounds memory).
        resume: continue an interrupted run of the same command.
        allow_extrapolation: accept energies outside the model's training range.
        extrapolation: ``"error"``, ``"warn"`` or ``"allow"`` energies outside the training range (overrides
            ``allow_extrapolation``; see :meth:`FastSim.check_conditions`).
        progress: called with the number of showers of each written batch.

    Raises:
        ModelError: conditions the model was not trained for (checked before anything is written).
        DataFormatError: the output cannot be written, or a partial file from different arguments.
    """
    from caloforge.io import NativeWriter

    if n < 1:
        raise ModelError(f"--n must be >= 1, got {n}")
    if batch_size < 1:
        raise ModelError(f"--batch-size must be >= 1, got {batch_size}")
    # check the whole spectrum once, before any file is touched
    probe = np.array([spectrum.low, spectrum.high])
    _, p_probe, theta_probe = sim.check_conditions(
        probe, particle, theta, allow_extrapolation=allow_extrapolation, extrapolation=extrapolation
    )
    metadata: dict[str, Any] = {
        "creator": f"caloforge {__version__} generate",
        "model": sim.name,
        "family": sim.family,
        "n": n,
        "energy": spectrum.to_dict(),
        "particle": None if p_probe is None else int(p_probe[0]),
        "theta_rad": None if theta_probe is None else float(theta_probe[0]),
        "seed": seed,
        "batch_size": batch_size,
        "backend": sim.backend_name,
        "precision": sim.precision,
    }
    sampling = _solver_settings(sim)
    if sampling is not None:
        metadata["sampling"] = sampling
    optional = tuple(k for k, v in (("particle", p_probe), ("theta", theta_probe)) if v is not None)
    writer = NativeWriter(path, sim.geometry, metadata=metadata, optional=optional, resume=resume, keep_partial=True)
    with writer:
        if writer.n_written % batch_size and writer.n_written != n:
            raise DataFormatError(
                f"cannot resume {str(path)!r}: it holds {writer.n_written} showers, not whole batches"
            )
        if progress is not None and writer.n_written:
            progress(writer.n_written)
        for index in range(writer.n_written // batch_size, -(-n // batch_size)):
            m = min(batch_size, n - index * batch_size)
            energy = spectrum.sample(m, np.random.default_rng(derive_seed(seed, _ENERGY_KEY, index)))
            part = None if p_probe is None else np.full(m, p_probe[0], dtype=np.int64)
            th = None if theta_probe is None else np.full(m, theta_probe[0])
            writer.append(sim.sample_batch(energy, part, th, seed=seed, index=index))
            if progress is not None:
                progress(m)
    return Path(path)


def _solver_settings(sim: FastSim) -> dict[str, Any] | None:
    """An ODE-sampled model's solver settings (they change the showers, so the file records them), else None."""
    from caloforge.models.flowmatch import SAMPLING_KEYS, FlowMatch

    model = getattr(sim, "model", None)
    if not isinstance(model, FlowMatch):
        return None
    return {key: getattr(model.config, key) for key in SAMPLING_KEYS}  # JSON writes the cut's tuple as a list
