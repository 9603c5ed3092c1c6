"""Metrics between a reference and a generated sample (numpy and scipy only).

* :func:`separation_power` — the CaloChallenge histogram metric (triangular discrimination, eq. 15 of
  arXiv:2009.03796; ``_separation_power`` in the challenge's evaluation code): both histograms normalised to
  unit sum, ``S = ½ Σ (h1 − h2)² / (h1 + h2)``; 0 for identical, 1 for disjoint histograms.
* :func:`ks_distance` and :func:`wasserstein_1` per feature (unbinned; scipy).
* :func:`frechet_physics_distance` and :func:`kernel_physics_distance` — the FPD and KPD estimators of
  Kansal et al., arXiv:2211.10295 (as in the jetnet package's ``gen_metrics.py``): features normalised by
  the reference's maximum absolute value; FPD measured on batches of sizes regular in 1/N and linearly
  extrapolated to 1/N → 0 (the intercept and its fit error); KPD the median over batches of the unbiased MMD²
  with a cubic polynomial kernel ``(x·y/d + 1)³`` (the paper; jetnet's code uses degree 4), error half the
  16–84 % inter-quantile range.
* :func:`precision_recall_density_coverage` — Naeem et al., arXiv:2002.09797 (k nearest neighbours).
* :func:`projection_mse` — 3DGAN-style MSE between average projections (Rehm et al. 2021).
* :func:`memorisation` — nearest-training-neighbour distances of generated vs held-out reference showers.
* :func:`rank_correlation` and :func:`compare_correlations` — Spearman rank correlations between the high-level
  features of each sample and the significance of their differences (Fisher's z with the Bonett–Wright
  variance for Spearman's ρ): what one-dimensional histograms cannot show, e.g. a model whose layers vary
  independently where the reference's move together.

Every random draw takes a ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from caloforge.exceptions import ConfigError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CorrelationComparison",
    "DistanceEstimate",
    "compare_correlations",
    "frechet_distance",
    "frechet_physics_distance",
    "kernel_physics_distance",
    "ks_distance",
    "memorisation",
    "nearest_distances",
    "precision_recall_density_coverage",
    "projection_mse",
    "rank_correlation",
    "separation_power",
    "separation_power_from_counts",
    "wasserstein_1",
]


# --------------------------------------------------------------------------------------------------
# one-dimensional
# --------------------------------------------------------------------------------------------------
def separation_power_from_counts(h1: ArrayLike, h2: ArrayLike) -> float:
    """Separation power of two histograms given as counts (or any non-negative weights) on the same bins.

    Returns 1 when exactly one histogram is empty (nothing in common) and NaN when both are.
    """
    a = np.asarray(h1, dtype=np.float64)
    b = np.asarray(h2, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"histograms of different shapes {a.shape} and {b.shape}")
    sa, sb = a.sum(), b.sum()
    if sa <= 0 and sb <= 0:
        return float("nan")
    if sa <= 0 or sb <= 0:
        return 1.0
    p, q = a / sa, b / sb
    den = p + q
    m = den > 0
    return float(0.5 * np.sum((p[m] - q[m]) ** 2 / den[m]))


def separation_power(a: ArrayLike, b: ArrayLike, bins: ArrayLike | int) -> float:
    """Separation power of the samples ``a`` and ``b`` histogrammed on ``bins``.

    Args:
        a, b: 1-D samples (NaN ignored).
        bins: increasing bin edges, or a number of equal bins spanning both samples.

    Entries outside the edges are dropped before normalising, as in the CaloChallenge code.

    >>> separation_power([0.1, 0.2], [0.1, 0.2], [0, 0.5, 1])
    0.0
    >>> separation_power([0.1, 0.2], [0.7, 0.8], [0, 0.5, 1])
    1.0
    """
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if np.ndim(bins) == 0:
        both = np.concatenate([x, y])
        if both.size == 0:
            return float("nan")
        edges = np.histogram_bin_edges(both, bins=int(bins))  # type: ignore[arg-type]
    else:
        edges = np.asarray(bins, dtype=np.float64)
    return separation_power_from_counts(np.histogram(x, edges)[0], np.histogram(y, edges)[0])


def ks_distance(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and its asymptotic p-value (scipy ``ks_2samp``)."""
    from scipy.stats import ks_2samp

    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return float("nan"), float("nan")
    res = ks_2samp(x, y, method="asymp")
    return float(res.statistic), float(res.pvalue)


