"""Geant4 example Par04: its (r, φ, z) voxel order and the HDF5 layout of its ML training files.

Voxel order. Par04 scores energy in a cylindrical mesh about the particle direction and its inference code
(``Par04InferenceSetup::GetPositions`` in Geant4 ``examples/extended/parameterisations/Par04``) reads the model
output flat in the order r, then φ, then z (z fastest), φ bin k centred at (k + ½)·2π/n_φ − π. CaloChallenge
datasets 2/3 (made from Par04 showers) use layer z, then α, then r (r fastest), with the same angular bins
(``Dataset_creation.ipynb`` moves the axes ``(N, r, α, z) → (N, z, α, r)``). :func:`to_par04_order` and
:func:`from_par04_order` convert between the two for any geometry whose readout layers are identical
cylindrical meshes.

HDF5 layout, as the Par04 ML training files are organised (g4fastsim/MLFastSim ``preprocess.py`` reads
``{geo}_angle_{angle}.h5`` with one dataset per primary energy ``h5[f"{E_GeV}"]`` of shape
``(N, n_r, n_φ, n_z)``; the CaloChallenge source files hold groups ``Angle_<deg>`` with one dataset per shower
of shape ``(n_r, n_φ, n_z)`` keyed by the energy in MeV):

=====================================  ==============================================================
``[Angle_<deg>/]<E>``                  (N_E, n_r, n_φ, n_z) float32: showers of primary energy E, MeV of
                                       deposited (not rescaled) energy; ``<E>`` in GeV (``"1"``, ``"256"``);
                                       a 3-D dataset is a single shower and its key is in MeV
``<E>/data``                           the same inside a group (older Par04 files)
angle                                  angle of the particle to the barrel axis in degrees, from the group
                                       ``Angle_<deg>`` or the file name ``..._angle_<deg>.h5``, else none
=====================================  ==============================================================

Angles: Par04's angle is measured from the barrel axis, 90° meaning normal incidence on the layers; caloforge's
``theta`` is the angle to the stack normal (0 = normal incidence), so ``theta = 90° − angle`` (both in the
shower's own frame: the mesh follows the particle direction, so no azimuth is involved).

caloforge writes per-energy datasets keyed by the energy in GeV (an integer when it is one), inside
``Angle_<deg>`` groups when the showers carry ``theta`` (0 ≤ theta ≤ π/2); each dataset also carries the exact
energy (attribute ``energy_MeV``) and each group the exact ``theta`` (``theta_rad``). Showers are grouped by angle and
energy, so a file reads back sorted by (angle, energy), in the order written within a group. The layout has
no place for a per-shower φ or overflow (they are dropped, see ``LayoutWriter.dropped``); the particle is
stored as a file attribute and must be the same for every shower.

Energy scale: the files hold the energy deposited in the sensitive material, whereas a ShowerSet holds the
geometry's stored energy (``Geometry.energy_scale`` × deposit; CaloChallenge ds2/3: Si energy / 0.033). Reading
multiplies by ``energy_scale``, writing divides by it — exactly the rescaling of ``Dataset_creation.ipynb``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import DataFormatError, GeometryError
from caloforge.geometry import PRESETS, CylindricalBins, Geometry, get_preset
from caloforge.io.files import open_h5
from caloforge.io.formats import Format
from caloforge.io.layout import LAYOUT_ATTR, LayoutWriter, batched, choose_geometry, chunk_rows, read_dataset
from caloforge.io.showerset import ShowerSet

if TYPE_CHECKING:
    import h5py
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FORMAT",
    "MAX_ENERGY_KEYS",
    "Par04Writer",
    "count_par04",
    "from_par04_order",
    "is_par04",
    "iter_par04",
    "par04_shape",
    "read_par04",
    "to_par04_order",
]

GEV = 1000.0  # MeV per GeV: Par04 training files key their datasets by the primary energy in GeV
# One dataset per distinct (angle, energy): a continuous energy spectrum makes one dataset per shower, which
# HDF5 handles but slowly; beyond this many the writer stops and points to the native layout.
MAX_ENERGY_KEYS = 20_000
_ANGLE_GROUP = re.compile(r"^Angle_([0-9]+(?:\.[0-9]*)?)$")
_ANGLE_IN_NAME = re.compile(r"_angle_([0-9]+(?:\.[0-9]*)?)")


# --------------------------------------------------------------------------------------------------
# voxel order
# --------------------------------------------------------------------------------------------------
def par04_shape(geometry: Geometry) -> tuple[int, int, int]:
    """``(n_r, n_φ, n_z)`` of a geometry whose readout layers are identical cylindrical meshes.

    Raises:
        GeometryError: Cartesian layers, or layers with different binnings (Par04 meshes are regular).
    """
    segs = {layer.segmentation for layer in geometry.layers}
    if not geometry.is_cylindrical or len(segs) != 1:
        raise GeometryError(
            f"geometry {geometry.name!r} is not a Par04 mesh: it needs identical cylindrical (r, alpha) bins in "
            "every readout layer"
        )
    seg = segs.pop()
    assert isinstance(seg, CylindricalBins)
    return seg.n_r, seg.n_alpha, geometry.n_layers


def to_par04_order(showers: ArrayLike, geometry: Geometry) -> NDArray[np.float32]:
    """CaloChallenge order (layer, α, r; r fastest) → Par04 order (r, φ, z; z fastest).

    Args:
        showers: ``(N, n_voxels)`` in the geometry's flat order.
        geometry: a regular cylindrical mesh (see :func:`par04_shape`).

    Returns:
        ``(N, n_voxels)`` float32, flat in Par04 order (reshape to ``(N, n_r, n_φ, n_z)`` for the files).
    """
    n_r, n_phi, n_z = par04_shape(geometry)
    s = np.asarray(showers, dtype=np.float32)
    n = s.shape[0]
    if s.ndim != 2 or s.shape[1] != n_r * n_phi * n_z:
        raise DataFormatError(
            f"showers of shape {s.shape} do not fit geometry {geometry.name!r} ({geometry.n_voxels} voxels)"
        )
    return np.ascontiguousarray(s.reshape(n, n_z, n_phi, n_r).transpose(0, 3, 2, 1)).reshape(n, geometry.n_voxels)


def from_par04_order(showers: ArrayLike, geometry: Geometry) -> NDArray[np.float32]:
    """Par04 order (r, φ, z; z fastest) → CaloChallenge order (layer, α, r; r fastest).

    Args:
        showers: ``(N, n_voxels)`` flat in Par04 order, or ``(N, n_r, n_φ, n_z)``.
        geometry: a regular cylindrical mesh (see :func:`par04_shape`).

    Returns:
        ``(N, n_voxels)`` float32 in the geometry's flat order.
    """
    n_r, n_phi, n_z = par04_shape(geometry)
    s = np.asarray(showers, dtype=np.float32)
    n = s.shape[0]
    if s.size != n * n_r * n_phi * n_z or s.ndim not in (2, 4):
        raise DataFormatError(
            f"showers of shape {s.shape} do not fit geometry {geometry.name!r} (n_r, n_phi, n_z = {n_r}, {n_phi}, {n_z})"
        )
    return np.ascontiguousarray(s.reshape(n, n_r, n_phi, n_z).transpose(0, 3, 2, 1)).reshape(n, geometry.n_voxels)


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
def _theta_of(angle_deg: float) -> float:
    """caloforge ``theta`` (rad, 0 = normal incidence) of a Par04 angle (degrees to the barrel axis)."""
    return math.radians(90.0 - angle_deg)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class _Entry:
    """One dataset of a Par04 file: showers of one energy (and angle)."""

    path: str
    energy: float  # MeV
    theta: float | None  # rad, caloforge convention (0 = normal incidence)
    rows: int
    single: bool  # a (n_r, n_φ, n_z) dataset holding one shower


def _entries(f: h5py.File, source: str) -> list[_Entry]:
    import h5py

    unit_attr = f.attrs.get("energy_unit")
    unit_attr = unit_attr.decode() if isinstance(unit_attr, bytes) else unit_attr
    match = _ANGLE_IN_NAME.search(Path(source).name)
    file_angle = _theta_of(float(match.group(1))) if match else None
    out: list[_Entry] = []

    def scan(group: h5py.Group, theta: float | None) -> None:
        for key in group:
            energy_key = _number(key)
            if energy_key is None:
                continue
            obj = group[key]
            if isinstance(obj, h5py.Group):
                if "data" not in obj or not isinstance(obj["data"], h5py.Dataset):
                    continue
                obj = obj["data"]
            if obj.ndim not in (3, 4):
                raise DataFormatError(
                    f"{source}: dataset {obj.name!r} must be (N, n_r, n_phi, n_z) or (n_r, n_phi, n_z), got {obj.shape}"
                )
            single = obj.ndim == 3
            if "energy_MeV" in obj.attrs:
                energy = float(obj.attrs["energy_MeV"])
            elif unit_attr in ("GeV", "MeV"):
                energy = energy_key * (GEV if unit_attr == "GeV" else 1.0)
            else:  # MLFastSim per-energy datasets are keyed in GeV; one-shower datasets (CaloChallenge source) in MeV
                energy = energy_key if single else energy_key * GEV
            out.append(_Entry(obj.name, energy, theta, 1 if single else int(obj.shape[0]), single))

    angle_groups = []
    for key in f:
        m = _ANGLE_GROUP.match(key)
        if m and isinstance(f[key], h5py.Group):
            grp = f[key]
            theta = float(grp.attrs["theta_rad"]) if "theta_rad" in grp.attrs else _theta_of(float(m.group(1)))
            angle_groups.append((theta, grp))
    for theta, grp in sorted(angle_groups, key=lambda item: item[0]):
        scan(grp, theta)
    scan(f, file_angle)
    out.sort(key=lambda e: (-1.0 if e.theta is None else e.theta, e.energy))
    if not out:
        raise DataFormatError(
            f"{source}: no Par04 shower datasets (keys named by the primary energy, optionally in Angle_<deg> groups)"
        )
    shapes = {(f[e.path].shape[-3:]) for e in out}
    if len(shapes) != 1:
        raise DataFormatError(f"{source}: Par04 datasets have different mesh shapes {sorted(shapes)}")
    return out


def is_par04(f: h5py.File) -> bool:
    """True for files written as Par04 by caloforge or holding energy-keyed (r, φ, z) datasets."""
    import h5py

    if f.attrs.get(LAYOUT_ATTR) in ("par04", b"par04"):
        return True
    for key in f:
        obj = f[key]
        if _ANGLE_GROUP.match(key) and isinstance(obj, h5py.Group):
            return True
        if _number(key) is not None:
            if isinstance(obj, h5py.Group):
                obj = obj.get("data")
            if isinstance(obj, h5py.Dataset) and obj.ndim in (3, 4):
                return True
    return False


def _mesh_shape(f: h5py.File, entries: list[_Entry]) -> tuple[int, int, int]:
    shape = f[entries[0].path].shape[-3:]
    return int(shape[0]), int(shape[1]), int(shape[2])


def par04_geometry(f: h5py.File, source: str, given: Geometry | str | Path | None, entries: list[_Entry]) -> Geometry:
    """The geometry of an open Par04 file: given, else stored by caloforge, else the preset with that mesh."""
    mesh = _mesh_shape(f, entries)

    def fits(g: Geometry) -> bool:
        try:
            return par04_shape(g) == mesh
        except GeometryError:
            return False

    def default() -> Geometry:
        for name in PRESETS:
            if fits(get_preset(name)):
                return get_preset(name)
        raise GeometryError(
            f"{source}: mesh (n_r, n_phi, n_z) = {mesh} fits no preset geometry; pass --geometry with a geometry file"
        )

    g = choose_geometry(f, source, given, default)
    if not fits(g):
        raise DataFormatError(f"{source}: mesh (n_r, n_phi, n_z) = {mesh} does not fit geometry {g.name!r}")
    return g


def _particle(f: h5py.File) -> int | None:
    value = f.attrs.get("particle")
    return None if value is None else int(value)


def _pieces(
    f: h5py.File,
    source: str,
    entries: list[_Entry],
    geometry: Geometry,
    start: int,
    stop: int,
    validate: bool,
    max_rows: int,
) -> Iterator[ShowerSet]:
    """Showers ``start:stop`` (in the file's reading order), at most ``max_rows`` per ShowerSet."""
    particle = _particle(f)
    offset = 0
    for entry in entries:
        first, last = max(start - offset, 0), min(stop - offset, entry.rows)
        entry_offset = offset
        offset += entry.rows
        if first >= last:
            if offset >= stop:
                break
            continue
        ds = f[entry.path]
        for lo in range(first, last, max_rows):
            hi = min(lo + max_rows, last)
            raw = read_dataset(ds, source) if entry.single else read_dataset(ds, source, np.s_[lo:hi])
            n = hi - lo
            showers = from_par04_order(raw.reshape(n, geometry.n_voxels), geometry)
            if geometry.energy_scale != 1.0:
                showers *= np.float32(geometry.energy_scale)
            yield ShowerSet.from_arrays(
                np.full(n, entry.energy),
                showers,
                geometry,
                particle=particle,
                theta=None if entry.theta is None else np.full(n, entry.theta),
                validate=validate,
                source=f"{source} ({entry.path})",
                row_offset=entry_offset + lo,
            )


def _open(f: h5py.File, source: str, geometry: Geometry | str | Path | None) -> tuple[list[_Entry], Geometry]:
    entries = _entries(f, source)
    if len({e.theta is None for e in entries}) > 1:
        raise DataFormatError(f"{source}: some Par04 datasets have an angle and others none")
    return entries, par04_geometry(f, source, geometry, entries)


def count_par04(path: str | Path) -> int:
    """Number of showers in a Par04 file."""
    with open_h5(path) as f:
        return sum(e.rows for e in _entries(f, str(path)))


def read_par04(
    path: str | Path,
    *,
    geometry: Geometry | str | Path | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerSet:
    """Read showers ``start:stop`` of a Par04 file (sorted by angle, then energy; energies in MeV).

    Raises:
        DataFormatError: no energy-keyed datasets, mesh that does not fit the geometry, invalid values.
    """
    source = str(path)
    with open_h5(path) as f:
        entries, g = _open(f, source, geometry)
        n = sum(e.rows for e in entries)
        stop = n if stop is None else min(stop, n)
        pieces = list(_pieces(f, source, entries, g, start, stop, validate, max(stop - start, 1)))
    if not pieces:
        return ShowerSet.from_arrays(np.zeros(0), np.zeros((0, g.n_voxels)), g)
    return ShowerSet.concatenate(pieces)


def iter_par04(
    path: str | Path,
    batch_size: int = 10_000,
    *,
    geometry: Geometry | str | Path | None = None,
    validate: bool = True,
) -> Iterator[ShowerSet]:
    """Iterate over a Par04 file in batches of ``batch_size`` showers without loading it whole."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    source = str(path)
    with open_h5(path) as f:
        entries, g = _open(f, source, geometry)
        n = sum(e.rows for e in entries)
        yield from batched(_pieces(f, source, entries, g, 0, n, validate, batch_size), batch_size)


# --------------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------------
def _key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Par04Writer(LayoutWriter):
    """Stream showers of a regular cylindrical mesh into a Par04 file (one dataset per angle and energy).

    See :class:`~caloforge.io.layout.LayoutWriter` for the arguments; ``phi`` and ``overflow`` cannot be
    stored (:attr:`dropped`), ``particle`` is stored as a file attribute and must be the same everywhere.
    """

    format_name = "par04"
    storable = ("particle", "theta")

    def _check_geometry(self, geometry: Geometry, target: str) -> None:
        try:
            par04_shape(geometry)
        except GeometryError as exc:
            raise DataFormatError(f"cannot write {target!r} as Par04: {exc}; use --to native") from None

    def _create(self, f: h5py.File, first: ShowerSet) -> None:
        f.attrs["energy_unit"] = "GeV"
        self._mesh = par04_shape(self.geometry)
        self._rows = min(64, chunk_rows(4 * self.geometry.n_voxels, 1 << 18))
        self._particle: int | None = None
        self._n_keys = 0

    def _dataset(self, f: h5py.File, theta: float | None, energy: float) -> h5py.Dataset:
        if theta is None:
            group = f
        else:
            if not 0.0 <= theta <= math.pi / 2:
                raise DataFormatError(
                    f"cannot write {str(self.path)!r} as Par04: theta {theta} rad is not in [0, pi/2] "
                    "(Par04 angles run from 0 to 90 degrees to the barrel axis)"
                )
            name = f"Angle_{_key(round(90.0 - math.degrees(theta), 9))}"
            if name not in f:
                f.create_group(name).attrs["theta_rad"] = theta
            group = f[name]
            if float(group.attrs["theta_rad"]) != theta:
                raise DataFormatError(
                    f"cannot write {str(self.path)!r} as Par04: angles {theta} and {group.attrs['theta_rad']} rad "
                    f"share the group {name}"
                )
        key = _key(energy / GEV)
        if key not in group:
            self._n_keys += 1
            if self._n_keys > MAX_ENERGY_KEYS:
                raise DataFormatError(
                    f"cannot write {str(self.path)!r} as Par04: more than {MAX_ENERGY_KEYS} distinct (angle, energy) "
                    "pairs, one dataset each; use --to native for continuous spectra"
                )
            ds = group.create_dataset(
                key,
                shape=(0, *self._mesh),
                maxshape=(None, *self._mesh),
                dtype=np.float32,
                chunks=(self._rows, *self._mesh),
                **self._h5kw,
            )
            ds.attrs["energy_MeV"] = energy
        ds = group[key]
        if float(ds.attrs["energy_MeV"]) != energy:
            raise DataFormatError(
                f"cannot write {str(self.path)!r} as Par04: energies {energy} and {ds.attrs['energy_MeV']} MeV "
                f"share the key {key!r}"
            )
        return ds

    def _write(self, f: h5py.File, batch: ShowerSet) -> None:
        if "particle" in self.optional:
            assert batch.particle is not None
            codes = np.unique(batch.particle)
            if self._particle is None and len(codes) == 1:
                self._particle = int(codes[0])
                f.attrs["particle"] = self._particle
            if len(codes) != 1 or int(codes[0]) != self._particle:
                raise DataFormatError(
                    f"cannot write {str(self.path)!r} as Par04: it holds one particle type, the showers have several"
                )
        raw = to_par04_order(batch.showers, self.geometry)
        if self.geometry.energy_scale != 1.0:
            raw /= np.float32(self.geometry.energy_scale)
        raw = raw.reshape(len(batch), *self._mesh)
        has_theta = "theta" in self.optional and batch.theta is not None
        thetas: NDArray[np.float64] = batch.theta if has_theta and batch.theta is not None else np.zeros(len(batch))
        order = np.lexsort((batch.energy, thetas))  # stable: the batch's order is kept within a group
        t_sorted, e_sorted = thetas[order], batch.energy[order]
        bounds = np.flatnonzero((np.diff(t_sorted) != 0) | (np.diff(e_sorted) != 0)) + 1
        for rows in np.split(order, bounds):
            theta = float(thetas[rows[0]]) if has_theta else None
            self._append_rows(self._dataset(f, theta, float(batch.energy[rows[0]])), raw[rows])


FORMAT = Format(
    name="par04",
    description="Geant4 Par04 ML-training layout (per-energy (N, r, phi, z) datasets, Angle_<deg> groups)",
    detect=is_par04,
    count=count_par04,
    read=read_par04,
    iterate=iter_par04,
    writer=Par04Writer,
)
