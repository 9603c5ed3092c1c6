"""The 3DGAN HDF5 layout (CERN openlab, LCD/CLIC ECAL data; Khattak et al., EPJC 82 (2022) 386).

===========  ==============================  ==================================================================
``ECAL``     (N, nx, ny, n_layers) float32   cell energies in **GeV**; axis 1 = x (rows), axis 2 = y (columns),
                                             axis 3 = depth (layers) — 25 × 25 × 25 for the fixed-angle data,
                                             51 × 51 × 25 for the variable-angle (60°–120°) data
``energy``   (N,) float, **GeV**             incident energy; the oldest files have ``target`` instead, with
                                             the energy in column 1 (``target[:, 1]``)
``theta``    (N,) float, optional, **rad**   angle of the particle to the barrel axis (π/2 = normal incidence)
===========  ==============================  ==================================================================

Conventions (read in the 3DGAN code, github svalleco/3Dgan): the training code reads ``ECAL`` as
``(N, x, y, z)`` with the 25 layers last and sums the cells over axes 1–3; its angle measurement
(``measPython`` in ``analysis/utils/GANutils.py``) treats axes 1, 2, 3 as x, y, z and returns radians, and the
analysis bins angles with a ±0.1 rad tolerance, so ``theta`` is in radians. The variable-angle training
(``AngleTrain``) crops the 51 × 51 files to the central 25 × 25 cells (``ECAL[:, 13:38, 13:38, :]``). The sum
of the cells is about 2 % of the incident energy (the silicon sampling fraction).

Angles. 3DGAN's ``theta`` is measured from the barrel axis and its angle measurement works in the (y, z) plane
of the image, i.e. the barrel axis is the image's y axis. caloforge's ``theta`` is the angle of the particle to
the stack normal (+z, 0 = normal incidence) and ``phi`` its azimuth, so a file's ``theta_3DGAN`` reads as
``theta = |π/2 − theta_3DGAN|`` with ``phi = +π/2`` (tilt towards +y, theta_3DGAN < π/2) or ``−π/2``; writing
stores ``theta_3DGAN = π/2 − atan2(sin θ sin φ, cos θ)`` (the projection on the (y, z) plane; φ = π/2 when the
showers have no ``phi``) and the exact caloforge angles as the extra datasets ``incidence_theta`` and ``phi``.

In memory cell and incident energies are MeV (× 1000 on read). A 51 × 51 file reads with the ``clic-ecal-51``
preset; given a geometry with a smaller centred grid (``--geometry clic-ecal``) the file is cropped as
AngleTrain does and the energy outside the crop goes to ``overflow``. Files are named by particle (``Ele``,
``Gamma``, ``ChPi``, ``Pi0``); the particle is taken from that prefix when there is no ``particle`` dataset.
caloforge writes ``particle``, ``phi`` and ``overflow`` as extra datasets, which 3DGAN's code ignores.
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
    from numpy.typing import NDArray

__all__ = [
    "FORMAT",
    "Gan3DWriter",
    "angles_from_3dgan",
    "angles_to_3dgan",
    "count_gan3d",
    "grid_of",
    "is_gan3d",
    "iter_gan3d",
    "read_gan3d",
]

GEV = 1000.0  # MeV per GeV: 3DGAN stores cell and incident energies in GeV
# LCD file-name prefixes (EleEscan, GammaEscan, ChPiEscan, Pi0Escan, Ele_VarAngleMeas...): the charge of
# the charged pions is not in the name; + is assumed.
_FILE_PARTICLES = {
    "Ele": PARTICLES["e-"],
    "Gamma": PARTICLES["gamma"],
    "ChPi": PARTICLES["pi+"],
    "Pi0": PARTICLES["pi0"],
}
_EXTRAS = {"particle": np.int32, "phi": np.float64}


def angles_from_3dgan(theta_3dgan: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """caloforge ``(theta, phi)`` (rad; theta = 0 along the stack normal) of 3DGAN angles to the barrel axis."""
    tilt = np.pi / 2 - np.asarray(theta_3dgan, dtype=np.float64)
    return np.abs(tilt), np.where(tilt >= 0, np.pi / 2, -np.pi / 2)


def angles_to_3dgan(theta: NDArray[np.float64], phi: NDArray[np.float64] | None) -> NDArray[np.float64]:
    """3DGAN angle to the barrel axis (the image's y axis) of caloforge ``(theta, phi)``; ``phi = π/2`` if None."""
    theta = np.asarray(theta, dtype=np.float64)
    sin_phi = np.ones_like(theta) if phi is None else np.sin(phi)
    return np.pi / 2 - np.arctan2(np.sin(theta) * sin_phi, np.cos(theta))


def is_gan3d(f: h5py.File) -> bool:
    """True for files with an ``ECAL`` dataset."""
    return "ECAL" in f


def grid_of(geometry: Geometry) -> tuple[int, int] | None:
    """``(nx, ny)`` if every readout layer is the same centred Cartesian grid (as 3DGAN's), else ``None``."""
    grids = {layer.segmentation.shape for layer in geometry.layers if isinstance(layer.segmentation, CartesianGrid)}
    if not geometry.is_cartesian or len(grids) != 1:
        return None
    (nx, ny) = grids.pop()
    return int(nx), int(ny)


def _check_layout(f: h5py.File, source: str) -> tuple[int, tuple[int, int, int]]:
    ecal = f["ECAL"]
    if ecal.ndim != 4:
        raise DataFormatError(f"{source}: 'ECAL' must be 4-D (N, nx, ny, n_layers), got shape {ecal.shape}")
    n = int(ecal.shape[0])
    if "energy" in f:
        e = f["energy"]
        if e.ndim not in (1, 2) or (e.ndim == 2 and e.shape[1] != 1) or e.shape[0] != n:
            raise DataFormatError(f"{source}: 'energy' must be (N,) in GeV with N = {n}, got shape {e.shape}")
    elif "target" in f:
        t = f["target"]
        if t.shape[0] != n or t.ndim not in (2, 3) or t.shape[-1] < 2 or (t.ndim == 3 and t.shape[1] != 1):
            raise DataFormatError(f"{source}: 'target' must be (N, k) with the energy in column 1, got {t.shape}")
    else:
        raise DataFormatError(f"{source}: dataset 'energy' is missing (3DGAN files give it as energy or target)")
    for key in ("overflow", "theta", "incidence_theta", *_EXTRAS):
        if key in f and f[key].shape[0] != n:
            raise DataFormatError(f"{source}: '{key}' has {f[key].shape[0]} rows but 'ECAL' has {n}")
    shape = (int(ecal.shape[1]), int(ecal.shape[2]), int(ecal.shape[3]))
    return n, shape


def _crop(geometry: Geometry, shape: tuple[int, int, int], source: str) -> tuple[int, int]:
    """Offsets of the geometry's grid inside the file's (centred crop), or raise if it does not fit."""
    grid = grid_of(geometry)
    nx, ny, nz = shape
    if grid is None or geometry.n_layers != nz:
        raise DataFormatError(
            f"{source}: ECAL cells {nx} x {ny} x {nz} do not fit geometry {geometry.name!r} "
            "(3DGAN needs n_layers identical Cartesian grids)"
        )
    gx, gy = grid
    if gx > nx or gy > ny or (nx - gx) % 2 or (ny - gy) % 2:
        raise DataFormatError(
            f"{source}: ECAL cells {nx} x {ny} per layer do not fit the {gx} x {gy} grid of geometry "
            f"{geometry.name!r} (equal, or a centred crop)"
        )
    return (nx - gx) // 2, (ny - gy) // 2


def gan3d_geometry(f: h5py.File, source: str, given: Geometry | str | Path | None) -> Geometry:
    """The geometry of an open 3DGAN file: given, else stored by caloforge, else the preset of that shape."""
    _, shape = _check_layout(f, source)

    def default() -> Geometry:
        names = ["clic-ecal", "clic-ecal-51", *[n for n in PRESETS if not n.startswith("clic-ecal")]]
        for name in names:
            if name not in PRESETS:
                continue
            g = get_preset(name)
            if grid_of(g) == shape[:2] and g.n_layers == shape[2]:
                return g
        raise GeometryError(
            f"{source}: ECAL shape {shape} fits no preset geometry; pass --geometry with a Cartesian geometry file"
        )

    g = choose_geometry(f, source, given, default)
    _crop(g, shape, source)
    return g


def count_gan3d(path: str | Path) -> int:
    """Number of showers in a 3DGAN file."""
    with open_h5(path) as f:
        if "ECAL" not in f:
            raise DataFormatError(f"{path}: dataset 'ECAL' is missing (3DGAN layout)")
        n, _ = _check_layout(f, str(path))
        return n


def _read_rows(
    f: h5py.File, source: str, geometry: Geometry, start: int, stop: int, validate: bool, particle: int | None
) -> ShowerSet:
    sel = np.s_[start:stop]
    if "energy" in f:
        energy = read_dataset(f["energy"], source, sel).astype(np.float64).reshape(-1)
    else:
        target = read_dataset(f["target"], source, sel)
        energy = (target[:, 1] if target.ndim == 2 else target[:, 0, 1]).astype(np.float64)
    energy = energy * GEV
    ecal = read_dataset(f["ECAL"], source, sel).astype(np.float32, copy=False)
    ox, oy = _crop(geometry, (ecal.shape[1], ecal.shape[2], ecal.shape[3]), source)
    gx, gy = grid_of(geometry) or (0, 0)
    inner = ecal[:, ox : ox + gx, oy : oy + gy, :]
    # (N, x, y, z) -> (N, z, x, y): layer major, rows x, columns y (docs/formats.md)
    showers = np.ascontiguousarray(np.moveaxis(inner, 3, 1)).reshape(len(energy), geometry.n_voxels) * np.float32(GEV)
    extras: dict[str, Any] = {}
    if "overflow" in f:
        extras["overflow"] = read_dataset(f["overflow"], source, sel).astype(np.float64)
    if ox or oy:  # the cells outside the crop become overflow, per layer
        outside = ecal.sum(axis=(1, 2), dtype=np.float64) - inner.sum(axis=(1, 2), dtype=np.float64)
        extras["overflow"] = extras.get("overflow", 0.0) + np.maximum(outside, 0.0) * GEV
    for key, dtype in _EXTRAS.items():
        if key in f:
            extras[key] = read_dataset(f[key], source, sel).astype(dtype).reshape(-1)
    if "incidence_theta" in f:  # written by caloforge: the exact angle
        extras["theta"] = read_dataset(f["incidence_theta"], source, sel).astype(np.float64).reshape(-1)
    elif "theta" in f:
        extras["theta"], phi = angles_from_3dgan(read_dataset(f["theta"], source, sel).reshape(-1))
        extras.setdefault("phi", phi)
    if "particle" not in extras and particle is not None:
        extras["particle"] = particle
    return ShowerSet.from_arrays(
        energy, showers, geometry, validate=validate, source=source, row_offset=start, **extras
    )


def read_gan3d(
    path: str | Path,
    *,
    geometry: Geometry | str | Path | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerSet:
    """Read showers ``start:stop`` of a 3DGAN file (energies converted to MeV).

    Raises:
        DataFormatError: missing datasets, shapes that do not fit the geometry, invalid values, corrupt file.
    """
    source = str(path)
    with open_h5(path) as f:
        if "ECAL" not in f:
            raise DataFormatError(f"{source}: dataset 'ECAL' is missing (3DGAN layout)")
        g = gan3d_geometry(f, source, geometry)
        n = int(f["ECAL"].shape[0])
        stop = n if stop is None else min(stop, n)
        return _read_rows(f, source, g, start, stop, validate, particle_from_filename(path, _FILE_PARTICLES))


def iter_gan3d(
    path: str | Path,
    batch_size: int = 10_000,
    *,
    geometry: Geometry | str | Path | None = None,
    validate: bool = True,
) -> Iterator[ShowerSet]:
    """Iterate over a 3DGAN file in batches without loading it whole."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    source = str(path)
    particle = particle_from_filename(path, _FILE_PARTICLES)
    with open_h5(path) as f:
        if "ECAL" not in f:
            raise DataFormatError(f"{source}: dataset 'ECAL' is missing (3DGAN layout)")
        g = gan3d_geometry(f, source, geometry)
        n = int(f["ECAL"].shape[0])
        for start in range(0, n, batch_size):
            yield _read_rows(f, source, g, start, min(start + batch_size, n), validate, particle)


class Gan3DWriter(LayoutWriter):
    """Stream showers into a 3DGAN file: ``ECAL`` (N, nx, ny, n_layers) and ``energy`` (N,) in GeV, ``theta``.

    The geometry must be n_layers identical Cartesian grids (as ``clic-ecal``). See
    :class:`~caloforge.io.layout.LayoutWriter` for the arguments.
    """

    format_name = "3dgan"

    def _check_geometry(self, geometry: Geometry, target: str) -> None:
        if grid_of(geometry) is None:
            raise DataFormatError(
                f"cannot write {target!r} as 3DGAN: geometry {geometry.name!r} is not a stack of identical "
                "Cartesian grids (3DGAN ECAL arrays are (N, nx, ny, n_layers))"
            )

    def _create(self, f: h5py.File, first: ShowerSet) -> None:
        g = self.geometry
        nx, ny = grid_of(g) or (0, 0)
        rows = chunk_rows(4 * g.n_voxels)
        self._extendable(f, "ECAL", (nx, ny, g.n_layers), np.float32, rows)
        self._extendable(f, "energy", (), np.float64, max(rows, 256))
        for key in ("particle", "phi"):
            if key in self.optional:
                self._extendable(f, key, (), _EXTRAS[key], max(rows, 256))
        if "theta" in self.optional:
            self._extendable(f, "theta", (), np.float64, max(rows, 256))
            self._extendable(f, "incidence_theta", (), np.float64, max(rows, 256))
        if "overflow" in self.optional:
            self._extendable(f, "overflow", (g.n_layers,), np.float32, max(rows, 256))

    def _write(self, f: h5py.File, batch: ShowerSet) -> None:
        g = self.geometry
        nx, ny = grid_of(g) or (0, 0)
        cube = batch.showers.reshape(len(batch), g.n_layers, nx, ny) / np.float32(GEV)
        self._append_rows(f["ECAL"], np.ascontiguousarray(np.moveaxis(cube, 1, 3)))
        self._append_rows(f["energy"], batch.energy / GEV)
        for key in self.optional:
            if key != "theta":
                self._append_rows(f[key], getattr(batch, key))
        if "theta" in self.optional:
            assert batch.theta is not None
            self._append_rows(f["theta"], angles_to_3dgan(batch.theta, batch.phi))
            self._append_rows(f["incidence_theta"], batch.theta)


FORMAT = Format(
    name="3dgan",
    description="3DGAN layout (ECAL (N, x, y, layer) cells and energy in GeV, theta in rad)",
    detect=is_gan3d,
    count=count_gan3d,
    read=read_gan3d,
    iterate=iter_gan3d,
    writer=Gan3DWriter,
)
