"""A :class:`~caloforge.geometry.Geometry` turned into the flat arrays the transport kernel reads.

Slabs come from ``Geometry.stack.slabs`` (z from the stack front, mm); the stack spans ±width/2 transversely and
is surrounded by vacuum. Readout layers integrate ``[z_min, z_max)`` with a Cartesian grid (cell index
``ix*ny + iy``) or cylindrical bins about the z axis (index ``ia*n_r + ir``, alpha = atan2(y, x) in [−pi, pi)),
as :mod:`caloforge.geometry.core` defines them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from caloforge.exceptions import SimulationError
from caloforge.geometry import CartesianGrid, CylindricalBins, Geometry, Material

__all__ = ["DetectorArrays", "detector_arrays", "stack_materials"]


class DetectorArrays(NamedTuple):
    """Geometry for the kernel.

    Attributes:
        slab_z: ``(n_slabs + 1,)`` slab boundaries along z (mm).
        slab_mat: ``(n_slabs,)`` material index into the packed tables.
        slab_sens: ``(n_slabs,)`` 1 where deposits are scored.
        slab_layer: ``(n_slabs,)`` readout layer fully containing the slab, −1 none, −2 several.
        half: ``(2,)`` transverse half widths (mm).
        layer_z: ``(n_layers, 2)`` depth range of each readout layer.
        layer_kind: ``(n_layers,)`` 0 Cartesian, 1 cylindrical.
        layer_par: ``(n_layers, 6)`` Cartesian: x_low, y_low, dx, dy, nx, ny; cylindrical: −, −, −, −, n_r, n_alpha.
        layer_r: ``(n_layers, max_nr + 1)`` radial edges (cylindrical layers).
        layer_offset: ``(n_layers,)`` first voxel of each layer in the flat vector.
    """

    slab_z: np.ndarray
    slab_mat: np.ndarray
    slab_sens: np.ndarray
    slab_layer: np.ndarray
    half: np.ndarray
    layer_z: np.ndarray
    layer_kind: np.ndarray
    layer_par: np.ndarray
    layer_r: np.ndarray
    layer_offset: np.ndarray


def stack_materials(geometry: Geometry) -> list[Material]:
    """Distinct materials of the geometry's stack, in order of first appearance.

    Raises:
        SimulationError: a readout-only geometry (no stack to simulate).
    """
    if geometry.stack is None:
        raise SimulationError(
            f"geometry {geometry.name!r} is readout-only (no physical stack); simulate needs a stack, e.g. "
            "--geometry calogan or a geometry file with a 'stack'"
        )
    return [geometry.stack.material(name) for name in geometry.stack.material_names]


def detector_arrays(geometry: Geometry) -> DetectorArrays:
    """Flatten the stack and the readout of ``geometry`` for :mod:`caloforge.detsim.transport`."""
    mats = stack_materials(geometry)
    stack = geometry.stack
    assert stack is not None
    index = {m.name: i for i, m in enumerate(mats)}
    slabs = stack.slabs
    slab_z = np.array([s[0] for s in slabs] + [slabs[-1][1]], dtype=np.float64)
    slab_mat = np.array([index[stack.material(s[2]).name] for s in slabs], dtype=np.int64)
    slab_sens = np.array([1 if s[3] else 0 for s in slabs], dtype=np.int64)
    n_layers = geometry.n_layers
    layer_z = np.zeros((n_layers, 2))
    layer_kind = np.zeros(n_layers, dtype=np.int64)
    layer_par = np.zeros((n_layers, 6))
    max_nr = max(
        [lay.segmentation.n_r for lay in geometry.layers if isinstance(lay.segmentation, CylindricalBins)] + [0]
    )
    layer_r = np.zeros((n_layers, max_nr + 1))
    for i, lay in enumerate(geometry.layers):
        if lay.z_min is None or lay.z_max is None:
            raise SimulationError(f"geometry {geometry.name!r}: readout layer {i} has no depth range")
        layer_z[i] = (lay.z_min, lay.z_max)
        seg = lay.segmentation
        if isinstance(seg, CartesianGrid):
            layer_kind[i] = 0
            layer_par[i] = (seg.x_low, seg.y_low, seg.dx, seg.dy, seg.nx, seg.ny)
        else:
            layer_kind[i] = 1
            layer_par[i, 4] = seg.n_r
            layer_par[i, 5] = seg.n_alpha
            layer_r[i, : seg.n_r + 1] = seg.r_edges
    slab_layer = np.full(len(slabs), -1, dtype=np.int64)
    for k, (z0, z1, _, _) in enumerate(slabs):
        overlapping = [i for i in range(n_layers) if layer_z[i, 0] < z1 and layer_z[i, 1] > z0]
        if len(overlapping) == 1 and layer_z[overlapping[0], 0] <= z0 and layer_z[overlapping[0], 1] >= z1:
            slab_layer[k] = overlapping[0]
        elif overlapping:
            slab_layer[k] = -2
    return DetectorArrays(
        slab_z=slab_z,
        slab_mat=slab_mat,
        slab_sens=slab_sens,
        slab_layer=slab_layer,
        half=np.array([0.5 * stack.width_x, 0.5 * stack.width_y]),
        layer_z=layer_z,
        layer_kind=layer_kind,
        layer_par=layer_par,
        layer_r=layer_r,
        layer_offset=np.asarray(geometry.layer_offsets[:-1], dtype=np.int64),
    )
