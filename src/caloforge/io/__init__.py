"""Shower data: the in-memory :class:`ShowerSet` and HDF5 readers/writers of the field's layouts.

>>> import numpy as np
>>> from caloforge.geometry import get_preset
>>> from caloforge.io import ShowerSet
>>> s = ShowerSet.from_arrays(np.full(2, 1000.0), np.ones((2, 504)), get_preset("calogan"), particle="e+")
>>> s.layer(0).shape, s.layer_energies().shape
((2, 3, 96), (2, 3))
"""

from __future__ import annotations

from caloforge.io.files import atomic_path, open_h5
from caloforge.io.formats import (
    FORMATS,
    Format,
    ShowerWriter,
    count,
    detect_format,
    iter_batches,
    open_writer,
    read,
    write,
)
from caloforge.io.native import NativeWriter, read_metadata
from caloforge.io.showerset import PARTICLES, ShowerSet, particle_code, particle_name

__all__ = [
    "FORMATS",
    "PARTICLES",
    "Format",
    "NativeWriter",
    "ShowerSet",
    "ShowerWriter",
    "atomic_path",
    "count",
    "detect_format",
    "iter_batches",
    "open_h5",
    "open_writer",
    "particle_code",
    "particle_name",
    "read",
    "read_metadata",
    "write",
]
