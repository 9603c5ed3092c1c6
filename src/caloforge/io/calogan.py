"""The CaloGAN HDF5 layout (Paganini, de Oliveira, Nachman, arXiv:1705.02355, 1712.10321).

=============  =========================  ====================================================================
``energy``     (N, 1) float, **GeV**      incident energy
``layer_i``    (N, nx_i, ny_i) float32    cell energies of readout layer i in MeV (CaloGAN: 3 × 96, 12 × 12,
                                          12 × 6), rows along x, columns along y
``overflow``   (N, n_layers), optional    energy deposited outside the readout window per layer, MeV
=============  =========================  ====================================================================

The public CaloGAN files (Mendeley DOI 10.17632/pvn3xc3wy5.1) hold one particle each and are named
``eplus.hdf5``, ``gamma.hdf5``, ``piplus.hdf5``; the particle is taken from the file name when the file has
no ``particle`` dataset. Any number of layers ``layer_0 ... layer_{n-1}`` is read, with any Cartesian
geometry whose layer shapes fit (``--geometry``); without one, the geometry stored by caloforge or the
``calogan`` preset is used. caloforge writes ``particle``, ``theta`` and ``phi`` as extra datasets, which
CaloGAN's own code ignores. In memory energies are MeV (the incident energy is multiplied by 1000 on read).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import DataFormatError, GeometryError
from caloforge.geometry import PRESETS, CartesianGrid, Geometry, get_preset
from caloforge.io.files import open_h5
from caloforge.io.formats import Format
from caloforge.io.layout import LayoutWriter, choose_geometry, chunk_rows, particle_from_filename, read_dataset
from caloforge.io.showerset import PARTICLES, ShowerSet

if TYPE_CHECKING:
    import h5py

__all__ = ["FORMAT", "CaloGANWriter", "count_calogan", "is_calogan", "iter_calogan", "read_calogan"]

GEV = 1000.0  # MeV per GeV: CaloGAN stores the incident energy in GeV
_FILE_PARTICLES = {
    "eplus": PARTICLES["e+"],
    "eminus": PARTICLES["e-"],
    "gamma": PARTICLES["gamma"],
    "piplus": PARTICLES["pi+"],
    "piminus": PARTICLES["pi-"],
}
_EXTRAS = {"particle": np.int32, "theta": np.float64, "phi": np.float64}


def is_calogan(f: h5py.File) -> bool:
    """True for files with ``energy`` and ``layer_0`` datasets."""
    return "energy" in f and "layer_0" in f


def _n_layers(f: h5py.File) -> int:
    n = 0
    while f"layer_{n}" in f:
        n += 1
    return n


def _fits(geometry: Geometry, shapes: list[tuple[int, ...]]) -> bool:
    return geometry.n_layers == len(shapes) and all(
        isinstance(layer.segmentation, CartesianGrid) and layer.segmentation.shape == shape
        for layer, shape in zip(geometry.layers, shapes, strict=True)
    )


def _check_layout(f: h5py.File, source: str) -> tuple[int, list[tuple[int, ...]]]:
    e = f["energy"]
    if e.ndim not in (1, 2) or (e.ndim == 2 and e.shape[1] != 1):
        raise DataFormatError(f"{source}: 'energy' must be (N, 1) in GeV, got shape {e.shape}")
    n = int(e.shape[0])
    shapes = []
    for i in range(_n_layers(f)):
        ds = f[f"layer_{i}"]
        if ds.ndim != 3:
            raise DataFormatError(f"{source}: 'layer_{i}' must be 3-D (N, nx, ny), got shape {ds.shape}")
        if ds.shape[0] != n:
            raise DataFormatError(f"{source}: 'layer_{i}' has {ds.shape[0]} showers but 'energy' has {n}")
        shapes.append(tuple(int(x) for x in ds.shape[1:]))
    for key in ("overflow", *_EXTRAS):
        if key in f and f[key].shape[0] != n:
            raise DataFormatError(f"{source}: '{key}' has {f[key].shape[0]} rows but 'energy' has {n}")
    if "overflow" in f and f["overflow"].shape != (n, len(shapes)):
        raise DataFormatError(f"{source}: 'overflow' must be (N, {len(shapes)}), got shape {f['overflow'].shape}")
    return n, shapes


def calogan_geometry(f: h5py.File, source: str, given: Geometry | str | Path | None) -> Geometry:
    """The geometry of an open CaloGAN file: given, else stored by caloforge, else a Cartesian preset that fits."""
    _, shapes = _check_layout(f, source)

    def default() -> Geometry:
        names = ["calogan", *[n for n in PRESETS if n != "calogan"]]
        for name in names:
            g = get_preset(name)
            if _fits(g, shapes):
                return g
        raise GeometryError(
            f"{source}: layer shapes {shapes} fit no preset geometry; pass --geometry with a Cartesian geometry file"
        )

    g = choose_geometry(f, source, given, default)
    if not _fits(g, shapes):
        want = [layer.segmentation.shape for layer in g.layers]
        raise DataFormatError(
            f"{source}: layer shapes {shapes} do not fit geometry {g.name!r} (Cartesian layers {want})"
        )
    return g


def count_calogan(path: str | Path) -> int:
    """Number of showers in a CaloGAN file."""
    with open_h5(path) as f:
        n, _ = _check_layout(f, str(path))
        return n


def _read_rows(
    f: h5py.File, source: str, geometry: Geometry, start: int, stop: int, validate: bool, particle: int | None
) -> ShowerSet:
    energy = read_dataset(f["energy"], source, np.s_[start:stop]).astype(np.float64).reshape(-1) * GEV
    n = energy.shape[0]
    showers = np.empty((n, geometry.n_voxels), dtype=np.float32)
    for i in range(geometry.n_layers):
        block = read_dataset(f[f"layer_{i}"], source, np.s_[start:stop])
        showers[:, geometry.layer_slice(i)] = block.reshape(n, geometry.layer_sizes[i])
    extras: dict[str, Any] = {}
    if "overflow" in f:
        extras["overflow"] = read_dataset(f["overflow"], source, np.s_[start:stop]).astype(np.float32)
    for key, dtype in _EXTRAS.items():
        if key in f:
            extras[key] = read_dataset(f[key], source, np.s_[start:stop]).astype(dtype)
    if "particle" not in extras and particle is not None:
        extras["particle"] = particle
    return ShowerSet.from_arrays(
        energy, showers, geometry, validate=validate, source=source, row_offset=start, **extras
    )


def read_calogan(
    path: str | Path,
    *,
    geometry: Geometry | str | Path | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerSet:
    """Read showers ``start:stop`` of a CaloGAN file (energies converted to MeV).

    Raises:
        DataFormatError: missing datasets, shapes that do not fit the geometry, invalid values, corrupt file.
    """
    source = str(path)
    with open_h5(path) as f:
        _require(f, source)
        g = calogan_geometry(f, source, geometry)
        n = int(f["energy"].shape[0])
        stop = n if stop is None else min(stop, n)
        return _read_rows(f, source, g, start, stop, validate, particle_from_filename(path, _FILE_PARTICLES))


def iter_calogan(
    path: str | Path,
    batch_size: int = 10_000,
    *,
    geometry: Geometry | str | Path | None = None,
    validate: bool = True,
) -> Iterator[ShowerSet]:
    """Iterate over a CaloGAN file in batches without loading it whole."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    source = str(path)
    particle = particle_from_filename(path, _FILE_PARTICLES)
    with open_h5(path) as f:
        _require(f, source)
        g = calogan_geometry(f, source, geometry)
        n = int(f["energy"].shape[0])
        for start in range(0, n, batch_size):
            yield _read_rows(f, source, g, start, min(start + batch_size, n), validate, particle)


