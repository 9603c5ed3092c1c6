"""File helpers shared by the format modules: safe opening and atomic writing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from caloforge.exceptions import DataFormatError

if TYPE_CHECKING:
    import h5py

__all__ = ["atomic_path", "check_writable", "open_h5", "partial_path"]


def partial_path(path: str | Path) -> Path:
    """The temporary name a file is written under before it is renamed into place (``out.h5.partial``)."""
    p = Path(path)
    return p.with_name(p.name + ".partial")


def check_writable(path: str | Path, *, overwrite: bool = True) -> Path:
    """Fail early, with a clear message, if ``path`` cannot be written.

    Raises:
        DataFormatError: the folder does not exist or is not writable, the path is a folder, or the file
            exists and ``overwrite`` is false.
    """
    p = Path(path)
    if p.is_dir():
        raise DataFormatError(f"output {str(p)!r} is a folder; give a file name such as {str(p / 'showers.h5')!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DataFormatError(f"cannot write {str(p)!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise DataFormatError(f"cannot write {str(p)!r}: folder {str(parent)!r} is not writable")
    if p.exists() and not overwrite:
        raise DataFormatError(f"output {str(p)!r} exists; remove it or pass --overwrite")
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, *, keep_on_error: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` when the block succeeds.

    On an exception the temporary file is removed (unless ``keep_on_error``), so no half-written output is
    ever left under the final name.
    """
    final = check_writable(path)
    tmp = partial_path(final)
    try:
        yield tmp
    except BaseException:
        if not keep_on_error:
            tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)


def open_h5(path: str | Path, mode: str = "r") -> h5py.File:
    """Open an HDF5 file, turning h5py's errors into one-line :class:`DataFormatError` messages."""
    import h5py

    p = Path(path)
    if mode == "r":
        if not p.exists():
            raise DataFormatError(f"file {str(p)!r} does not exist")
        if p.is_dir():
            raise DataFormatError(f"{str(p)!r} is a folder, not an HDF5 file")
    try:
        return h5py.File(p, mode)
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or type(exc).__name__
        raise DataFormatError(f"file {str(p)!r} cannot be opened as HDF5 (truncated or corrupt?): {reason}") from None
