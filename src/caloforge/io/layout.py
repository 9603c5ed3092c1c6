"""What the CaloGAN, 3DGAN and Par04 layouts share: geometry resolution, guarded reads, the writer base class.

The native layout (``native.py``) has its own writer, :class:`~caloforge.io.native.NativeWriter`, which
also resumes interrupted jobs. The other layouts are written by subclasses of :class:`LayoutWriter`: data go
to ``<name>.partial`` and the file is renamed into place only when :meth:`LayoutWriter.close` commits, so no
half-written output ever appears under the final name.

Every file caloforge writes carries the attributes ``caloforge_layout`` (the format name), ``geometry``
(the geometry JSON, docs/geometry.md), ``creator`` and ``metadata`` (JSON), so that a round trip through any
layout keeps the geometry even where the layout itself has no place for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from caloforge._version import __version__
from caloforge.exceptions import DataFormatError
from caloforge.geometry import Geometry, geometry_from_json, resolve_geometry
from caloforge.io.files import check_writable, partial_path
from caloforge.io.showerset import ShowerSet

if TYPE_CHECKING:
    import h5py
    from numpy.typing import NDArray

__all__ = [
    "LAYOUT_ATTR",
    "OPTIONAL_FIELDS",
    "LayoutWriter",
    "batched",
    "choose_geometry",
    "chunk_rows",
    "particle_from_filename",
    "read_dataset",
    "stored_geometry",
]

LAYOUT_ATTR = "caloforge_layout"
OPTIONAL_FIELDS = ("particle", "theta", "phi", "overflow")


def stored_geometry(f: h5py.File, source: str) -> Geometry | None:
    """The geometry JSON a caloforge file stores in its ``geometry`` attribute, or ``None``."""
    raw = f.attrs.get("geometry")
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return geometry_from_json(text, source=f"{source} (geometry attribute)")


def choose_geometry(
    f: h5py.File, source: str, given: Geometry | str | Path | None, default: Callable[[], Geometry]
) -> Geometry:
    """The geometry given by the caller, else the one stored in the file, else ``default()``."""
    if given is not None:
        return resolve_geometry(given)
    stored = stored_geometry(f, source)
    return stored if stored is not None else default()


def read_dataset(ds: h5py.Dataset, source: str, selection: Any = ()) -> NDArray[Any]:
    """``ds[selection]``, turning HDF5 read errors (truncated, corrupt chunks) into :class:`DataFormatError`."""
    try:
        return np.asarray(ds[selection])
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(
            f"{source}: cannot read dataset {ds.name!r} (truncated or corrupt file?): {reason}"
        ) from None


def particle_from_filename(path: str | Path, table: dict[str, int]) -> int | None:
    """PDG id suggested by a file name, e.g. CaloGAN's ``eplus.hdf5`` or 3DGAN's ``Ele_...h5``.

    ``table`` maps file-name prefixes (compared case-insensitively, first match wins) to PDG ids.
    """
    stem = Path(path).name.lower()
    for prefix, code in table.items():
        if stem.startswith(prefix.lower()):
            return code
    return None


def chunk_rows(bytes_per_row: int, target: int = 1 << 20) -> int:
    """Rows per HDF5 chunk so that a chunk holds about ``target`` bytes (1 MB by default)."""
    return max(1, min(1024, target // max(bytes_per_row, 1)))


def batched(pieces: Iterator[ShowerSet], batch_size: int) -> Iterator[ShowerSet]:
    """Regroup an iterator of small ShowerSets into batches of exactly ``batch_size`` (the last may be smaller)."""
    buffer: list[ShowerSet] = []
    held = 0
    for piece in pieces:
        while len(piece):
            take = min(len(piece), batch_size - held)
            buffer.append(piece[:take])
            held += take
            piece = piece[take:]
            if held == batch_size:
                yield buffer[0] if len(buffer) == 1 else ShowerSet.concatenate(buffer)
                buffer, held = [], 0
    if held:
        yield buffer[0] if len(buffer) == 1 else ShowerSet.concatenate(buffer)


class LayoutWriter:
    """Base class of the streaming writers of the CaloGAN, 3DGAN and Par04 layouts.

    Subclasses set :attr:`format_name` and :attr:`storable` and implement :meth:`_check_geometry`,
    :meth:`_create` and :meth:`_write`. The geometry is checked before anything touches the disk.

    Args:
        path: final file name; data go to ``<path>.partial`` until :meth:`close` commits.
        geometry: the geometry of every batch.
        metadata: JSON-serialisable description of how the file was made (stored as an attribute).
        optional: optional fields to write (subset of particle, theta, phi, overflow); ``None``: those the
            first batch carries. Fields the layout cannot store are listed in :attr:`dropped`.
        compression: h5py filter (``"gzip"``) or ``None``.
        compression_level: gzip level.
        overwrite: replace an existing file (else :class:`DataFormatError`).
    """

    format_name: ClassVar[str] = ""
    storable: ClassVar[tuple[str, ...]] = OPTIONAL_FIELDS

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        metadata: dict[str, Any] | None = None,
        optional: tuple[str, ...] | None = None,
        compression: str | None = "gzip",
        compression_level: int = 4,
        overwrite: bool = True,
    ) -> None:
        import h5py

        if optional is not None:
            unknown = set(optional) - set(OPTIONAL_FIELDS)
            if unknown:
                raise ValueError(f"unknown optional fields {sorted(unknown)}; known: {', '.join(OPTIONAL_FIELDS)}")
        self._check_geometry(geometry, str(path))
        self.path = check_writable(path, overwrite=overwrite)
        self.tmp = partial_path(self.path)
        self.geometry = geometry
        self.metadata = metadata or {}
        self.n_written = 0
        self._closed = False
        self._requested = None if optional is None else tuple(optional)
        self.optional: tuple[str, ...] = ()
        self.dropped: tuple[str, ...] = ()
        self._ready = False
        self._h5kw: dict[str, Any] = {}
        if compression:
            self._h5kw = {"compression": compression}
            if compression == "gzip":
                self._h5kw["compression_opts"] = compression_level
        self.tmp.unlink(missing_ok=True)
        self._file = h5py.File(self.tmp, "w")
        f = self._file
        f.attrs[LAYOUT_ATTR] = self.format_name
        f.attrs["geometry"] = geometry.to_json()
        f.attrs["creator"] = f"caloforge {__version__}"
        f.attrs["metadata"] = json.dumps(self.metadata, sort_keys=True)

    # ---- subclass hooks ----------------------------------------------------------------------------
    def _check_geometry(self, geometry: Geometry, target: str) -> None:
        """Raise :class:`DataFormatError` if the layout cannot hold ``geometry``."""

    def _create(self, f: h5py.File, first: ShowerSet) -> None:
        """Create the datasets (called with the first non-empty batch, :attr:`optional` already set)."""
        raise NotImplementedError

    def _write(self, f: h5py.File, batch: ShowerSet) -> None:
        """Append ``batch`` (rows ``n_written`` to ``n_written + len(batch)``)."""
        raise NotImplementedError

    # ---- helpers for subclasses --------------------------------------------------------------------
    def _extendable(self, f: h5py.File, name: str, row_shape: tuple[int, ...], dtype: Any, rows: int) -> None:
        f.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            dtype=dtype,
            chunks=(rows, *row_shape),
            **self._h5kw,
        )

    @staticmethod
    def _append_rows(ds: h5py.Dataset, values: NDArray[Any]) -> None:
        lo = ds.shape[0]
        ds.resize(lo + values.shape[0], axis=0)
        ds[lo:] = values

    # ---- public API ----------------------------------------------------------------------------------
    def append(self, batch: ShowerSet) -> None:
        """Append a batch (same geometry as the writer; carrying every optional field being written)."""
        if self._closed:
            raise RuntimeError("writer is closed")
        if batch.geometry != self.geometry:
            raise DataFormatError(
                f"{str(self.path)!r}: batch geometry {batch.geometry.name!r} differs from the file's "
                f"{self.geometry.name!r}"
            )
        if len(batch) == 0:
            return
        if not self._ready:
            wanted = self._requested
            if wanted is None:
                wanted = tuple(k for k in OPTIONAL_FIELDS if getattr(batch, k) is not None)
            self.optional = tuple(k for k in wanted if k in self.storable)
            self.dropped = tuple(k for k in wanted if k not in self.storable)
            self._create(self._file, batch)
            self._ready = True
        for key in self.optional:
            if getattr(batch, key) is None:
                raise DataFormatError(f"batch has no {key!r} but the file {str(self.path)!r} records it")
        self._write(self._file, batch)
        self.n_written += len(batch)
        self._file.flush()

    def close(self, *, commit: bool = True) -> Path:
        """Finish: rename the partial file into place (``commit``) or delete it."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            if commit and not self._ready:  # an empty file still gets its (empty) datasets
                empty = ShowerSet.from_arrays(np.zeros(0), np.zeros((0, self.geometry.n_voxels)), self.geometry)
                self.optional = tuple(k for k in (self._requested or ()) if k in self.storable)
                self._create(self._file, empty)
            self._file.attrs["n_showers"] = self.n_written
            self._file.close()
        except BaseException:
            self._file.close()
            self.tmp.unlink(missing_ok=True)
            raise
        if commit:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return self.path

    def __enter__(self) -> LayoutWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close(commit=exc_type is None)
