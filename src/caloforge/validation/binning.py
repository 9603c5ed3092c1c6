"""Histogram binning conventions of the evaluation, and energy bins for per-energy breakdowns.

The CaloChallenge conventions (``evaluate_plotting_helper.py`` of the challenge's evaluation code,
arXiv:2410.21611) are used where they apply:

==================  ======================================================================================
E_tot / E_inc       100 bins in [0.5, 1.5]
E_layer             40 log-spaced edges from the threshold to the reference's maximum
EC_x, EC_y          101 edges in ±30 mm (datasets 2/3); ±100 mm (dataset 1; ±500 mm for ATLAS layers 12, 13)
width x, y          101 edges in [0, 30] mm (datasets 2/3); [0, 100] mm (dataset 1; [0, 400] mm for 12, 13)
voxel energies      50 log-spaced edges from the threshold to the reference's maximum
==================  ======================================================================================

A geometry follows the challenge's conventions when its readout is that of a CaloChallenge preset. Elsewhere —
CaloGAN, clic-ecal, user geometries, and features the challenge does not histogram (EC_r, widths in r, the
CaloGAN and 3DGAN features) — the ranges are data-driven, from the **reference sample only** (so a generated
sample cannot move its own binning): 100 bins over the reference's 0.5–99.5 % quantile range widened by 10 %
(E_tot/E_inc keeps the challenge range when ≥ 99 % of the reference lies inside it and its 0.1–99.9 % range
spans at least 5 of the challenge's bins; a sampling calorimeter's E_tot/E_inc near 0.02 does not, nor does
calogan's 0.9966 ± 0.0013, which one 0.01-wide bin would hold whole). Entries outside the edges are left out of the histograms, as ``plt.hist`` does
in the challenge code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caloforge.geometry.core import Geometry

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from caloforge.validation.observables import FeatureSpec

__all__ = [
    "Binning",
    "EnergyBin",
    "breakdown_energy_bins",
    "challenge_dataset",
    "feature_binning",
    "format_energy",
    "histogram",
    "response_energy_bins",
    "voxel_binning",
    "voxel_extent",
    "voxel_histogram",
]

_CHALLENGE_PRESETS = {
    "calochallenge-1-photons": "1-photons",
    "calochallenge-1-pions": "1-pions",
    "calochallenge-2": "2",
    "calochallenge-3": "3",
}


@dataclass(frozen=True)
class Binning:
    """Histogram edges and where they come from.

    Attributes:
        edges: ``(n_bins + 1,)`` increasing edges in the feature's unit.
        log: edges are log-spaced (the histogram is filled in log10 space).
        source: ``"CaloChallenge"`` or ``"data-driven"`` (for the report).
    """

    edges: NDArray[np.float64]
    log: bool = False
    source: str = "data-driven"

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1


def challenge_dataset(geometry: Geometry) -> str | None:
    """``"1-photons"``, ``"1-pions"``, ``"2"``, ``"3"`` if ``geometry`` has a CaloChallenge readout, else None."""
    from caloforge.geometry.presets import get_preset

    if geometry.name in _CHALLENGE_PRESETS and geometry.layers == get_preset(geometry.name).layers:
        return _CHALLENGE_PRESETS[geometry.name]
    for name, tag in _CHALLENGE_PRESETS.items():
        preset = get_preset(name)
        if preset.n_voxels == geometry.n_voxels and preset.layers == geometry.layers:
            return tag
    return None


def _finite(values: ArrayLike) -> NDArray[np.float64]:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    return v[np.isfinite(v)]


_MIN_RESPONSE_SPAN = 0.05  # E_tot/E_inc: five of the challenge's 0.01-wide bins


def _linear(lo: float, hi: float, n_edges: int = 101) -> NDArray[np.float64]:
    if not hi > lo:
        lo, hi = lo - 0.5, lo + 0.5
    return np.linspace(lo, hi, n_edges)


def _quantile_range(values: NDArray[np.float64], lo_q: float = 0.5, hi_q: float = 99.5) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [lo_q, hi_q])
    pad = 0.1 * (hi - lo)
    return float(lo - pad), float(hi + pad)


def _log_edges(values: NDArray[np.float64], floor: float, n_edges: int) -> Binning:
    positive = values[values > 0]
    lo = floor if floor > 0 else (float(np.percentile(positive, 0.1)) if positive.size else 1e-3)
    hi = float(positive.max()) if positive.size else lo * 10.0
    if not hi > lo:
        hi = lo * 10.0
    return Binning(np.logspace(np.log10(lo), np.log10(hi), n_edges), log=True)


def feature_binning(spec: FeatureSpec, reference: ArrayLike, geometry: Geometry, threshold: float) -> Binning:
    """The binning of one feature (module table), from the reference values ``(N,)``."""
    values = _finite(reference)
    ds = challenge_dataset(geometry)
    family = spec.family
    layer_id = geometry.layers[spec.layer].id if spec.layer is not None else None
    if family == "etot_over_einc":
        inside = np.mean((values >= 0.5) & (values <= 1.5)) if values.size else 1.0
        lo, hi = np.percentile(values, [0.1, 99.9]) if values.size else (0.5, 1.5)
        # a response narrower than 5 challenge bins (0.05) would fall into one or two of them and hide its spread
        if ds is not None or (inside >= 0.99 and hi - lo >= _MIN_RESPONSE_SPAN):
            return Binning(np.linspace(0.5, 1.5, 101), source="CaloChallenge")
        return Binning(_linear(*_quantile_range(values, 0.1, 99.9)))
    if family == "e_layer":
        b = _log_edges(values, threshold, 40)
        return Binning(b.edges, log=True, source="CaloChallenge" if ds else "data-driven")
    if family in ("ec_x", "ec_y") and ds is not None:
        lim = 30.0 if ds in ("2", "3") else (500.0 if layer_id in (12, 13) else 100.0)
        return Binning(np.linspace(-lim, lim, 101), source="CaloChallenge")
    if family in ("width_x", "width_y") and ds is not None:
        lim = 30.0 if ds in ("2", "3") else (400.0 if layer_id in (12, 13) else 100.0)
        return Binning(np.linspace(0.0, lim, 101), source="CaloChallenge")
    if family in ("ec_x", "ec_y", "x_mean", "y_mean"):
        lo, hi = _quantile_range(values)
        lim = max(abs(lo), abs(hi), 1e-3)
        return Binning(np.linspace(-lim, lim, 101))
    if family in ("ec_r", "width_x", "width_y", "width_r", "x_width", "y_width"):
        _, hi = _quantile_range(values)
        return Binning(_linear(0.0, max(hi, 1e-3)))
    if family in ("fraction", "e_ratio"):
        return Binning(np.linspace(0.0, 1.0, 101))
    if family == "sparsity":
        n = geometry.layer_sizes[spec.layer if spec.layer is not None else 0]
        if n <= 100:  # one bin per possible value k/n
            return Binning((np.arange(n + 2) - 0.5) / n)
        return Binning(np.linspace(0.0, 1.0, 101))
    last = geometry.n_layers - 1
    if family == "depth":
        return Binning(np.linspace(0.0, max(last, 1), 101))
    if family == "depth_width":
        return Binning(np.linspace(0.0, max(last, 1) / 2.0, 101))
    if family == "deepest_layer":
        return Binning(np.arange(geometry.n_layers + 1, dtype=np.float64) - 0.5)
    return Binning(_linear(*_quantile_range(values)))


def voxel_binning(reference_max: float, threshold: float, reference_min_positive: float) -> Binning:
    """CaloChallenge voxel spectrum: 50 log-spaced edges from the threshold to the reference's largest voxel."""
    lo = threshold if threshold > 0 else reference_min_positive
    lo = lo if lo > 0 else 1e-3
    hi = reference_max if reference_max > lo else lo * 10.0
    return Binning(np.logspace(np.log10(lo), np.log10(hi), 50), log=True, source="CaloChallenge")


