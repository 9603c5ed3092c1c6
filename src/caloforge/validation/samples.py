"""Loading and checking the samples of an evaluation: one-line errors for files that cannot be compared."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import DataFormatError, GeometryError

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.io.showerset import ShowerSet

__all__ = ["check_comparable", "check_sample", "load_sample"]


def check_sample(showers: ShowerSet, name: str) -> None:
    """Raise :class:`DataFormatError` naming ``name`` if the sample is empty or holds NaN/inf/negative values."""
    if len(showers) == 0:
        raise DataFormatError(f"{name} holds no showers")
    showers.validate(name)


def check_comparable(reference: ShowerSet, other: ShowerSet, ref_name: str, other_name: str) -> None:
    """Raise :class:`GeometryError` if two samples do not share one readout (voxel count and binning).

    Geometries that differ only in their physical stack or description (same readout) are comparable.
    """
    g, h = reference.geometry, other.geometry
    if g.n_voxels != h.n_voxels:
        raise GeometryError(
            f"{other_name} has {h.n_voxels} voxels (geometry {h.name!r}) but the reference {ref_name} has "
            f"{g.n_voxels} (geometry {g.name!r}); they cannot be compared"
        )
    if g.layers != h.layers:
        raise GeometryError(
            f"{other_name} (geometry {h.name!r}) and the reference {ref_name} (geometry {g.name!r}) have different "
            "readout binnings; they cannot be compared (pass --geometry if one file names the wrong geometry)"
        )


def load_sample(
    path: str | Path,
    *,
    role: str,
    geometry: Geometry | str | Path | None = None,
    max_showers: int | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
) -> ShowerSet:
    """Read a shower file for an evaluation, optionally a seeded random subset of ``max_showers`` showers.

    Reading streams the file in batches, so only the selected showers are held in memory.

    Args:
        path: HDF5 file of any supported layout.
        role: ``"reference"``, ``"generated"`` or ``"training"`` — named in error messages.
        geometry: overrides the geometry stored in (or guessed for) the file.
        max_showers: keep at most this many showers, chosen at random with ``seed`` (files may be sorted by
            energy, so the first N would be biased).

    Raises:
        DataFormatError: missing, unreadable or empty file; NaN/inf/negative values.
    """
    from caloforge.io import count, iter_batches
    from caloforge.io.showerset import ShowerSet

    name = f"{role} file {str(path)!r}"
    if not Path(path).exists():
        raise DataFormatError(f"{name} does not exist")
    n = count(path)
    if n == 0:
        raise DataFormatError(f"{name} holds no showers")
    if max_showers is not None and max_showers < 1:
        raise DataFormatError(f"--max-showers must be >= 1, got {max_showers}")
    keep = None
    if max_showers is not None and max_showers < n:
        keep = np.zeros(n, dtype=bool)
        keep[np.random.default_rng(seed).choice(n, size=max_showers, replace=False)] = True
    parts = []
    start = 0
    for batch in iter_batches(path, batch_size, geometry=geometry):
        stop = start + len(batch)
        parts.append(batch if keep is None else batch[keep[start:stop]])
        start = stop
    sample = ShowerSet.concatenate(parts)
    check_sample(sample, name)
    return sample
