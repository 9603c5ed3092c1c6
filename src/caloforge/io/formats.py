"""The registry of shower file formats and the dispatching read/write/iterate functions.

Each format module (``native``, ``calogan``, ``gan3d``, ``par04``) describes itself with a :class:`Format`;
reading auto-detects the layout from the datasets present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from caloforge.exceptions import DataFormatError
from caloforge.io import native
from caloforge.io.files import open_h5
from caloforge.io.showerset import ShowerSet

if TYPE_CHECKING:
    import h5py

    from caloforge.geometry import Geometry

__all__ = [
    "FORMATS",
    "Format",
    "ShowerWriter",
    "detect_format",
    "iter_batches",
    "open_writer",
    "read",
    "register",
    "write",
]


class ShowerWriter(Protocol):
    """A streaming writer: ``append`` batches, then ``close``; usable as a context manager."""

    n_written: int

    def append(self, batch: ShowerSet) -> None: ...
    def close(self, *, commit: bool = True) -> Path: ...
    def __enter__(self) -> ShowerWriter: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...


@dataclass(frozen=True)
class Format:
    """How to recognise, count, read, iterate and write one file layout."""

    name: str
    description: str
    detect: Callable[[h5py.File], bool]
    count: Callable[[Path], int]
    read: Callable[..., ShowerSet]
    iterate: Callable[..., Iterator[ShowerSet]]
    writer: Callable[..., ShowerWriter] | None = None


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> None:
    FORMATS[fmt.name] = fmt


register(
    Format(
        name="native",
        description="CaloChallenge layout (incident_energies, showers) plus caloforge metadata",
        detect=native.is_native,
        count=native.count_native,
        read=native.read_native,
        iterate=native.iter_native,
        writer=native.NativeWriter,
    )
)


def _ensure_formats() -> None:
    # the other layouts are imported on first use (each module describes itself with a FORMAT); detection
    # tries them in this order, the loosest (Par04: energy-keyed datasets) last
    from caloforge.io import calogan, gan3d, par04

    for module in (calogan, gan3d, par04):
        if module.FORMAT.name not in FORMATS:
            register(module.FORMAT)


def detect_format(path: str | Path) -> str:
    """Name of the layout of an HDF5 shower file.

    Raises:
        DataFormatError: not HDF5, or no known layout; the message lists the datasets found.
    """
    _ensure_formats()
    with open_h5(path) as f:
        for fmt in FORMATS.values():
            if fmt.detect(f):
                return fmt.name
        keys = ", ".join(sorted(f.keys())) or "none"
    raise DataFormatError(
        f"{str(path)!r}: no known shower layout (datasets found: {keys}); expected CaloChallenge "
        "(incident_energies, showers), CaloGAN (energy, layer_0...), 3DGAN (ECAL) or Par04"
    )


def _format(name: str | None, path: str | Path) -> Format:
    _ensure_formats()
    if name is None:
        name = detect_format(path)
    if name not in FORMATS:
        raise DataFormatError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name]


def read(
    path: str | Path,
    *,
    format: str | None = None,
    geometry: Geometry | str | Path | None = None,
    start: int = 0,
    stop: int | None = None,
    validate: bool = True,
) -> ShowerSet:
    """Read a shower file of any supported layout (auto-detected) into a :class:`ShowerSet` in MeV."""
    return _format(format, path).read(path, geometry=geometry, start=start, stop=stop, validate=validate)


def count(path: str | Path, *, format: str | None = None) -> int:
    """Number of showers in a file, without reading them."""
    return _format(format, path).count(Path(path))


def iter_batches(
    path: str | Path,
    batch_size: int = 10_000,
    *,
    format: str | None = None,
    geometry: Geometry | str | Path | None = None,
    validate: bool = True,
) -> Iterator[ShowerSet]:
    """Iterate over a file in batches without loading it whole."""
    return _format(format, path).iterate(path, batch_size, geometry=geometry, validate=validate)


def open_writer(path: str | Path, geometry: Geometry, *, format: str = "native", **kwargs: Any) -> ShowerWriter:
    """A streaming writer of the given layout (written under ``<path>.partial``, renamed on close)."""
    _ensure_formats()
    if format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    fmt = FORMATS[format]
    if fmt.writer is None:
        raise DataFormatError(f"format {format!r} can be read but not written")
    return fmt.writer(path, geometry, **kwargs)


def write(
    path: str | Path, showers: ShowerSet, *, format: str = "native", batch_size: int = 10_000, **kwargs: Any
) -> Path:
    """Write a ShowerSet atomically in the given layout (with every optional field it carries)."""
    if format == "native":
        return native.write_native(path, showers, batch_size=batch_size, **kwargs)
    kwargs.setdefault(
        "optional", tuple(k for k in ("particle", "theta", "phi", "overflow") if getattr(showers, k) is not None)
    )
    with open_writer(path, showers.geometry, format=format, **kwargs) as w:
        for start in range(0, len(showers), batch_size):
            w.append(showers[start : start + batch_size])
    return Path(path)
