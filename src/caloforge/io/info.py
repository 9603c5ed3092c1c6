"""Streaming summary of a shower file (``caloforge info``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.io.formats import count, detect_format, iter_batches

if TYPE_CHECKING:
    from caloforge.geometry import Geometry

__all__ = ["file_info"]


def file_info(
    path: str | Path, *, geometry: Geometry | str | Path | None = None, batch_size: int = 5_000
) -> dict[str, Any]:
    """Format, geometry, size, energy range, particles and energy-sum statistics of a file.

    Reads the file in batches, so memory stays bounded for any N.
    """
    fmt = detect_format(path)
    n = count(path, format=fmt)
    e_min, e_max = np.inf, -np.inf
    particles: dict[int, int] = {}
    # Chan et al.'s pairwise update of count, mean and sum of squared deviations: the one-pass
    # E[x^2] - E[x]^2 loses all precision when the spread is small compared with the mean
    n_seen, ratio_mean, ratio_m2 = 0, 0.0, 0.0
    etot_sum = 0.0
    zero = 0
    g = None
    layer_sum: np.ndarray | None = None
    for batch in iter_batches(path, batch_size, format=fmt, geometry=geometry):
        g = batch.geometry
        e_min = min(e_min, float(batch.energy.min()))
        e_max = max(e_max, float(batch.energy.max()))
        etot = batch.total_energy()
        ratio = etot / batch.energy
        k, batch_mean = len(ratio), float(ratio.mean())
        delta = batch_mean - ratio_mean
        total = n_seen + k
        ratio_m2 += float(((ratio - batch_mean) ** 2).sum()) + delta**2 * n_seen * k / total
        ratio_mean += delta * k / total
        n_seen = total
        etot_sum += float(etot.sum())
        zero += int((etot == 0).sum())
        ls = batch.layer_energies().sum(axis=0, dtype=np.float64)
        layer_sum = ls if layer_sum is None else layer_sum + ls
        if batch.particle is not None:
            codes, counts = np.unique(batch.particle, return_counts=True)
            for c, k in zip(codes, counts, strict=True):
                particles[int(c)] = particles.get(int(c), 0) + int(k)
    out: dict[str, Any] = {"file": str(path), "format": fmt, "n_showers": n}
    if g is not None:
        out["geometry"] = g.name
        out["n_voxels"] = g.n_voxels
        out["n_layers"] = g.n_layers
    if n:
        out["energy_min_MeV"] = e_min
        out["energy_max_MeV"] = e_max
        out["mean_Etot_over_Einc"] = ratio_mean
        out["std_Etot_over_Einc"] = float(np.sqrt(max(ratio_m2 / n_seen, 0.0)))
        out["mean_Etot_MeV"] = etot_sum / n
        out["empty_showers"] = zero
        if layer_sum is not None and etot_sum > 0:
            out["layer_fractions"] = [round(float(x), 5) for x in layer_sum / etot_sum]
    from caloforge.io.showerset import particle_name

    out["particles"] = {particle_name(c): k for c, k in sorted(particles.items())}
    return out
