"""The in-memory shower container every part of caloforge passes around."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import DataFormatError
from caloforge.geometry import Geometry

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["PARTICLES", "ShowerSet", "particle_code", "particle_name"]

# PDG Monte Carlo particle numbering (PDG review "Monte Carlo particle numbering scheme").
PARTICLES: dict[str, int] = {
    "e-": 11,
    "e+": -11,
    "gamma": 22,
    "pi+": 211,
    "pi-": -211,
    "pi0": 111,
    "proton": 2212,
    "neutron": 2112,
    "mu-": 13,
    "mu+": -13,
}
_ALIASES = {
    "electron": "e-",
    "positron": "e+",
    "photon": "gamma",
    "g": "gamma",
    "γ": "gamma",
    "p": "proton",
    "n": "neutron",
    "eplus": "e+",
    "eminus": "e-",
    "piplus": "pi+",
    "piminus": "pi-",
}


def particle_code(name: str | int | np.integer) -> int:
    """PDG id of a particle name (``"e+"``, ``"gamma"``, ``"pi+"``...) or an id passed through.

    Raises:
        DataFormatError: unknown name.
    """
    if isinstance(name, int | np.integer):
        return int(name)
    key = _ALIASES.get(name, name)
    if key in PARTICLES:
        return PARTICLES[key]
    try:
        return int(key)
    except ValueError:
        raise DataFormatError(f"unknown particle {name!r}; use one of {', '.join(PARTICLES)} or a PDG id") from None


def particle_name(code: int) -> str:
    """Name of a PDG id (the id as text when it has no name here)."""
    for name, value in PARTICLES.items():
        if value == code:
            return name
    return str(code)


@dataclass(frozen=True, eq=False)
class ShowerSet:
    """Showers with their incident energies and a geometry.

    Attributes:
        energy: incident energy ``(N,)`` in MeV (float64).
        showers: voxel energies ``(N, n_voxels)`` in MeV (float32), flat order of the geometry.
        geometry: the readout the voxels belong to.
        particle: PDG id ``(N,)`` (int32), or ``None`` if not recorded.
        theta: polar angle of incidence ``(N,)`` in rad, measured from the stack normal +z (0 = normal
            incidence), or ``None``. Layouts with other conventions (3DGAN, Par04: angle to the barrel axis)
            are converted on read and write (docs/formats.md).
        phi: azimuthal angle of the particle direction ``(N,)`` in rad (atan2(y, x)), or ``None``.
        overflow: energy deposited outside the readout, per readout layer ``(N, n_layers)`` in MeV, or ``None``.
    """

    energy: NDArray[np.float64]
    showers: NDArray[np.float32]
    geometry: Geometry
    particle: NDArray[np.int32] | None = None
    theta: NDArray[np.float64] | None = None
    phi: NDArray[np.float64] | None = None
    overflow: NDArray[np.float32] | None = None

    # ---- construction --------------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        energy: ArrayLike,
        showers: ArrayLike,
        geometry: Geometry,
        *,
        particle: ArrayLike | int | str | None = None,
        theta: ArrayLike | None = None,
        phi: ArrayLike | None = None,
        overflow: ArrayLike | None = None,
        validate: bool = True,
        source: str = "",
        row_offset: int = 0,
    ) -> ShowerSet:
        """Build a ShowerSet, converting dtypes and shapes (``energy`` may be ``(N, 1)``).

        ``particle`` may be one id/name for every shower. With ``validate`` the values are checked
        (see :meth:`validate`); ``source`` names the file in error messages and ``row_offset`` is added to
        the shower numbers they quote (the position of this batch in the file).
        """
        e = np.asarray(energy, dtype=np.float64).reshape(-1)
        s = np.asarray(showers, dtype=np.float32)
        if s.ndim == 1 and e.size == 1:
            s = s.reshape(1, -1)
        n = e.shape[0]
        p: NDArray[np.int32] | None = None
        if particle is not None:
            if isinstance(particle, str | int | np.integer):
                p = np.full(n, particle_code(particle), dtype=np.int32)
            else:
                p = np.asarray(particle, dtype=np.int32).reshape(-1)
        out = cls(
            energy=e,
            showers=s,
            geometry=geometry,
            particle=p,
            theta=None if theta is None else np.asarray(theta, dtype=np.float64).reshape(-1),
            phi=None if phi is None else np.asarray(phi, dtype=np.float64).reshape(-1),
            overflow=None if overflow is None else _per_layer(np.asarray(overflow, dtype=np.float32), n, geometry),
        )
        out.check_shapes(source)
        if validate:
            out.validate(source, row_offset=row_offset)
        return out

    # ---- checks --------------------------------------------------------------------------------------
    def check_shapes(self, source: str = "") -> None:
        """Raise :class:`DataFormatError` if array shapes disagree with each other or with the geometry."""
        where = f"{source}: " if source else ""
        n = self.energy.shape[0]
        if self.showers.ndim != 2:
            raise DataFormatError(f"{where}showers must be 2-D (N, n_voxels), got shape {self.showers.shape}")
        if self.showers.shape[0] != n:
            raise DataFormatError(f"{where}{n} incident energies but {self.showers.shape[0]} showers")
        if self.showers.shape[1] != self.geometry.n_voxels:
            raise DataFormatError(
                f"{where}showers have {self.showers.shape[1]} voxels but geometry {self.geometry.name!r} has "
                f"{self.geometry.n_voxels}; pass the right --geometry"
            )
        for label in ("particle", "theta", "phi"):
            arr = getattr(self, label)
            if arr is not None and arr.shape != (n,):
                raise DataFormatError(f"{where}{label} has shape {arr.shape}, expected ({n},)")
        if self.overflow is not None and self.overflow.shape != (n, self.geometry.n_layers):
            raise DataFormatError(
                f"{where}overflow has shape {self.overflow.shape}, expected ({n}, {self.geometry.n_layers})"
            )

    def validate(self, source: str = "", *, row_offset: int = 0) -> None:
        """Raise :class:`DataFormatError` on NaN/inf anywhere, non-positive incident energies, negative voxels."""
        where = f"{source}: " if source else ""
        if not np.all(np.isfinite(self.energy)):
            raise DataFormatError(f"{where}incident energies contain NaN or inf")
        if np.any(self.energy <= 0):
            i = int(np.argmax(self.energy <= 0))
            raise DataFormatError(
                f"{where}incident energy of shower {i + row_offset} is {self.energy[i]} MeV; must be > 0"
            )
        _check_voxels(self.showers, where, row_offset)
        for label in ("theta", "phi", "overflow"):
            arr = getattr(self, label)
            if arr is not None and not np.all(np.isfinite(arr)):
                raise DataFormatError(f"{where}{label} contains NaN or inf")

    # ---- container protocol -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.energy.shape[0])

    def __getitem__(self, index: int | slice | NDArray[Any] | Sequence[int]) -> ShowerSet:
        """Select showers (slice, integer array or boolean mask); always returns a ShowerSet."""
        if isinstance(index, int | np.integer):
            index = slice(int(index), int(index) + 1 if index != -1 else None)

        def take(a: NDArray[Any] | None) -> NDArray[Any] | None:
            return None if a is None else a[index]

        return replace(
            self,
            energy=self.energy[index],
            showers=self.showers[index],
            particle=take(self.particle),
            theta=take(self.theta),
            phi=take(self.phi),
            overflow=take(self.overflow),
        )

    @staticmethod
    def concatenate(sets: Sequence[ShowerSet]) -> ShowerSet:
        """Join sets of the same geometry; optional arrays are kept only if every set has them."""
        if not sets:
            raise ValueError("nothing to concatenate")
        g = sets[0].geometry
        for s in sets[1:]:
            if s.geometry != g:
                raise DataFormatError(f"cannot concatenate showers of geometries {g.name!r} and {s.geometry.name!r}")

        def cat(label: str) -> NDArray[Any] | None:
            arrays = [getattr(s, label) for s in sets]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        return ShowerSet(
            energy=np.concatenate([s.energy for s in sets]),
            showers=np.concatenate([s.showers for s in sets]),
            geometry=g,
            particle=cat("particle"),
            theta=cat("theta"),
            phi=cat("phi"),
            overflow=cat("overflow"),
        )

    # ---- physics views -------------------------------------------------------------------------------
    @property
    def n_voxels(self) -> int:
        return int(self.showers.shape[1])

    def layer(self, i: int) -> NDArray[np.float32]:
        """Readout layer ``i`` shaped ``(N, nx, ny)`` (Cartesian) or ``(N, n_alpha, n_r)`` (cylindrical)."""
        return self.geometry.layer_view(self.showers, i)

    def layers(self) -> list[NDArray[np.float32]]:
        return self.geometry.layer_views(self.showers)

    def layer_energies(self) -> NDArray[np.float32]:
        """Energy per readout layer ``(N, n_layers)`` in MeV."""
        return self.geometry.layer_sums(self.showers)

    def total_energy(self) -> NDArray[np.float64]:
        """Sum of voxel energies per shower ``(N,)`` in MeV."""
        return self.showers.sum(axis=1, dtype=np.float64)

    def with_threshold(self, threshold: float | None = None) -> ShowerSet:
        """A copy with voxels below ``threshold`` MeV (default: the geometry's) set to zero."""
        t = self.geometry.threshold if threshold is None else threshold
        if t <= 0:
            return self
        return replace(self, showers=np.where(self.showers < t, np.float32(0), self.showers))

    def particles(self) -> list[str]:
        """Distinct particle names present."""
        if self.particle is None:
            return []
        return [particle_name(int(c)) for c in np.unique(self.particle)]


def _per_layer(values: NDArray[np.float32], n: int, geometry: Geometry) -> NDArray[np.float32]:
    """``(n, n_layers)`` from any shape holding that many values (``(0, n_layers)`` for an empty set)."""
    return values.reshape(n, -1) if n else values.reshape(0, geometry.n_layers)


def _check_voxels(showers: NDArray[np.float32], where: str, row_offset: int) -> None:
    finite = np.isfinite(showers)
    if not finite.all():
        row = int(np.argwhere(~finite)[0, 0]) + row_offset
        raise DataFormatError(f"{where}shower {row} contains NaN or inf voxel energies")
    if showers.size and showers.min() < 0:
        row = int(np.argwhere(showers < 0)[0, 0]) + row_offset
        raise DataFormatError(f"{where}shower {row} has negative voxel energies (min {showers.min():.4g} MeV)")
