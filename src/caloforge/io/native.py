"""caloforge's native HDF5 layout — a CaloChallenge file with extras.

Datasets (CaloChallenge 2022 layout, so that challenge files read directly and ours are valid challenge files):

=====================  ======================  =========================================================
``incident_energies``  (N, 1) float64          incident energy, MeV
``showers``            (N, n_voxels) float32   voxel energies, MeV, CaloChallenge flat order, gzip
``particle``           (N,) int32, optional    PDG id
``theta``, ``phi``     (N,) float64, optional  incidence angles, rad
``overflow``           (N, n_layers), optional energy outside the readout per layer, MeV
=====================  ======================  =========================================================

File attributes: ``caloforge_format_version`` (int), ``geometry`` (JSON, docs/geometry.md), ``creator``,
``metadata`` (JSON: how the file was made). Files are written under ``<name>.partial`` and renamed when
complete; :class:`NativeWriter` appends in chunks so that memory stays bounded for any N.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge._version import __version__
from caloforge.exceptions import DataFormatError, GeometryError
from caloforge.geometry import PRESETS, Geometry, geometry_from_json, get_preset, resolve_geometry
from caloforge.io.files import check_writable, open_h5, partial_path
from caloforge.io.showerset import ShowerSet

if TYPE_CHECKING:
    import h5py

__all__ = [
    "NATIVE_FORMAT_VERSION",
    "NativeWriter",
    "count_native",
    "guess_geometry",
    "is_native",
    "iter_native",
    "native_geometry",
    "read_native",
    "write_native",
]

NATIVE_FORMAT_VERSION = 1
_OPTIONAL_1D = ("particle", "theta", "phi")
_DTYPES = {"particle": np.int32, "theta": np.float64, "phi": np.float64}


def is_native(f: h5py.File) -> bool:
    """True for the CaloChallenge layout (with or without caloforge's attributes)."""
    return "showers" in f and "incident_energies" in f


def guess_geometry(n_voxels: int, source: str = "") -> Geometry:
    """The unique preset with ``n_voxels`` voxels (for CaloChallenge files that carry no geometry).

    Raises:
        GeometryError: no preset or several presets have that many voxels.
    """
    matches = [name for name in PRESETS if get_preset(name).n_voxels == n_voxels]
    if len(matches) == 1:
        return get_preset(matches[0])
    where = f"{source}: " if source else ""
    if not matches:
        raise GeometryError(
            f"{where}no preset geometry has {n_voxels} voxels and the file names none; pass --geometry NAME|FILE"
        )
    raise GeometryError(f"{where}{n_voxels} voxels fit presets {', '.join(matches)}; pass --geometry to choose")


def native_geometry(f: h5py.File, source: str, geometry: Geometry | str | Path | None) -> Geometry:
    """The geometry of an open native file: the one given, else the stored JSON, else guessed by voxel count."""
    n_voxels = int(f["showers"].shape[1]) if f["showers"].ndim == 2 else -1
    if geometry is not None:
        g = resolve_geometry(geometry)
    elif "geometry" in f.attrs:
        raw = f.attrs["geometry"]
        g = geometry_from_json(
            raw.decode() if isinstance(raw, bytes) else str(raw), source=f"{source} (geometry attribute)"
        )
    else:
        g = guess_geometry(n_voxels, source)
    if n_voxels != g.n_voxels:
        raise DataFormatError(
            f"{source}: showers have {n_voxels} voxels but geometry {g.name!r} has {g.n_voxels}; pass the right --geometry"
        )
    return g


def _check_layout(f: h5py.File, source: str) -> tuple[int, int]:
    for key in ("incident_energies", "showers"):
        if key not in f:
            raise DataFormatError(
                f"{source}: dataset {key!r} is missing (CaloChallenge layout needs incident_energies and showers)"
            )
    e, s = f["incident_energies"], f["showers"]
    if s.ndim != 2:
        raise DataFormatError(f"{source}: 'showers' must be 2-D (N, n_voxels), got shape {s.shape}")
    if e.ndim not in (1, 2) or (e.ndim == 2 and e.shape[1] != 1):
        raise DataFormatError(f"{source}: 'incident_energies' must be (N, 1), got shape {e.shape}")
    if e.shape[0] != s.shape[0]:
        raise DataFormatError(f"{source}: {e.shape[0]} incident energies but {s.shape[0]} showers")
    return int(s.shape[0]), int(s.shape[1])


def count_native(path: str | Path) -> int:
    """Number of showers in a native/CaloChallenge file, without reading them."""
    with open_h5(path) as f:
        n, _ = _check_layout(f, str(path))
        return n


def _read_rows(f: h5py.File, source: str, geometry: Geometry, start: int, stop: int, validate: bool) -> ShowerSet:
    try:
        energy = np.asarray(f["incident_energies"][start:stop], dtype=np.float64).reshape(-1)
        showers = np.asarray(f["showers"][start:stop], dtype=np.float32)
        extras: dict[str, Any] = {}
        for key in _OPTIONAL_1D:
            if key in f:
                extras[key] = np.asarray(f[key][start:stop], dtype=_DTYPES[key])
        if "overflow" in f:
            extras["overflow"] = np.asarray(f["overflow"][start:stop], dtype=np.float32)
    except (OSError, RuntimeError, KeyError) as exc:
        raise DataFormatError(
            f"{source}: cannot read showers {start}..{stop} (truncated or corrupt file?): {exc}"
        ) from None
    return ShowerSet.from_arrays(
        energy, showers, geometry, validate=validate, source=source, row_offset=start, **extras
    )


def read_native(
    path: str | Path,
    *,
    geometry: Geometry | str | Path | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerSet:
    """Read showers ``start:stop`` of a native or CaloChallenge file into memory.

    Raises:
        DataFormatError: missing datasets, inconsistent shapes, NaN/inf/negative values, corrupt file.
    """
    source = str(path)
    with open_h5(path) as f:
        n, _ = _check_layout(f, source)
        g = native_geometry(f, source, geometry)
        stop = n if stop is None else min(stop, n)
        return _read_rows(f, source, g, start, stop, validate)


def iter_native(
    path: str | Path,
    batch_size: int = 10_000,
    *,
    geometry: Geometry | str | Path | None = None,
    validate: bool = True,
) -> Iterator[ShowerSet]:
    """Iterate over a file in batches of ``batch_size`` showers without loading it whole."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    source = str(path)
    with open_h5(path) as f:
        n, _ = _check_layout(f, source)
        g = native_geometry(f, source, geometry)
        for start in range(0, n, batch_size):
            yield _read_rows(f, source, g, start, min(start + batch_size, n), validate)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``metadata`` JSON attribute of a native file (``{}`` if absent)."""
    with open_h5(path) as f:
        raw = f.attrs.get("metadata")
        if raw is None:
            return {}
        return dict(json.loads(raw.decode() if isinstance(raw, bytes) else str(raw)))


class NativeWriter:
    """Append showers to a native file in chunks; the file appears under its name only when complete.

    Data go to ``<path>.partial``; :meth:`close` (or leaving the ``with`` block without an error) renames it.
    After an error or interruption the partial file is deleted, unless ``keep_partial=True`` — then a later
    writer with ``resume=True`` and the same ``metadata`` continues where it stopped (see
    :attr:`n_written`).

    Args:
        path: final file name.
        geometry: geometry of every batch.
        metadata: JSON-serialisable description of how the file is made (stored; must match on resume).
        optional: which optional datasets to write (subset of particle, theta, phi, overflow).
        compression: h5py compression filter (``"gzip"`` as the CaloChallenge files) or ``None``.
        resume: continue an existing ``<path>.partial`` written with the same metadata.
        keep_partial: keep the partial file after an error (for resumable jobs).
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        metadata: dict[str, Any] | None = None,
        optional: tuple[str, ...] = (),
        compression: str | None = "gzip",
        compression_level: int = 4,
        resume: bool = False,
        keep_partial: bool = False,
        overwrite: bool = True,
    ) -> None:
        import h5py

        self.path = check_writable(path, overwrite=overwrite)
        self.tmp = partial_path(self.path)
        self.geometry = geometry
        self.metadata = metadata or {}
        self.keep_partial = keep_partial
        self._closed = False
        unknown = set(optional) - {*_OPTIONAL_1D, "overflow"}
        if unknown:
            raise ValueError(f"unknown optional datasets {sorted(unknown)}")
        self.optional = tuple(optional)
        meta_json = json.dumps(self.metadata, sort_keys=True)
        if resume and self.tmp.exists():
            f = open_h5(self.tmp, "a")
            stored = f.attrs.get("metadata", "{}")
            stored = stored.decode() if isinstance(stored, bytes) else str(stored)
            if stored != meta_json or f.attrs.get("geometry") != geometry.to_json():
                f.close()
                raise DataFormatError(
                    f"cannot resume {str(self.tmp)!r}: it was started with different settings; delete it or "
                    "rerun with the same options"
                )
            keys = ("incident_energies", "showers", *self.optional)
            if any(key not in f for key in keys) or any(k in f for k in (*_OPTIONAL_1D, "overflow") if k not in keys):
                f.close()
                raise DataFormatError(
                    f"cannot resume {str(self.tmp)!r}: it records other optional datasets; delete it or rerun "
                    "with the same options"
                )
            self._file = f
            # A crash inside append() can leave datasets resized but not yet written: trust only the rows
            # that a completed append() recorded.
            complete = f.attrs.get("n_complete")
            lengths = [int(f[key].shape[0]) for key in keys]
            self.n_written = min(lengths) if complete is None else min(int(complete), *lengths)
            for key in keys:
                if f[key].shape[0] != self.n_written:
                    f[key].resize(self.n_written, axis=0)
            return
        self.tmp.unlink(missing_ok=True)
        f = h5py.File(self.tmp, "w")
        n_vox = geometry.n_voxels
        rows = max(1, min(1024, (1 << 20) // max(4 * n_vox, 1)))  # ~1 MB chunks
        kw: dict[str, Any] = {}
        if compression:
            kw = {"compression": compression}
            if compression == "gzip":
                kw["compression_opts"] = compression_level
        f.create_dataset(
            "incident_energies",
            shape=(0, 1),
            maxshape=(None, 1),
            dtype=np.float64,
            chunks=(max(rows, 256), 1),
            **kw,
        )
        f.create_dataset(
            "showers", shape=(0, n_vox), maxshape=(None, n_vox), dtype=np.float32, chunks=(rows, n_vox), **kw
        )
        for key in self.optional:
            if key == "overflow":
                nl = geometry.n_layers
                f.create_dataset(
                    key,
                    shape=(0, nl),
                    maxshape=(None, nl),
                    dtype=np.float32,
                    chunks=(max(rows, 256), nl),
                    **kw,
                )
            else:
                f.create_dataset(key, shape=(0,), maxshape=(None,), dtype=_DTYPES[key], chunks=(max(rows, 256),), **kw)
        f.attrs["caloforge_format_version"] = NATIVE_FORMAT_VERSION
        f.attrs["geometry"] = geometry.to_json()
        f.attrs["creator"] = f"caloforge {__version__}"
        f.attrs["metadata"] = meta_json
        f.attrs["n_complete"] = 0
        self._file = f
        self.n_written = 0

    def append(self, batch: ShowerSet) -> None:
        """Append a batch (same geometry; carrying every optional dataset this writer writes)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        if batch.geometry != self.geometry:
            raise DataFormatError(
                f"batch geometry {batch.geometry.name!r} differs from the file's {self.geometry.name!r}"
            )
        n = len(batch)
        if n == 0:
            return
        f = self._file
        lo, hi = self.n_written, self.n_written + n
        arrays: dict[str, Any] = {"incident_energies": batch.energy.reshape(-1, 1), "showers": batch.showers}
        for key in self.optional:
            value = getattr(batch, key)
            if value is None:
                raise DataFormatError(f"batch has no {key!r} but the file {str(self.path)!r} records it")
            arrays[key] = value
        for key, value in arrays.items():
            ds = f[key]
            ds.resize(hi, axis=0)
            ds[lo:hi] = value
        self.n_written = hi
        f.attrs["n_complete"] = hi
        f.flush()

    def close(self, *, commit: bool = True) -> Path:
        """Finish: rename the partial file into place (``commit``) or discard it (unless ``keep_partial``)."""
        if self._closed:
            return self.path
        self._closed = True
        self._file.close()
        if commit:
            self.tmp.replace(self.path)
        elif not self.keep_partial:
            self.tmp.unlink(missing_ok=True)
        return self.path

    def __enter__(self) -> NativeWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close(commit=exc_type is None)


def write_native(
    path: str | Path,
    showers: ShowerSet,
    *,
    metadata: dict[str, Any] | None = None,
    compression: str | None = "gzip",
    batch_size: int = 10_000,
) -> Path:
    """Write a ShowerSet to a native file atomically (optional datasets that are present are written)."""
    optional = tuple(k for k in (*_OPTIONAL_1D, "overflow") if getattr(showers, k) is not None)
    with NativeWriter(path, showers.geometry, metadata=metadata, optional=optional, compression=compression) as w:
        for start in range(0, len(showers), batch_size):
            w.append(showers[start : start + batch_size])
    return w.path
