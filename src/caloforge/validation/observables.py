"""High-level shower observables: pure functions of (showers, incident energy, geometry).

Everything in EVALUATION.md "High-level features", for Cartesian and cylindrical readouts alike:

* CaloChallenge (arXiv:2410.21611, ``HighLevelFeatures.py``): E_tot, E_tot/E_inc, E_layer, centre of energy
  EC_x (their Δη), EC_y (Δφ) and EC_r per layer, widths ``sqrt(<x²> − <x>²)`` (negative variances clipped to 0),
  sparsity per layer, the voxel energy spectrum.
* CaloGAN (arXiv:1712.10321): shower depth ``d = Σ_i i·E_i / E_tot`` over readout layers, depth width, deepest
  layer with energy, ``E_ratio = (E_max1 − E_max2)/(E_max1 + E_max2)`` of the two hottest cells of each layer,
  layer fractions ``E_layer / E_tot``.
* 3DGAN (Khattak et al., EPJC 82 (2022) 386): energy projections along x, y and z and their first and second
  moments; the sampling fraction ``Σ E_cells / E_inc`` (= E_tot/E_inc).

Conventions. Positions are voxel centres in mm (``Geometry.voxel_centers``; ``Geometry.voxel_r`` for r).
Divisions by an energy add 1e-16 MeV as the CaloChallenge code does, so an empty layer has centre 0 and
width 0. x and y features exist for a cylindrical layer only when it is binned in α (``n_alpha > 1``; the
challenge's ``layersBinnedInAlpha``), and for a Cartesian layer only along an axis with more than one cell.
The threshold (stored MeV; default the geometry's) zeroes voxels below it before anything is computed, in
both samples (EVALUATION.md); sparsity is then the fraction of voxels that are zero.

Only numpy is imported here: the training loop uses these functions for its per-epoch physics proxies.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import DataFormatError
from caloforge.geometry.core import CartesianGrid, CylindricalBins, Geometry

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FeatureSpec",
    "ShowerFeatures",
    "apply_threshold",
    "average_projections",
    "centres_of_energy",
    "chunk_rows",
    "deepest_layer",
    "e_ratio",
    "feature_specs",
    "high_level_vector",
    "layer_axes",
    "layer_energies",
    "layer_fractions",
    "projection_bins",
    "response",
    "shower_depth",
    "shower_features",
    "sparsity",
    "total_energy",
    "voxel_spectrum",
    "widths",
]

# Rows per chunk: the float64 working copy stays near 32 MB whatever the voxel count.
_CHUNK = 8192


def chunk_rows(n_voxels: int) -> int:
    """Showers per chunk for a float64 working copy of about 32 MB."""
    return max(64, min(_CHUNK, 4_000_000 // max(n_voxels, 1)))


# CaloChallenge HighLevelFeatures.py adds 1e-16 to every energy it divides by.
_EPS = 1e-16


# --------------------------------------------------------------------------------------------------
# thresholds and simple sums
# --------------------------------------------------------------------------------------------------
def _threshold(geometry: Geometry, threshold: float | None) -> float:
    return float(geometry.threshold if threshold is None else threshold)


def apply_threshold(showers: NDArray[np.floating], threshold: float) -> NDArray[np.float32]:
    """A float32 copy of ``showers (N, n_voxels)`` with voxels below ``threshold`` MeV set to 0."""
    out = np.array(showers, dtype=np.float32, copy=True)
    if threshold > 0:
        out[out < threshold] = 0.0
    return out


def total_energy(showers: NDArray[np.floating], threshold: float = 0.0) -> NDArray[np.float64]:
    """E_tot: the sum of voxel energies at or above ``threshold``, ``(N,)`` MeV."""
    out = np.empty(showers.shape[0], dtype=np.float64)
    step = chunk_rows(showers.shape[-1])
    for lo in range(0, showers.shape[0], step):
        chunk = np.asarray(showers[lo : lo + step], dtype=np.float64)
        if threshold > 0:
            chunk = np.where(chunk < threshold, 0.0, chunk)
        out[lo : lo + step] = chunk.sum(axis=1)
    return out


def response(showers: NDArray[np.floating], energy: ArrayLike, threshold: float = 0.0) -> NDArray[np.float64]:
    """E_tot / E_inc per shower ``(N,)`` — the 3DGAN sampling fraction and the CaloChallenge response."""
    return total_energy(showers, threshold) / np.asarray(energy, dtype=np.float64).reshape(-1)


def layer_energies(
    showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None
) -> NDArray[np.float64]:
    """E_layer ``(N, n_layers)`` in MeV, after the threshold (default: the geometry's)."""
    t = _threshold(geometry, threshold)
    geometry._check_shape(showers)
    out = np.empty((showers.shape[0], geometry.n_layers), dtype=np.float64)
    starts = np.asarray(geometry.layer_offsets[:-1])
    step = chunk_rows(showers.shape[-1])
    for lo in range(0, showers.shape[0], step):
        chunk = np.asarray(showers[lo : lo + step], dtype=np.float64)
        if t > 0:
            chunk = np.where(chunk < t, 0.0, chunk)
        out[lo : lo + step] = np.add.reduceat(chunk, starts, axis=1)
    return out


def layer_fractions(e_layer: NDArray[np.floating]) -> NDArray[np.float64]:
    """E_layer / E_tot ``(N, n_layers)`` from layer energies ``(N, n_layers)``."""
    e = np.asarray(e_layer, dtype=np.float64)
    return e / (e.sum(axis=1, keepdims=True) + _EPS)


def shower_depth(e_layer: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """CaloGAN shower depth ``d = Σ i E_i / E_tot`` and depth width ``sqrt(Σ i² E_i / E_tot − d²)``.

    Args:
        e_layer: layer energies ``(N, n_layers)``; ``i`` is the readout-layer index (0-based).

    Returns:
        ``(depth, depth_width)``, each ``(N,)`` in units of readout layers.
    """
    e = np.asarray(e_layer, dtype=np.float64)
    i = np.arange(e.shape[1], dtype=np.float64)
    tot = e.sum(axis=1) + _EPS
    d = e @ i / tot
    w = np.sqrt(np.clip(e @ (i * i) / tot - d * d, 0.0, None))
    return d, w


def deepest_layer(e_layer: NDArray[np.floating]) -> NDArray[np.int64]:
    """Index of the deepest readout layer with energy ``(N,)``; −1 for a shower without energy."""
    e = np.asarray(e_layer)
    has = e > 0
    last = e.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
    return np.where(has.any(axis=1), last, -1).astype(np.int64)


# --------------------------------------------------------------------------------------------------
# which transverse axes a layer measures
# --------------------------------------------------------------------------------------------------
def layer_axes(geometry: Geometry) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
    """Per readout layer, whether x and whether y features are defined (see the module notes)."""
    has_x: list[bool] = []
    has_y: list[bool] = []
    for layer in geometry.layers:
        seg = layer.segmentation
        if isinstance(seg, CylindricalBins):
            binned = seg.n_alpha > 1
            has_x.append(binned)
            has_y.append(binned)
        else:
            has_x.append(seg.nx > 1)
            has_y.append(seg.ny > 1)
    return tuple(has_x), tuple(has_y)


# --------------------------------------------------------------------------------------------------
# one pass over the showers: every per-layer moment
# --------------------------------------------------------------------------------------------------
_MOMENT_COLUMNS = 7  # 1, x, y, r, x², y², r²


def _layer_weights(geometry: Geometry) -> list[NDArray[np.float64]]:
    """Per layer a ``(n_voxels_layer, 7)`` matrix of [1, x, y, r, x², y², r²] at the voxel centres."""
    centres = geometry.voxel_centers()
    r = geometry.voxel_r()
    out = []
    for i in range(geometry.n_layers):
        sl = geometry.layer_slice(i)
        x, y, rr = centres[sl, 0], centres[sl, 1], r[sl]
        out.append(np.stack([np.ones_like(x), x, y, rr, x * x, y * y, rr * rr], axis=1))
    return out


@dataclass(frozen=True)
class _LayerStats:
    sums: NDArray[np.float64]  # (N, n_layers, 7): Σ E·[1, x, y, r, x², y², r²] per layer
    nonzero: NDArray[np.float64]  # (N, n_layers): number of voxels with energy
    top2: NDArray[np.float64]  # (N, n_layers, 2): the two largest voxel energies (E_max2, E_max1)


def _layer_stats(showers: NDArray[np.floating], geometry: Geometry, threshold: float) -> _LayerStats:
    geometry._check_shape(showers)
    n, n_layers = showers.shape[0], geometry.n_layers
    weights = _layer_weights(geometry)
    sums = np.empty((n, n_layers, _MOMENT_COLUMNS))
    nonzero = np.empty((n, n_layers))
    top2 = np.zeros((n, n_layers, 2))
    step = chunk_rows(showers.shape[1])
    for lo in range(0, n, step):
        chunk = np.asarray(showers[lo : lo + step], dtype=np.float64)
        if threshold > 0:
            chunk = np.where(chunk < threshold, 0.0, chunk)
        hi = lo + chunk.shape[0]
        for i in range(n_layers):
            part = chunk[:, geometry.layer_slice(i)]
            sums[lo:hi, i] = part @ weights[i]
            nonzero[lo:hi, i] = np.count_nonzero(part, axis=1)
            if part.shape[1] >= 2:
                top2[lo:hi, i] = np.partition(part, part.shape[1] - 2, axis=1)[:, -2:]
            elif part.shape[1] == 1:
                top2[lo:hi, i, 1] = part[:, 0]
    return _LayerStats(sums, nonzero, top2)


def _centres_and_widths(
    sums: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(centres, widths)`` each ``(N, n_layers, 3)`` for x, y, r from the moment sums (CaloChallenge)."""
    e = sums[..., 0:1] + _EPS
    mean = sums[..., 1:4] / e
    second = sums[..., 4:7] / e
    return mean, np.sqrt(np.clip(second - mean * mean, 0.0, None))


def centres_of_energy(
    showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Energy-weighted mean voxel-centre position per layer: ``(EC_x, EC_y, EC_r)``, each ``(N, n_layers)`` mm.

    EC_x/EC_y of a layer without x/y segmentation (see :func:`layer_axes`) are returned but not meaningful.
    """
    stats = _layer_stats(showers, geometry, _threshold(geometry, threshold))
    mean, _ = _centres_and_widths(stats.sums)
    return mean[..., 0], mean[..., 1], mean[..., 2]


def widths(
    showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Widths ``sqrt(<x²> − <x>²)`` per layer in x, y and r, each ``(N, n_layers)`` mm (negatives clipped)."""
    stats = _layer_stats(showers, geometry, _threshold(geometry, threshold))
    _, width = _centres_and_widths(stats.sums)
    return width[..., 0], width[..., 1], width[..., 2]


def sparsity(showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None) -> NDArray[np.float64]:
    """Fraction of a layer's voxels below the threshold (zero after it), ``(N, n_layers)`` in [0, 1]."""
    stats = _layer_stats(showers, geometry, _threshold(geometry, threshold))
    return 1.0 - stats.nonzero / np.asarray(geometry.layer_sizes, dtype=np.float64)


def _e_ratio(top2: NDArray[np.float64]) -> NDArray[np.float64]:
    second, first = top2[..., 0], top2[..., 1]
    return (first - second) / (first + second + _EPS)


def e_ratio(showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None) -> NDArray[np.float64]:
    """CaloGAN E_ratio per layer ``(N, n_layers)``: (E_max1 − E_max2)/(E_max1 + E_max2) of the two hottest cells."""
    stats = _layer_stats(showers, geometry, _threshold(geometry, threshold))
    return _e_ratio(stats.top2)


def voxel_spectrum(showers: NDArray[np.floating], threshold: float) -> NDArray[np.float32]:
    """Energies of all voxels at or above ``threshold`` (and > 0), flattened — the CaloChallenge cell spectrum.

    This copies the non-zero voxels; for large samples histogram them with
    :func:`caloforge.validation.binning.voxel_histogram` instead, which works in chunks.
    """
    flat = np.asarray(showers, dtype=np.float32).reshape(-1)
    return flat[(flat >= threshold) & (flat > 0)]


# --------------------------------------------------------------------------------------------------
# 3DGAN projections
# --------------------------------------------------------------------------------------------------
def projection_bins(geometry: Geometry, axis: str) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Bin edges and the bin of every voxel for the 3DGAN projection along ``axis`` (``x``, ``y`` or ``z``).

    z projects on readout layers (edges at layer index ± 0.5). When every layer shares one Cartesian grid
    (clic-ecal, 3DGAN) the x/y bins are the cell columns — the 3DGAN projection exactly. Otherwise the voxel
    centres are binned in 40 equal bins across the readout's extent (cylindrical voxels go to the bin of their
    centre; only layers that measure that axis contribute, the others get bin −1).

    Returns:
        ``(edges, voxel_bin)``: edges ``(n_bins + 1,)`` (mm, or layer index for z) and ``(n_voxels,)`` bin
        indices, −1 for voxels left out.
    """
    if axis == "z":
        return np.arange(geometry.n_layers + 1, dtype=np.float64) - 0.5, geometry.voxel_layer.astype(np.int64)
    if axis not in ("x", "y"):
        raise ValueError(f"projection axis must be 'x', 'y' or 'z', not {axis!r}")
    k = 0 if axis == "x" else 1
    segs = [layer.segmentation for layer in geometry.layers]
    first = segs[0] if segs else None
    if isinstance(first, CartesianGrid) and all(s == first for s in segs):
        edges = first.x_edges() if axis == "x" else first.y_edges()
    else:
        lo, hi = np.inf, -np.inf
        for seg in segs:
            if isinstance(seg, CartesianGrid):
                e = seg.x_edges() if axis == "x" else seg.y_edges()
                lo, hi = min(lo, e[0]), max(hi, e[-1])
            elif seg.n_cells:
                lo, hi = min(lo, -seg.r_edges[-1]), max(hi, seg.r_edges[-1])
        edges = np.linspace(lo, hi, 41) if np.isfinite(lo) else np.array([-0.5, 0.5])
    has_x, has_y = layer_axes(geometry)
    measured = np.asarray(has_x if axis == "x" else has_y, dtype=bool)[geometry.voxel_layer]
    centre = geometry.voxel_centers()[:, k]
    idx = np.clip(np.searchsorted(edges, centre, side="right") - 1, 0, len(edges) - 2)
    return np.asarray(edges, dtype=np.float64), np.where(measured, idx, -1).astype(np.int64)


def average_projections(
    showers: NDArray[np.floating], geometry: Geometry, threshold: float | None = None
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """The average energy projections along x, y, z: ``{axis: (edges, mean MeV per bin)}``."""
    t = _threshold(geometry, threshold)
    total = np.zeros(geometry.n_voxels)
    step = chunk_rows(showers.shape[-1])
    for lo in range(0, showers.shape[0], step):
        chunk = np.asarray(showers[lo : lo + step], dtype=np.float64)
        if t > 0:
            chunk = np.where(chunk < t, 0.0, chunk)
        total += chunk.sum(axis=0)
    mean = total / max(showers.shape[0], 1)
    out = {}
    for axis in ("x", "y", "z"):
        edges, idx = projection_bins(geometry, axis)
        keep = idx >= 0
        counts = np.bincount(idx[keep], weights=mean[keep], minlength=len(edges) - 1).astype(np.float64)
        out[axis] = (edges, counts)
    return out


# --------------------------------------------------------------------------------------------------
# the whole feature set
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureSpec:
    """What one histogrammed feature is.

    Attributes:
        name: key in tables and metrics.json, e.g. ``"ec_x_layer_0"``.
        family: the observable, e.g. ``"ec_x"``; ``layer`` says which layer.
        label: human-readable label (plain text with Unicode).
        unit: ``"MeV"``, ``"mm"``, ``"layers"`` or ``""``.
        layer: readout-layer index for per-layer features, else ``None``.
        log: whether it is histogrammed on a log axis.
    """

    name: str
    family: str
    label: str
    unit: str
    layer: int | None = None
    log: bool = False


_FAMILIES: dict[str, tuple[str, str, bool]] = {
    # family: (label, unit, log axis)
    "e_layer": ("E_layer", "MeV", True),
    "fraction": ("E_layer / E_tot", "", False),
    "ec_x": ("centre of energy x", "mm", False),
    "ec_y": ("centre of energy y", "mm", False),
    "ec_r": ("centre of energy r", "mm", False),
    "width_x": ("width x", "mm", False),
    "width_y": ("width y", "mm", False),
    "width_r": ("width r", "mm", False),
    "sparsity": ("sparsity", "", False),
    "e_ratio": ("E_ratio", "", False),
}
_GLOBAL: dict[str, tuple[str, str]] = {
    "etot_over_einc": ("E_tot / E_inc", ""),
    "depth": ("shower depth", "layers"),
    "depth_width": ("depth width", "layers"),
    "deepest_layer": ("deepest layer with energy", "layers"),
    "x_mean": ("x projection: mean", "mm"),
    "y_mean": ("y projection: mean", "mm"),
    "x_width": ("x projection: width", "mm"),
    "y_width": ("y projection: width", "mm"),
}


def _layer_label(geometry: Geometry, i: int) -> str:
    layer_id = geometry.layers[i].id
    return f"layer {i}" if layer_id == i else f"layer {i} (id {layer_id})"


def feature_specs(geometry: Geometry) -> list[FeatureSpec]:
    """The histogrammed features defined for ``geometry``, in report order."""
    has_x, has_y = layer_axes(geometry)
    specs = [FeatureSpec("etot_over_einc", "etot_over_einc", *_GLOBAL["etot_over_einc"])]
    for family, (label, unit, log) in _FAMILIES.items():
        for i in range(geometry.n_layers):
            if family in ("ec_x", "width_x") and not has_x[i]:
                continue
            if family in ("ec_y", "width_y") and not has_y[i]:
                continue
            if family == "e_ratio" and geometry.layer_sizes[i] < 2:
                continue
            name = f"e_layer_{i}" if family == "e_layer" else f"{family}_layer_{i}"
            specs.append(FeatureSpec(name, family, f"{label}, {_layer_label(geometry, i)}", unit, i, log))
    if geometry.n_layers > 1:
        specs += [FeatureSpec(k, k, *_GLOBAL[k]) for k in ("depth", "depth_width", "deepest_layer")]
    if any(has_x):
        specs += [FeatureSpec(k, k, *_GLOBAL[k]) for k in ("x_mean", "x_width")]
    if any(has_y):
        specs += [FeatureSpec(k, k, *_GLOBAL[k]) for k in ("y_mean", "y_width")]
    return specs


@dataclass(frozen=True, eq=False)
class ShowerFeatures:
    """Every per-shower high-level feature of one sample (arrays ``(N,)`` or ``(N, n_layers)``).

    Build with :func:`shower_features`. Energies in MeV, positions in mm, depths in readout layers.
    """

    geometry: Geometry = field(repr=False)
    threshold: float
    energy: NDArray[np.float64]
    e_total: NDArray[np.float64]
    e_layer: NDArray[np.float64]
    ec_x: NDArray[np.float64]
    ec_y: NDArray[np.float64]
    ec_r: NDArray[np.float64]
    width_x: NDArray[np.float64]
    width_y: NDArray[np.float64]
    width_r: NDArray[np.float64]
    sparsity: NDArray[np.float64]
    e_ratio: NDArray[np.float64]
    depth: NDArray[np.float64]
    depth_width: NDArray[np.float64]
    deepest_layer: NDArray[np.int64]
    x_mean: NDArray[np.float64]
    y_mean: NDArray[np.float64]
    x_width: NDArray[np.float64]
    y_width: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.energy.shape[0])

    @property
    def etot_over_einc(self) -> NDArray[np.float64]:
        return self.e_total / self.energy

    @property
    def fraction(self) -> NDArray[np.float64]:
        return layer_fractions(self.e_layer)

    def subset(self, index: NDArray[np.bool_] | NDArray[np.integer]) -> ShowerFeatures:
        """The features of a subset of showers (boolean mask or indices)."""
        changes = {
            f.name: getattr(self, f.name)[index] for f in fields(self) if f.name not in ("geometry", "threshold")
        }
        return replace(self, **changes)

    def column(self, spec: FeatureSpec) -> NDArray[np.float64]:
        """The values ``(N,)`` of one feature."""
        if spec.family == "etot_over_einc":
            return self.etot_over_einc
        values = getattr(self, spec.family)
        if spec.layer is not None:
            values = values[:, spec.layer]
        return np.asarray(values, dtype=np.float64)

    def columns(self, specs: list[FeatureSpec] | None = None) -> dict[str, NDArray[np.float64]]:
        """``{name: values (N,)}`` for ``specs`` (default: every feature of the geometry)."""
        return {s.name: self.column(s) for s in (feature_specs(self.geometry) if specs is None else specs)}


def shower_features(
    showers: NDArray[np.floating], energy: ArrayLike, geometry: Geometry, threshold: float | None = None
) -> ShowerFeatures:
    """Compute every high-level feature in one chunked pass.

    Args:
        showers: voxel energies ``(N, n_voxels)`` in MeV, flat order of ``geometry``.
        energy: incident energies ``(N,)`` in MeV.
        geometry: the readout.
        threshold: voxel threshold in MeV (default ``geometry.threshold``); voxels below it count as empty.

    Raises:
        DataFormatError: shapes that do not fit each other or the geometry.
    """
    e_inc = np.asarray(energy, dtype=np.float64).reshape(-1)
    if showers.ndim != 2 or showers.shape[0] != e_inc.shape[0]:
        raise DataFormatError(f"showers {showers.shape} and incident energies {e_inc.shape} do not match")
    if showers.shape[1] != geometry.n_voxels:
        raise DataFormatError(
            f"showers have {showers.shape[1]} voxels but geometry {geometry.name!r} has {geometry.n_voxels}"
        )
    t = _threshold(geometry, threshold)
    stats = _layer_stats(showers, geometry, t)
    e_layer = stats.sums[..., 0].copy()
    mean, width = _centres_and_widths(stats.sums)
    depth, depth_width = shower_depth(e_layer)

    # 3DGAN moments of the x/y projections: over the layers that measure the axis
    has_x, has_y = layer_axes(geometry)
    moments = []
    for has, k in ((has_x, 1), (has_y, 2)):
        sel = np.asarray(has, dtype=bool)
        s = stats.sums[:, sel]
        e = s[..., 0].sum(axis=1) + _EPS
        m1 = s[..., k].sum(axis=1) / e
        m2 = s[..., k + 3].sum(axis=1) / e
        moments.append((m1, np.sqrt(np.clip(m2 - m1 * m1, 0.0, None))))

    return ShowerFeatures(
        geometry=geometry,
        threshold=t,
        energy=e_inc,
        e_total=e_layer.sum(axis=1),
        e_layer=e_layer,
        ec_x=mean[..., 0],
        ec_y=mean[..., 1],
        ec_r=mean[..., 2],
        width_x=width[..., 0],
        width_y=width[..., 1],
        width_r=width[..., 2],
        sparsity=1.0 - stats.nonzero / np.asarray(geometry.layer_sizes, dtype=np.float64),
        e_ratio=_e_ratio(stats.top2),
        depth=depth,
        depth_width=depth_width,
        deepest_layer=deepest_layer(e_layer),
        x_mean=moments[0][0],
        y_mean=moments[1][0],
        x_width=moments[0][1],
        y_width=moments[1][1],
    )


def high_level_vector(features: ShowerFeatures) -> NDArray[np.float64]:
    """The CaloChallenge high-level classifier input, also the FPD/KPD feature vector, ``(N, n_features)``.

    ``[log10 E_inc, log10 E_layer, EC_x/100, EC_y/100, width_x/100, width_y/100, log10 E_tot, sparsity,
    EC_r/100, width_r/100]`` (EVALUATION.md), energies in MeV with the challenge's ``+1e-8`` inside the logs,
    positions in mm; x/y columns only for the layers that measure them (:func:`layer_axes`).
    """
    has_x, has_y = layer_axes(features.geometry)
    sx, sy = np.asarray(has_x, dtype=bool), np.asarray(has_y, dtype=bool)
    parts = [
        np.log10(features.energy)[:, None],
        np.log10(features.e_layer + 1e-8),
        features.ec_x[:, sx] / 100.0,
        features.ec_y[:, sy] / 100.0,
        features.width_x[:, sx] / 100.0,
        features.width_y[:, sy] / 100.0,
        np.log10(features.e_total + 1e-8)[:, None],
        features.sparsity,
        features.ec_r / 100.0,
        features.width_r / 100.0,
    ]
    return np.concatenate(parts, axis=1)