def histogram(values: ArrayLike, binning: Binning) -> NDArray[np.float64]:
    """Counts of ``values`` in ``binning`` (entries outside the edges are dropped; NaN ignored)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    edges = binning.edges
    if binning.log:
        v = v[v > 0]
        with np.errstate(divide="ignore"):
            v = np.log10(v)
        edges = np.log10(edges)
    v = v[np.isfinite(v)]
    steps = np.diff(edges)
    if steps.size and np.allclose(steps, steps[0], rtol=1e-9, atol=0.0):
        counts, _ = np.histogram(v, bins=steps.size, range=(float(edges[0]), float(edges[-1])))
    else:
        counts, _ = np.histogram(v, bins=edges)
    return counts.astype(np.float64)


def voxel_histogram(
    showers: NDArray[np.floating], binning: Binning, threshold: float, chunk: int = 8192
) -> NDArray[np.float64]:
    """Counts of voxel energies (at or above ``threshold``, > 0) of ``showers (N, n_voxels)``, in chunks."""
    counts = np.zeros(binning.n_bins)
    for lo in range(0, showers.shape[0], chunk):
        flat = np.asarray(showers[lo : lo + chunk], dtype=np.float32).reshape(-1)
        counts += histogram(flat[(flat >= threshold) & (flat > 0)], binning)
    return counts


def voxel_extent(showers: NDArray[np.floating], threshold: float, chunk: int = 8192) -> tuple[float, float]:
    """``(largest voxel, smallest positive voxel at or above threshold)`` in MeV, in chunks."""
    top, low = 0.0, np.inf
    for lo in range(0, showers.shape[0], chunk):
        flat = np.asarray(showers[lo : lo + chunk], dtype=np.float32).reshape(-1)
        sel = flat[(flat >= threshold) & (flat > 0)]
        if sel.size:
            top, low = max(top, float(sel.max())), min(low, float(sel.min()))
    return top, (low if np.isfinite(low) else 0.0)


# --------------------------------------------------------------------------------------------------
# energy bins
# --------------------------------------------------------------------------------------------------
def format_energy(mev: float) -> str:
    """``512 MeV``, ``4.1 GeV``, ``1.05 TeV``."""
    if mev >= 1e6:
        return f"{mev / 1e6:.3g} TeV"
    if mev >= 1e3:
        return f"{mev / 1e3:.3g} GeV"
    return f"{mev:.3g} MeV"


@dataclass(frozen=True)
class EnergyBin:
    """A range of incident energies ``[low, high)`` MeV (``high`` included for the last bin), or one value."""

    label: str
    low: float
    high: float
    value: float | None = None
    closed: bool = False

    def mask(self, energy: ArrayLike) -> NDArray[np.bool_]:
        e = np.asarray(energy, dtype=np.float64).reshape(-1)
        if self.value is not None:
            return np.isclose(e, self.value, rtol=1e-6, atol=0.0)
        return (e >= self.low) & ((e <= self.high) if self.closed else (e < self.high))

    @property
    def centre(self) -> float:
        return self.value if self.value is not None else float(np.sqrt(self.low * self.high))


def _discrete_values(energy: NDArray[np.float64], max_discrete: int) -> NDArray[np.float64] | None:
    values = np.unique(np.round(energy, 6))
    return values if 0 < values.size <= max_discrete else None


def breakdown_energy_bins(reference_energy: ArrayLike, max_discrete: int = 20) -> list[EnergyBin]:
    """Bins for the per-energy sections: one per value if the reference has at most ``max_discrete`` distinct
    incident energies (CaloChallenge dataset 1: 2^8 … 2^22 MeV), else decades 10^k … 10^(k+1) MeV (the
    challenge's ``avg-E`` ranges for the log-uniform datasets 2/3)."""
    e = _finite(reference_energy)
    e = e[e > 0]
    if e.size == 0:
        return []
    values = _discrete_values(e, max_discrete)
    if values is not None:
        return [EnergyBin(f"E = {format_energy(v)}", v, v, value=float(v)) for v in values]
    k_lo, k_hi = int(np.floor(np.log10(e.min()))), int(np.floor(np.log10(e.max())))
    bins = []
    for k in range(k_lo, k_hi + 1):
        lo, hi = 10.0**k, 10.0 ** (k + 1)
        if np.any((e >= lo) & (e < hi)):
            bins.append(EnergyBin(f"{format_energy(lo)} – {format_energy(hi)}", lo, hi))
    return bins


def response_energy_bins(reference_energy: ArrayLike, n_bins: int = 10, max_discrete: int = 20) -> list[EnergyBin]:
    """Bins for response and resolution curves: the discrete energies, else ``n_bins`` log-spaced bins."""
    e = _finite(reference_energy)
    e = e[e > 0]
    if e.size == 0:
        return []
    values = _discrete_values(e, max_discrete)
    if values is not None:
        return [EnergyBin(f"E = {format_energy(v)}", v, v, value=float(v)) for v in values]
    lo, hi = float(e.min()), float(e.max())
    if not hi > lo:
        return [EnergyBin(f"E = {format_energy(lo)}", lo, hi, value=lo)]
    edges = np.logspace(np.log10(lo), np.log10(hi), n_bins + 1)
    edges[0], edges[-1] = lo, hi  # exactly the extremes: 10**log10(x) may round below x
    return [
        EnergyBin(f"{format_energy(a)} – {format_energy(b)}", float(a), float(b), closed=i == n_bins - 1)
        for i, (a, b) in enumerate(itertools.pairwise(edges))
    ]