def wasserstein_1(a: ArrayLike, b: ArrayLike) -> float:
    """Wasserstein-1 (earth mover's) distance of two 1-D samples, in their unit (scipy)."""
    from scipy.stats import wasserstein_distance

    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return float("nan")
    return float(wasserstein_distance(x, y))


# --------------------------------------------------------------------------------------------------
# FPD and KPD (arXiv:2211.10295)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistanceEstimate:
    """A distance and its uncertainty (FPD: fit error of the intercept; KPD: half the 16–84 % range)."""

    value: float
    error: float

    def scaled(self, factor: float) -> DistanceEstimate:
        return DistanceEstimate(self.value * factor, self.error * factor)


def _as_2d(x: ArrayLike, name: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N, n_features), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _normalise(real: NDArray[np.float64], gen: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # jetnet _normalise_features: divide both by the reference's max |x| per feature
    maxes = np.max(np.abs(real), axis=0)
    maxes[maxes == 0] = 1.0
    return real / maxes, gen / maxes


def frechet_distance(
    mu1: NDArray[np.float64], sigma1: NDArray[np.float64], mu2: NDArray[np.float64], sigma2: NDArray[np.float64]
) -> float:
    """Fréchet distance ``|μ1 − μ2|² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½)`` of two Gaussians.

    ``Tr (Σ1 Σ2)^½`` is computed as ``Σ √λ`` over the eigenvalues of the symmetric ``Σ1^½ Σ2 Σ1^½`` (the same
    value as ``scipy.linalg.sqrtm`` gives, without its complex round-off).
    """
    diff = mu1 - mu2
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    lam = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    tr_covmean = float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _nonnegative_line_fit(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` with ``a, b ≥ 0``; returns ``(a, σ_a)``.

    The error is what ``scipy.optimize.curve_fit(..., bounds=([0, 0], [inf, inf]))`` reports for this linear
    model (jetnet's FPD fit): residual variance × ``(JᵀJ)⁻¹`` at the solution.
    """
    design = np.stack([np.ones_like(x), x], axis=1)
    candidates = []
    a, b = np.linalg.lstsq(design, y, rcond=None)[0]
    if a >= 0 and b >= 0:
        candidates.append((a, b))
    else:
        slope0 = max(float(x @ y / (x @ x)), 0.0) if x @ x > 0 else 0.0
        candidates += [(0.0, slope0), (max(float(y.mean()), 0.0), 0.0)]
    a, b = min(candidates, key=lambda ab: float(np.sum((y - ab[0] - ab[1] * x) ** 2)))
    dof = max(len(x) - 2, 1)
    s2 = float(np.sum((y - a - b * x) ** 2)) / dof
    cov = s2 * np.linalg.pinv(design.T @ design)
    return float(a), float(np.sqrt(max(cov[0, 0], 0.0)))


def frechet_physics_distance(
    real: ArrayLike,
    gen: ArrayLike,
    *,
    min_samples: int = 20_000,
    max_samples: int = 50_000,
    num_batches: int = 20,
    num_points: int = 10,
    normalise: bool = True,
    seed: int = 42,
) -> DistanceEstimate:
    """FPD with the estimator of arXiv:2211.10295: extrapolated to infinite sample size.

    For each of ``num_points`` batch sizes regular in 1/N between ``min_samples`` and ``max_samples``, the
    Fréchet distance of ``num_batches`` pairs of batches drawn with replacement is averaged; a straight line in
    1/N (non-negative intercept and slope) is fitted and its intercept is the FPD.

    Args:
        real, gen: feature vectors ``(N, n_features)`` (reference, generated).
        min_samples, max_samples: batch-size range (jetnet defaults 20,000 and 50,000). With fewer showers,
            ``max_samples`` is capped at the smaller sample size and ``min_samples`` at half of that (a
            deviation from jetnet, which would draw batches larger than the sample).
        num_batches, num_points, normalise, seed: as in jetnet.

    Returns:
        The FPD (not yet × 10³) and its error.
    """
    x, y = _as_2d(real, "reference features"), _as_2d(gen, "generated features")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature counts differ: {x.shape[1]} vs {y.shape[1]}")
    if normalise:
        x, y = _normalise(x, y)
    hi = min(max_samples, len(x), len(y))
    lo = min(min_samples, max(hi // 2, 2))
    if hi < 4:
        raise ConfigError(f"FPD needs at least 4 showers per sample, got {len(x)} and {len(y)}")
    batches = (1.0 / np.linspace(1.0 / lo, 1.0 / hi, num_points)).astype(np.int64)
    rng = np.random.default_rng(seed)
    means = []
    for size in batches:
        vals = []
        for _ in range(num_batches):
            a = x[rng.choice(len(x), size=int(size))]
            b = y[rng.choice(len(y), size=int(size))]
            vals.append(
                frechet_distance(
                    a.mean(axis=0),
                    np.atleast_2d(np.cov(a, rowvar=False)),
                    b.mean(axis=0),
                    np.atleast_2d(np.cov(b, rowvar=False)),
                )
            )
        means.append(np.mean(vals))
    value, error = _nonnegative_line_fit(1.0 / batches.astype(np.float64), np.asarray(means))
    return DistanceEstimate(value, error)


def _kernel_sum(a: NDArray[np.float64], b: NDArray[np.float64], degree: int, chunk: int = 2048) -> tuple[float, float]:
    """``(Σ_ij k(a_i, b_j), Σ_i k(a_i, b_i))`` for the polynomial kernel ``(a·b/d + 1)^degree``, in chunks."""
    gamma = 1.0 / a.shape[1]
    total = 0.0
    for lo in range(0, len(a), chunk):
        total += float(np.sum(_power((a[lo : lo + chunk] @ b.T) * gamma + 1.0, degree)))
    diag = float(np.sum(_power((a * b).sum(axis=1) * gamma + 1.0, degree))) if a.shape == b.shape else 0.0
    return total, diag


def _power(k: NDArray[np.float64], degree: int) -> NDArray[np.float64]:
    # repeated in-place products: several times faster than np.power for small integer degrees
    out = k.copy()
    for _ in range(degree - 1):
        out *= k
    return out


def _mmd_unbiased(a: NDArray[np.float64], b: NDArray[np.float64], degree: int) -> float:
    m, n = len(a), len(b)
    kxx, dxx = _kernel_sum(a, a, degree)
    kyy, dyy = _kernel_sum(b, b, degree)
    kxy, _ = _kernel_sum(a, b, degree)
    return (kxx - dxx) / (m * (m - 1)) + (kyy - dyy) / (n * (n - 1)) - 2.0 * kxy / (m * n)


def kernel_physics_distance(
    real: ArrayLike,
    gen: ArrayLike,
    *,
    num_batches: int = 10,
    batch_size: int = 5_000,
    degree: int = 3,
    normalise: bool = True,
    seed: int = 42,
) -> DistanceEstimate:
    """KPD (arXiv:2211.10295): median over batches of the unbiased MMD² with a polynomial kernel.

    Args:
        real, gen: feature vectors ``(N, n_features)``.
        num_batches, batch_size: jetnet defaults 10 × 5,000 (capped at the smaller sample size).
        degree: kernel degree; 3 as in the paper (jetnet's code uses 4).
        normalise: divide by the reference's max |x| per feature.
        seed: batch ``i`` draws with ``default_rng(seed + 1000 i)`` as jetnet does.

    Returns:
        The KPD (not yet × 10³) and half the 16–84 % inter-quantile range of the batch values.
    """
    x, y = _as_2d(real, "reference features"), _as_2d(gen, "generated features")
    if normalise:
        x, y = _normalise(x, y)
    size = min(batch_size, len(x), len(y))
    if size < 2:
        raise ConfigError(f"KPD needs at least 2 showers per sample, got {len(x)} and {len(y)}")
    vals = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)
        a = x[rng.choice(len(x), size=size)]
        b = y[rng.choice(len(y), size=size)]
        vals.append(_mmd_unbiased(a, b, degree))
    q16, q84 = np.percentile(vals, [16.275, 83.725])
    return DistanceEstimate(float(np.median(vals)), float(q84 - q16) / 2.0)


# --------------------------------------------------------------------------------------------------
# nearest neighbours
# --------------------------------------------------------------------------------------------------
def _sq_norms(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.einsum("ij,ij->i", a, a)


def _distances(a: NDArray[np.float64], b: NDArray[np.float64], b_norms: NDArray[np.float64]) -> NDArray[np.float64]:
    d2 = _sq_norms(a)[:, None] + b_norms[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


def nearest_distances(
    queries: ArrayLike, points: ArrayLike, k: int = 1, *, exclude_self: bool = False, chunk: int = 1024
) -> NDArray[np.float64]:
    """Euclidean distance from each query ``(M, d)`` to its k-th nearest point of ``points (N, d)``.

    With ``exclude_self`` (queries are the points) the zero self-distance is skipped.
    """
    q = np.asarray(queries, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    kk = k + 1 if exclude_self else k
    if kk > len(p):
        raise ConfigError(f"need more than {kk - 1} points for the {k}-th nearest neighbour, got {len(p)}")
    norms = _sq_norms(p)
    out = np.empty(len(q))
    for lo in range(0, len(q), chunk):
        d = _distances(q[lo : lo + chunk], p, norms)
        out[lo : lo + chunk] = np.partition(d, kk - 1, axis=1)[:, kk - 1]
    return out


def _subsample(x: NDArray[np.float64], n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    if len(x) <= n:
        return x
    return x[np.sort(rng.choice(len(x), size=n, replace=False))]


def precision_recall_density_coverage(
    real: ArrayLike, gen: ArrayLike, *, k: int = 5, max_samples: int = 5_000, seed: int = 0, chunk: int = 1024
) -> dict[str, float]:
    """Precision, recall, density and coverage with k nearest neighbours (Naeem et al., arXiv:2002.09797).

    Args:
        real, gen: ``(N, d)`` vectors (caloforge uses log10 voxel energies, see docs/evaluation.md).
        k: neighbours defining each point's ball (5 as in the paper).
        max_samples: each sample is subsampled (seeded, without replacement) to at most this many points —
            the pairwise distances cost O(N² d).

    Also returns ``spread``: the median k-NN radius of the generated points over that of the reference points
    (≈ 1 for samples of one distribution, whatever the dimension). Below 1 the generated sample is less varied
    than the reference — the case of recall ≈ 0 with density ≫ 1 (docs/evaluation.md).
    """
    rng = np.random.default_rng(seed)
    x = _subsample(_as_2d(real, "reference vectors"), max_samples, rng)
    y = _subsample(_as_2d(gen, "generated vectors"), max_samples, rng)
    r_real = nearest_distances(x, x, k, exclude_self=True, chunk=chunk)
    r_gen = nearest_distances(y, y, k, exclude_self=True, chunk=chunk)
    y_norms = _sq_norms(y)
    in_real_balls = np.zeros(len(y))  # per generated point: number of real balls containing it
    covered = np.zeros(len(x), dtype=bool)
    recalled = np.zeros(len(x), dtype=bool)
    for lo in range(0, len(x), chunk):
        d = _distances(x[lo : lo + chunk], y, y_norms)  # (chunk, n_gen)
        inside = d < r_real[lo : lo + chunk, None]
        in_real_balls += inside.sum(axis=0)
        covered[lo : lo + chunk] = d.min(axis=1) < r_real[lo : lo + chunk]
        recalled[lo : lo + chunk] = (d < r_gen[None, :]).any(axis=1)
    median_real = float(np.median(r_real))
    return {
        "precision": float(np.mean(in_real_balls > 0)),
        "recall": float(np.mean(recalled)),
        "density": float(np.mean(in_real_balls) / k),
        "coverage": float(np.mean(covered)),
        "spread": float(np.median(r_gen)) / median_real if median_real > 0 else float("nan"),
        "k": float(k),
        "n_reference": float(len(x)),
        "n_generated": float(len(y)),
    }


def memorisation(
    train: ArrayLike,
    reference: ArrayLike,
    gen: ArrayLike,
    *,
    max_train: int = 20_000,
    max_queries: int = 2_000,
    seed: int = 0,
) -> dict[str, float]:
    """Nearest-training-shower distances of generated showers vs held-out reference showers.

    A generator that reproduces its training set puts its showers (much) closer to training showers than
    independent showers of the same physics are. Reported:

    * ``median_generated``, ``median_reference``: median distance to the nearest training vector;
    * ``ratio`` = their quotient (≈ 1 for an honest generator, ≪ 1 for one that copies);
    * ``copy_fraction``: fraction of generated showers closer to the training set than 99 % of the held-out
      reference showers are (≈ 0.01 expected; docs/evaluation.md calls > 0.05 suspicious).

    Args:
        train, reference, gen: ``(N, d)`` vectors (caloforge uses voxels / E_inc); ``reference`` must not
            overlap the training set.
        max_train, max_queries: seeded subsamples bounding the O(N_train · N_query · d) cost.
    """
    rng = np.random.default_rng(seed)
    t = _subsample(_as_2d(train, "training vectors"), max_train, rng)
    r = _subsample(_as_2d(reference, "reference vectors"), max_queries, rng)
    g = _subsample(_as_2d(gen, "generated vectors"), max_queries, rng)
    d_ref = nearest_distances(r, t)
    d_gen = nearest_distances(g, t)
    med_ref, med_gen = float(np.median(d_ref)), float(np.median(d_gen))
    cut = float(np.percentile(d_ref, 1.0))
    return {
        "median_generated": med_gen,
        "median_reference": med_ref,
        "ratio": med_gen / med_ref if med_ref > 0 else float("nan"),
        "copy_fraction": float(np.mean(d_gen < cut)) if cut > 0 else float(np.mean(d_gen <= 0)),
        "n_train": float(len(t)),
        "n_queries": float(len(g)),
    }


def projection_mse(reference: ArrayLike, generated: ArrayLike, scale: float | None = None) -> float:
    """Mean squared difference of two average projections ``(n_bins,)`` after dividing both by ``scale``.

    caloforge divides by the reference's mean total energy (``scale``, default the reference projection's
    sum) so that the number is dimensionless and comparable across energies and detectors.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(generated, dtype=np.float64)
    s = float(a.sum()) if scale is None else float(scale)
    if s <= 0:
        return float("nan")
    return float(np.mean((a / s - b / s) ** 2))


# --------------------------------------------------------------------------------------------------
# correlations between features
# --------------------------------------------------------------------------------------------------
def rank_correlation(x: ArrayLike) -> NDArray[np.float64]:
    """Spearman rank correlation matrix ``(k, k)`` of the columns of ``x`` ``(N, k)``.

    Ties get their average rank. A pair is computed over the rows where both columns are finite (NaN and inf
    are left out, not ranked); a column that is constant over those rows, or a pair with fewer than 3 such
    rows, gives NaN.
    """
    from scipy.stats import rankdata

    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"rank_correlation needs an (N, k) array, got shape {a.shape}")
    n, k = a.shape
    finite = np.isfinite(a)
    clean = np.all(finite, axis=0)
    out = np.full((k, k), np.nan)
    if n >= 3 and clean.any():
        ranks = rankdata(a[:, clean], axis=0)
        centred = ranks - ranks.mean(axis=0)
        norm = np.sqrt((centred * centred).sum(axis=0))
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (centred.T @ centred) / np.outer(norm, norm)
        c[:, norm == 0] = np.nan
        c[norm == 0, :] = np.nan
        idx = np.flatnonzero(clean)
        out[np.ix_(idx, idx)] = np.clip(c, -1.0, 1.0)
    for i in np.flatnonzero(~clean):  # pairs with a column that has non-finite entries: rank the common rows
        for j in range(k):
            if not clean[j] and j < i:
                continue  # done as (j, i)
            both = finite[:, i] & finite[:, j]
            if both.sum() < 3:
                continue
            ri, rj = rankdata(a[both, i]), rankdata(a[both, j])
            ri, rj = ri - ri.mean(), rj - rj.mean()
            den = math.sqrt(float(ri @ ri) * float(rj @ rj))
            if den > 0:
                out[i, j] = out[j, i] = float(np.clip(ri @ rj / den, -1.0, 1.0))
    return out


@dataclass(frozen=True)
class CorrelationComparison:
    """Rank correlations between the same features in a reference and a generated sample.

    Attributes:
        names: the feature names, in matrix order.
        reference, generated: Spearman ρ matrices ``(k, k)`` (NaN where undefined).
        pull: ``(z_gen − z_ref) / σ`` per pair with Fisher's ``z = atanh ρ`` and the Bonett–Wright variance of
            Spearman's z, ``(1 + ρ²/2) / (n − 3)`` (Bonett & Wright, Psychometrika 65 (2000) 23): about N(0, 1)
            per pair for two samples of one distribution.
    """

    names: tuple[str, ...]
    reference: NDArray[np.float64]
    generated: NDArray[np.float64]
    pull: NDArray[np.float64]

    @property
    def difference(self) -> NDArray[np.float64]:
        """``ρ_gen − ρ_ref`` ``(k, k)``."""
        return self.generated - self.reference

    def worst(self, n: int = 5) -> list[tuple[str, str, float, float, float]]:
        """The ``n`` feature pairs with the largest ``|ρ_gen − ρ_ref|``: ``(a, b, ρ_ref, ρ_gen, pull)``."""
        d = self.difference
        i, j = np.triu_indices(len(self.names), k=1)
        ok = np.isfinite(d[i, j])
        i, j = i[ok], j[ok]
        order = np.argsort(-np.abs(d[i, j]), kind="stable")[:n]
        return [
            (
                self.names[a],
                self.names[b],
                float(self.reference[a, b]),
                float(self.generated[a, b]),
                float(self.pull[a, b]),
            )
            for a, b in zip(i[order], j[order], strict=True)
        ]

    def max_abs_difference(self) -> float:
        """The largest ``|ρ_gen − ρ_ref|`` over all pairs (NaN if no pair is defined)."""
        d = np.abs(self.difference[np.triu_indices(len(self.names), k=1)])
        d = d[np.isfinite(d)]
        return float(d.max()) if d.size else float("nan")


def compare_correlations(
    names: tuple[str, ...] | list[str],
    reference: NDArray[np.float64],
    n_reference: int,
    generated: ArrayLike,
) -> CorrelationComparison:
    """Compare the rank correlations of ``generated`` ``(N, k)`` with the reference's matrix ``(k, k)``
    (from :func:`rank_correlation` on ``n_reference`` rows), feature by feature in ``names`` order."""
    gen = np.asarray(generated, dtype=np.float64)
    k = len(names)
    if reference.shape != (k, k) or gen.ndim != 2 or gen.shape[1] != k:
        raise ValueError(f"{k} names, reference matrix {reference.shape} and generated features {gen.shape} differ")
    rho_gen = rank_correlation(gen)

    def z_and_var(rho: NDArray[np.float64], n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        r = np.clip(rho, -0.999999, 0.999999)
        return np.arctanh(r), (1.0 + r * r / 2.0) / max(n - 3, 1)

    z_ref, v_ref = z_and_var(reference, n_reference)
    z_gen, v_gen = z_and_var(rho_gen, gen.shape[0])
    return CorrelationComparison(tuple(names), reference, rho_gen, (z_gen - z_ref) / np.sqrt(v_ref + v_gen))
