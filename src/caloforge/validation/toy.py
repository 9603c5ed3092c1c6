"""Parametric toy showers with controllable shapes — to exercise and demonstrate the metrics.

This is **not** a physics simulation (``caloforge.detsim`` is): it deposits ``n_hits`` energy spots per shower
with a Gamma-distributed depth and a two-component (core + halo) Gaussian lateral spread about a jittered axis,
and scales their sum to a Gaussian response with resolution ``a/√E ⊕ b``. Every knob is explicit so that tests
can build two samples of the same distribution, or of slightly different ones (a shifted response, a deeper
or wider shower), and check that the metrics tell them apart — or do not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from caloforge.geometry.core import CartesianGrid, Geometry
from caloforge.io.showerset import ShowerSet, particle_code

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["TOY_PARTICLES", "ToyShowerModel", "toy_showers", "transverse_scale"]


@dataclass(frozen=True)
class ToyShowerModel:
    """The knobs of a toy shower (depths as fractions of the readout depth, radii in units of
    :func:`transverse_scale`).

    Attributes:
        depth_mean: mean hit depth at 10 GeV as a fraction of the total depth.
        depth_log_slope: change of ``depth_mean`` per e-fold of energy (showers get deeper with energy).
        depth_shape: Gamma shape parameter of the hit depth (smaller = longer tail).
        depth_jitter: per-shower relative (log-normal) fluctuation of the mean depth.
        radius: core radius (Gaussian σ per axis) in units of the geometry's transverse scale.
        radius_jitter: per-shower relative fluctuation of the radius.
        halo_fraction, halo_factor: share of hits in a halo ``halo_factor`` times wider than the core.
        response: mean E_deposited / E_inc (before leakage out of the readout).
        stochastic, constant: relative resolution ``stochastic/√(E/GeV) ⊕ constant``.
        axis_spread: per-shower offset of the shower axis, in units of the transverse scale.
        n_hits: energy spots per shower.
    """

    depth_mean: float = 0.30
    depth_log_slope: float = 0.03
    depth_shape: float = 4.0
    depth_jitter: float = 0.10
    radius: float = 0.5
    radius_jitter: float = 0.10
    halo_fraction: float = 0.2
    halo_factor: float = 3.0
    response: float = 0.95
    stochastic: float = 0.10
    constant: float = 0.01
    axis_spread: float = 0.05
    n_hits: int = 200

    def replace(self, **changes: float) -> ToyShowerModel:
        return replace(self, **changes)  # type: ignore[arg-type]


TOY_PARTICLES: dict[str, ToyShowerModel] = {
    # electromagnetic-like: compact, shallow, good resolution
    "e+": ToyShowerModel(),
    # hadron-like: deeper, wider, with a long tail, lower and worse response
    "pi+": ToyShowerModel(
        depth_mean=0.5,
        depth_shape=2.0,
        depth_jitter=0.3,
        radius=1.2,
        radius_jitter=0.3,
        halo_fraction=0.35,
        response=0.75,
        stochastic=0.5,
        constant=0.05,
    ),
}


def transverse_scale(geometry: Geometry) -> float:
    """A typical transverse size (mm): the median over layers of the cell pitch ``√(dx dy)`` (Cartesian) or
    a quarter of the outer radius (cylindrical)."""
    scales = []
    for layer in geometry.layers:
        seg = layer.segmentation
        if isinstance(seg, CartesianGrid):
            scales.append(float(np.sqrt(seg.dx * seg.dy)))
        elif seg.n_cells:
            scales.append(seg.r_edges[-1] / 4.0)
    return float(np.median(scales)) if scales else 10.0


def _depth_ranges(geometry: Geometry) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Front and back of every readout layer along a depth axis (mm, or layer units if readout-only)."""
    if all(layer.z_min is not None and layer.z_max is not None for layer in geometry.layers):
        z0 = np.array([layer.z_min for layer in geometry.layers], dtype=np.float64)
        z1 = np.array([layer.z_max for layer in geometry.layers], dtype=np.float64)
        return z0, z1
    k = np.arange(geometry.n_layers, dtype=np.float64)
    return k, k + 1.0


