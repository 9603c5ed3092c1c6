"""Detector geometry: a physical stack of slabs plus a readout of voxels.

Coordinates (mm): the particle axis is +z; ``z = 0`` is the front face of the stack and depth grows along
+z; x and y are transverse with the nominal beam at ``x = y = 0``. Readout layers integrate a depth range
``[z_min, z_max)`` and are segmented either as a Cartesian grid or as cylindrical (r, α) bins about the
particle axis.

Flat voxel order (ARCHITECTURE.md): readout layer major; within a cylindrical layer α then r (r fastest) —
the CaloChallenge order; within a Cartesian layer rows (x) then columns (y), C order — as CaloGAN's
``layer_i`` arrays of shape ``(N, nx, ny)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from caloforge.exceptions import GeometryError
from caloforge.geometry.materials import Material, get_material, radiation_length

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "Block",
    "CartesianGrid",
    "CylindricalBins",
    "Geometry",
    "ReadoutLayer",
    "Slab",
    "Stack",
]


# --------------------------------------------------------------------------------------------------
# physical stack
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slab:
    """One physical layer: a material and its thickness (mm)."""

    material: str
    thickness: float


@dataclass(frozen=True)
class Block:
    """A group of slabs repeated ``repeat`` times (e.g. 80 × (2 mm Pb + 4 mm LAr))."""

    slabs: tuple[Slab, ...]
    repeat: int = 1


@dataclass(frozen=True)
class Stack:
    """The physical calorimeter: blocks of slabs along z, a transverse size, what is sensitive.

    Attributes:
        blocks: the ordered blocks, front to back.
        width_x, width_y: transverse full widths in mm (the stack spans ±width/2).
        sensitive: names of the sensitive materials, or ``("*",)`` to score the energy deposited in
            every volume (the 2017 CaloGAN production did that).
        range_cut: production range cut in mm (Geant4 FTFP_BERT default 0.7 mm).
        materials: user-defined materials referenced by the slabs (name → Material).
    """

    blocks: tuple[Block, ...]
    width_x: float
    width_y: float
    sensitive: tuple[str, ...] = ("*",)
    range_cut: float = 0.7
    materials: dict[str, Material] = field(default_factory=dict, compare=False, hash=False)

    def material(self, name: str) -> Material:
        return get_material(name, self.materials)

    @cached_property
    def slabs(self) -> list[tuple[float, float, str, bool]]:
        """Every slab as ``(z_front, z_back, material, sensitive)``, front to back, in mm."""
        out: list[tuple[float, float, str, bool]] = []
        z = 0.0
        score_all = "*" in self.sensitive
        for block in self.blocks:
            for _ in range(block.repeat):
                for slab in block.slabs:
                    sensitive = score_all or slab.material in self.sensitive
                    out.append((z, z + slab.thickness, slab.material, sensitive))
                    z += slab.thickness
        return out

    @property
    def depth(self) -> float:
        """Total depth in mm."""
        return sum(b.repeat * sum(s.thickness for s in b.slabs) for b in self.blocks)

    @property
    def scores_all(self) -> bool:
        return "*" in self.sensitive

    @property
    def material_names(self) -> list[str]:
        """Distinct materials of the stack, in order of first appearance."""
        seen: dict[str, None] = {}
        for block in self.blocks:
            for slab in block.slabs:
                seen.setdefault(slab.material, None)
        return list(seen)

    def depth_in_X0(self) -> float:
        """Total depth in radiation lengths (Tsai X0 of each slab, PHYSICS.md §3.1)."""
        total = 0.0
        for block in self.blocks:
            for slab in block.slabs:
                m = self.material(slab.material)
                x0_mm = radiation_length(m) / m.density * 10.0
                total += block.repeat * slab.thickness / x0_mm
        return total


# --------------------------------------------------------------------------------------------------
# readout
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CartesianGrid:
    """``nx`` rows (along x) × ``ny`` columns (along y) of cells of ``dx`` × ``dy`` mm.

    The grid's lower corner is ``(x0, y0)``; by default the grid is centred on the axis.
    """

    nx: int
    ny: int
    dx: float
    dy: float
    x0: float | None = None
    y0: float | None = None

    kind: Literal["cartesian"] = field(default="cartesian", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dx", float(self.dx))
        object.__setattr__(self, "dy", float(self.dy))

    @property
    def n_cells(self) -> int:
        return self.nx * self.ny

    @property
    def shape(self) -> tuple[int, int]:
        return (self.nx, self.ny)

    @property
    def x_low(self) -> float:
        return -0.5 * self.nx * self.dx if self.x0 is None else self.x0

    @property
    def y_low(self) -> float:
        return -0.5 * self.ny * self.dy if self.y0 is None else self.y0

    def x_edges(self) -> NDArray[np.float64]:
        return self.x_low + self.dx * np.arange(self.nx + 1, dtype=np.float64)

    def y_edges(self) -> NDArray[np.float64]:
        return self.y_low + self.dy * np.arange(self.ny + 1, dtype=np.float64)

    def centers(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Cell centres ``(x, y)`` in flat order (rows x, columns y, C order), each ``(n_cells,)``."""
        xc = self.x_low + self.dx * (np.arange(self.nx) + 0.5)
        yc = self.y_low + self.dy * (np.arange(self.ny) + 0.5)
        xx, yy = np.meshgrid(xc, yc, indexing="ij")
        return xx.ravel(), yy.ravel()

    def locate(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
        """Flat cell index of points ``(x, y)`` (mm), −1 outside the grid."""
        # clip before the integer cast: NaN, inf and huge coordinates land outside instead of overflowing
        fx = np.nan_to_num((np.asarray(x, dtype=np.float64) - self.x_low) / self.dx, nan=-1.0)
        fy = np.nan_to_num((np.asarray(y, dtype=np.float64) - self.y_low) / self.dy, nan=-1.0)
        ix = np.floor(np.clip(fx, -1.0, self.nx)).astype(np.int64)
        iy = np.floor(np.clip(fy, -1.0, self.ny)).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        return np.where(inside, ix * self.ny + iy, -1)


@dataclass(frozen=True)
class CylindricalBins:
    """Cylindrical bins about the particle axis: radial edges (mm) × ``n_alpha`` equal α sectors.

    α is measured with ``atan2(y, x)`` in [−π, π); sector k spans [−π + k·2π/n, −π + (k+1)·2π/n) and its
    centre is the midpoint (CaloChallenge convention). ``r_edges == (0,)`` is an empty layer (no voxels).
    """

    r_edges: tuple[float, ...]
    n_alpha: int = 1

    kind: Literal["cylindrical"] = field(default="cylindrical", init=False)

    def __post_init__(self) -> None:  # normalise so that (0, 5) and (0.0, 5.0) are the same binning
        object.__setattr__(self, "r_edges", tuple(float(e) for e in self.r_edges))
        object.__setattr__(self, "n_alpha", int(self.n_alpha))

    @property
    def n_r(self) -> int:
        return len(self.r_edges) - 1

    @property
    def n_cells(self) -> int:
        return self.n_r * self.n_alpha

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_alpha, self.n_r)

    def alpha_edges(self) -> NDArray[np.float64]:
        return np.linspace(-math.pi, math.pi, self.n_alpha + 1)

    def centers(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Voxel centres ``(x, y)`` in flat order (α then r, r fastest): x = r_mid cos α, y = r_mid sin α."""
        r, a = self.polar_centers()
        return r * np.cos(a), r * np.sin(a)

    def polar_centers(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(r_mid, alpha_mid)`` per voxel in flat order."""
        edges = np.asarray(self.r_edges, dtype=np.float64)
        r_mid = 0.5 * (edges[1:] + edges[:-1])
        a = self.alpha_edges()
        a_mid = 0.5 * (a[1:] + a[:-1])
        aa, rr = np.meshgrid(a_mid, r_mid, indexing="ij")
        return rr.ravel(), aa.ravel()

    def locate(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
        """Flat voxel index of points ``(x, y)`` (mm), −1 beyond the last radial edge."""
        if self.n_cells == 0:
            return np.full(np.shape(x), -1, dtype=np.int64)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        r = np.hypot(x, y)
        ir = np.searchsorted(np.asarray(self.r_edges), r, side="right") - 1
        alpha = np.nan_to_num(np.arctan2(y, x), nan=0.0)
        ia = np.floor((alpha + math.pi) / (2 * math.pi) * self.n_alpha).astype(np.int64)
        ia = np.clip(ia, 0, self.n_alpha - 1)  # alpha == pi exactly belongs to the last sector
        inside = (ir >= 0) & (ir < self.n_r) & np.isfinite(r)
        return np.where(inside, ia * self.n_r + ir, -1)


Segmentation = CartesianGrid | CylindricalBins


@dataclass(frozen=True)
class ReadoutLayer:
    """One readout layer: a segmentation and the depth range it integrates.

    Attributes:
        segmentation: Cartesian grid or cylindrical bins.
        z_min, z_max: the depth range in mm (front face of the stack at 0); ``None`` in a readout-only
            geometry whose physical stack is not modelled.
        id: the layer's identifier (the ``Layer id`` of CaloChallenge XML; ATLAS sampling ids in dataset 1).
    """

    segmentation: Segmentation
    z_min: float | None = None
    z_max: float | None = None
    id: int = 0

    @property
    def n_voxels(self) -> int:
        return self.segmentation.n_cells


# --------------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    """A calorimeter: an optional physical stack and a readout.

    Attributes:
        name: preset name or the user's label.
        layers: readout layers in flat order (only layers with voxels; see ``xml_layer_ids``).
        stack: the physical stack, or ``None`` for a readout-only geometry.
        energy_scale: stored voxel energy = deposited energy × ``energy_scale`` (CaloChallenge datasets 2/3
            store the silicon energy divided by 0.033, i.e. ``1/0.033``).
        threshold: voxel threshold in stored MeV applied by the evaluation (CaloChallenge: 1 MeV for dataset
            1, 0.5 keV/0.033 for datasets 2/3).
        beam_z: z of the particle gun in mm (negative: in front of the stack).
        description: free text, including the sources of the numbers.
        particle: default particle of the dataset the geometry belongs to (PDG id), if any.
        xml_layer_ids: number of layer ids listed in CaloChallenge XML (ATLAS lists empty samplings too).
        xml_attributes: extra attributes of the XML ``Bin`` element (``pid``, ``name``, ``etaMin``...).
    """

    name: str
    layers: tuple[ReadoutLayer, ...]
    stack: Stack | None = None
    energy_scale: float = 1.0
    threshold: float = 0.0
    beam_z: float = -1.0
    description: str = ""
    particle: int | None = None
    xml_layer_ids: int | None = None
    xml_attributes: tuple[tuple[str, str], ...] = ()

    # ---- sizes and slices ------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(layer.n_voxels for layer in self.layers)

    @cached_property
    def layer_offsets(self) -> tuple[int, ...]:
        """Start index of each layer in the flat vector; ``n_layers + 1`` entries (last = ``n_voxels``)."""
        offsets = [0]
        for size in self.layer_sizes:
            offsets.append(offsets[-1] + size)
        return tuple(offsets)

    @property
    def n_voxels(self) -> int:
        return self.layer_offsets[-1]

    def layer_slice(self, layer: int) -> slice:
        """The slice of the flat vector that holds readout layer ``layer``."""
        self._check_layer(layer)
        return slice(self.layer_offsets[layer], self.layer_offsets[layer + 1])

    @property
    def is_cartesian(self) -> bool:
        return all(isinstance(layer.segmentation, CartesianGrid) for layer in self.layers)

    @property
    def is_cylindrical(self) -> bool:
        return all(isinstance(layer.segmentation, CylindricalBins) for layer in self.layers)

    @property
    def readout_only(self) -> bool:
        return self.stack is None

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.n_layers:
            raise IndexError(f"geometry {self.name!r} has {self.n_layers} readout layers, not {layer + 1}")

    # ---- index conversions -------------------------------------------------------------------------
    def voxel_index(self, layer: int | NDArray[np.int64], bin: int | NDArray[np.int64]) -> NDArray[np.int64]:
        """Flat voxel index of ``(layer, bin)`` where ``bin`` is the index within the layer's flat order."""
        layer_a = np.asarray(layer, dtype=np.int64)
        bin_a = np.asarray(bin, dtype=np.int64)
        sizes = np.asarray(self.layer_sizes, dtype=np.int64)
        if np.any((layer_a < 0) | (layer_a >= self.n_layers)):
            raise IndexError(f"layer out of range for geometry {self.name!r} ({self.n_layers} layers)")
        if np.any((bin_a < 0) | (bin_a >= sizes[layer_a])):
            raise IndexError(f"bin out of range for geometry {self.name!r}")
        return np.asarray(self.layer_offsets, dtype=np.int64)[layer_a] + bin_a

    def layer_and_bin(self, voxel: int | NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Inverse of :meth:`voxel_index`: ``(layer, bin)`` of flat voxel indices."""
        v = np.asarray(voxel, dtype=np.int64)
        if np.any((v < 0) | (v >= self.n_voxels)):
            raise IndexError(f"voxel index out of range for geometry {self.name!r} ({self.n_voxels} voxels)")
        offsets = np.asarray(self.layer_offsets, dtype=np.int64)
        layer = np.searchsorted(offsets, v, side="right") - 1
        return layer, v - offsets[layer]

    @cached_property
    def voxel_layer(self) -> NDArray[np.int64]:
        """Readout layer of every voxel, ``(n_voxels,)``."""
        return np.repeat(np.arange(self.n_layers), self.layer_sizes)

    @cached_property
    def _centers(self) -> NDArray[np.float64]:
        out = np.zeros((self.n_voxels, 4))
        for i, layer in enumerate(self.layers):
            sl = slice(self.layer_offsets[i], self.layer_offsets[i + 1])
            x, y = layer.segmentation.centers()
            out[sl, 0] = x
            out[sl, 1] = y
            if layer.z_min is not None and layer.z_max is not None:
                out[sl, 2] = 0.5 * (layer.z_min + layer.z_max)
            else:
                out[sl, 2] = np.nan
            if isinstance(layer.segmentation, CylindricalBins):
                out[sl, 3], _ = layer.segmentation.polar_centers()
            else:
                out[sl, 3] = np.hypot(x, y)
        out.setflags(write=False)
        return out

    def voxel_centers(self) -> NDArray[np.float64]:
        """Cell-centre positions ``(n_voxels, 3)``: x, y (mm) and the layer's mid-depth z (NaN if unknown)."""
        return self._centers[:, :3]

    def voxel_r(self) -> NDArray[np.float64]:
        """Radial coordinate of each voxel centre ``(n_voxels,)`` in mm (the bin's mid-radius if cylindrical)."""
        return self._centers[:, 3]

    def locate(self, layer: int, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.int64]:
        """Flat voxel index (whole vector) of transverse points in readout layer ``layer``, −1 outside."""
        self._check_layer(layer)
        local = self.layers[layer].segmentation.locate(x, y)
        return np.where(local >= 0, local + self.layer_offsets[layer], -1)

    def layer_at_depth(self, z: NDArray[np.float64]) -> NDArray[np.int64]:
        """Readout layer integrating depth ``z`` (mm), −1 outside every layer."""
        z = np.asarray(z, dtype=np.float64)
        out = np.full(z.shape, -1, dtype=np.int64)
        for i, layer in enumerate(self.layers):
            if layer.z_min is None or layer.z_max is None:
                raise GeometryError(f"geometry {self.name!r} is readout-only: its layers have no depth range")
            out[(z >= layer.z_min) & (z < layer.z_max)] = i
        return out

    # ---- per-layer views of shower arrays ------------------------------------------------------------
    def layer_view(self, showers: NDArray[np.floating], layer: int) -> NDArray[np.floating]:
        """A view of one layer of flat showers ``(N, n_voxels)`` shaped ``(N, *segmentation.shape)``.

        Cartesian layers give ``(N, nx, ny)``; cylindrical ones ``(N, n_alpha, n_r)``.
        """
        self._check_shape(showers)
        seg = self.layers[layer].segmentation
        return showers[..., self.layer_slice(layer)].reshape(*showers.shape[:-1], *seg.shape)

    def layer_views(self, showers: NDArray[np.floating]) -> list[NDArray[np.floating]]:
        """All per-layer views (see :meth:`layer_view`)."""
        return [self.layer_view(showers, i) for i in range(self.n_layers)]

    def layer_sums(self, showers: NDArray[np.floating]) -> NDArray[np.floating]:
        """Energy per readout layer, ``(N, n_layers)``."""
        self._check_shape(showers)
        out = np.zeros((*showers.shape[:-1], self.n_layers), dtype=showers.dtype)
        # reduceat over the non-empty layers only: an empty layer would otherwise repeat a neighbour's voxel
        filled = [i for i, size in enumerate(self.layer_sizes) if size]
        if filled and showers.shape[-1]:
            starts = np.asarray([self.layer_offsets[i] for i in filled])
            out[..., filled] = np.add.reduceat(showers, starts, axis=-1)
        return out

    def _check_shape(self, showers: NDArray[np.floating]) -> None:
        if showers.shape[-1] != self.n_voxels:
            raise GeometryError(
                f"showers have {showers.shape[-1]} voxels but geometry {self.name!r} has {self.n_voxels}"
            )

    # ---- descriptions ------------------------------------------------------------------------------
    def summary(self) -> dict[str, object]:
        """A plain dict describing the geometry (for ``caloforge geometry show``)."""
        out: dict[str, object] = {
            "name": self.name,
            "n_layers": self.n_layers,
            "n_voxels": self.n_voxels,
            "layer_voxels": list(self.layer_sizes),
            "readout_only": self.readout_only,
            "energy_scale": self.energy_scale,
            "threshold_MeV": self.threshold,
        }
        if self.stack is not None:
            out["depth_mm"] = round(self.stack.depth, 4)
            out["depth_X0"] = round(self.stack.depth_in_X0(), 3)
            out["materials"] = self.stack.material_names
            out["sensitive"] = list(self.stack.sensitive)
            out["range_cut_mm"] = self.stack.range_cut
        return out

    def to_dict(self) -> dict[str, object]:
        from caloforge.geometry.serialize import geometry_to_dict

        return geometry_to_dict(self)

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), separators=(",", ":"))

    def __hash__(self) -> int:  # materials dict is excluded; identity by JSON
        return hash(self.to_json())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Geometry):
            return NotImplemented
        return self.to_json() == other.to_json()