def _require(f: h5py.File, source: str) -> None:
    for key in ("energy", "layer_0"):
        if key not in f:
            raise DataFormatError(f"{source}: dataset {key!r} is missing (CaloGAN layout needs energy and layer_0...)")


class CaloGANWriter(LayoutWriter):
    """Stream showers of a Cartesian geometry into a CaloGAN file (``energy`` in GeV, ``layer_i`` in MeV).

    See :class:`~caloforge.io.layout.LayoutWriter` for the arguments. ``overflow`` is written when the
    showers carry it; ``particle``, ``theta`` and ``phi`` as extra datasets.
    """

    format_name = "calogan"

    def _check_geometry(self, geometry: Geometry, target: str) -> None:
        if not geometry.is_cartesian:
            raise DataFormatError(
                f"cannot write {target!r} as CaloGAN: geometry {geometry.name!r} is not Cartesian "
                "(CaloGAN layer_i arrays are grids of cells); use --to native or par04"
            )

    def _create(self, f: h5py.File, first: ShowerSet) -> None:
        g = self.geometry
        rows = max(64, chunk_rows(4 * g.n_voxels))
        self._extendable(f, "energy", (1,), np.float64, rows)
        for i, layer in enumerate(g.layers):
            self._extendable(f, f"layer_{i}", layer.segmentation.shape, np.float32, rows)
        if "overflow" in self.optional:
            self._extendable(f, "overflow", (g.n_layers,), np.float32, rows)
        for key in ("particle", "theta", "phi"):
            if key in self.optional:
                self._extendable(f, key, (), _EXTRAS[key], rows)

    def _write(self, f: h5py.File, batch: ShowerSet) -> None:
        self._append_rows(f["energy"], (batch.energy / GEV).reshape(-1, 1))
        for i, view in enumerate(batch.layers()):
            self._append_rows(f[f"layer_{i}"], np.ascontiguousarray(view, dtype=np.float32))
        for key in self.optional:
            self._append_rows(f[key], getattr(batch, key))


FORMAT = Format(
    name="calogan",
    description="CaloGAN layout (energy in GeV, layer_i cell arrays in MeV, overflow)",
    detect=is_calogan,
    count=count_calogan,
    read=read_calogan,
    iterate=iter_calogan,
    writer=CaloGANWriter,
)