def toy_showers(
    geometry: Geometry,
    n: int,
    rng: np.random.Generator,
    *,
    particle: str = "e+",
    model: ToyShowerModel | None = None,
    energy: ArrayLike | None = None,
    energy_range: tuple[float, float] = (1_000.0, 100_000.0),
    chunk: int = 4096,
) -> ShowerSet:
    """Draw ``n`` toy showers.

    Args:
        geometry: readout to deposit into (any Cartesian or cylindrical geometry).
        n: number of showers.
        rng: the random generator (all randomness comes from it).
        particle: ``"e+"`` or ``"pi+"`` — picks the default model from :data:`TOY_PARTICLES` and is stored.
        model: explicit knobs (overrides ``particle``'s).
        energy: incident energies ``(n,)`` in MeV; default log-uniform in ``energy_range``.
        energy_range: MeV range of the default energies.
        chunk: showers per vectorised block (bounds memory).

    Returns:
        A :class:`ShowerSet` in MeV.
    """
    m = model if model is not None else TOY_PARTICLES[particle]
    if energy is None:
        lo, hi = np.log(energy_range[0]), np.log(energy_range[1])
        e_inc = np.exp(rng.uniform(lo, hi, n))
    else:
        e_inc = np.asarray(energy, dtype=np.float64).reshape(-1)
        if e_inc.shape[0] != n:
            raise ValueError(f"energy has {e_inc.shape[0]} values for {n} showers")
    z0, z1 = _depth_ranges(geometry)
    front, total_depth = float(z0.min()), float(z1.max() - z0.min())
    scale = transverse_scale(geometry)
    out = np.zeros((n, geometry.n_voxels), dtype=np.float32)
    for lo in range(0, n, chunk):
        e = e_inc[lo : lo + chunk]
        k = e.shape[0]
        gev = e / 1000.0
        # per-shower parameters
        mean_depth = np.clip(m.depth_mean + m.depth_log_slope * np.log(gev / 10.0), 0.05, 0.95)
        mean_depth = mean_depth * np.exp(m.depth_jitter * rng.standard_normal(k))
        radius = m.radius * scale * np.exp(m.radius_jitter * rng.standard_normal(k))
        sigma = np.hypot(m.stochastic / np.sqrt(gev), m.constant)
        deposit = e * np.clip(m.response * (1.0 + sigma * rng.standard_normal(k)), 0.0, None)
        axis = m.axis_spread * scale * rng.standard_normal((k, 2))
        # hits
        h = m.n_hits
        depth = front + total_depth * mean_depth[:, None] / m.depth_shape * rng.gamma(m.depth_shape, 1.0, (k, h))
        grow = 0.5 + (depth - front) / total_depth  # showers widen with depth
        halo = rng.random((k, h)) < m.halo_fraction
        r_sigma = radius[:, None] * grow * np.where(halo, m.halo_factor, 1.0)
        x = axis[:, 0:1] + r_sigma * rng.standard_normal((k, h))
        y = axis[:, 1:2] + r_sigma * rng.standard_normal((k, h))
        weight = rng.exponential(1.0, (k, h))
        weight *= (deposit / weight.sum(axis=1))[:, None]
        rows = np.broadcast_to(np.arange(k)[:, None], (k, h))
        layer_of_hit = np.full((k, h), -1, dtype=np.int64)
        for i in range(geometry.n_layers):
            layer_of_hit[(depth >= z0[i]) & (depth < z1[i])] = i
        flat = np.full((k, h), -1, dtype=np.int64)
        for i in range(geometry.n_layers):
            sel = layer_of_hit == i
            if sel.any():
                flat[sel] = geometry.locate(i, x[sel], y[sel])
        keep = flat >= 0  # hits outside the readout leak away
        idx = rows[keep] * geometry.n_voxels + flat[keep]
        block = np.bincount(idx, weights=weight[keep], minlength=k * geometry.n_voxels)
        out[lo : lo + k] = block.reshape(k, geometry.n_voxels)
    return ShowerSet.from_arrays(e_inc, out, geometry, particle=particle_code(particle))
