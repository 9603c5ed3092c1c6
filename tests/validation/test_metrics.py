"""The metrics: exact values on small inputs, and that each one can tell different samples apart."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import linalg

from caloforge.validation.metrics import (
    _nonnegative_line_fit,
    compare_correlations,
    frechet_distance,
    frechet_physics_distance,
    kernel_physics_distance,
    ks_distance,
    memorisation,
    nearest_distances,
    precision_recall_density_coverage,
    projection_mse,
    rank_correlation,
    separation_power,
    separation_power_from_counts,
    wasserstein_1,
)
from caloforge.validation.observables import high_level_vector, shower_features
from caloforge.validation.toy import toy_showers


def test_separation_power_values():
    assert separation_power([0.1, 0.2, 0.7], [0.1, 0.2, 0.7], [0.0, 0.5, 1.0]) == 0.0
    assert separation_power([0.1, 0.2], [0.7, 0.8], [0.0, 0.5, 1.0]) == pytest.approx(1.0)
    # h1 = (1, 0), h2 = (1/2, 1/2): S = 1/2 [ (1/2)^2 / (3/2) + (1/2)^2 / (1/2) ] = 1/3
    assert separation_power_from_counts([4, 0], [3, 3]) == pytest.approx(1 / 3)
    # normalisation makes S independent of the sample sizes
    assert separation_power_from_counts([4, 0], [30, 30]) == pytest.approx(1 / 3)
    # entries outside the edges are dropped before normalising (as the challenge's plt.hist)
    assert separation_power([0.2, 5.0, 7.0], [0.3], [0.0, 0.5, 1.0]) == 0.0
    assert separation_power([0.2], [5.0], [0.0, 0.5, 1.0]) == 1.0  # nothing of b in range
    assert math.isnan(separation_power([5.0], [6.0], [0.0, 1.0]))
    assert separation_power([0.0, 1.0], [0.0, 1.0], 10) == 0.0


def test_separation_power_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 20000), rng.normal(0, 1, 20000)
    edges = np.linspace(-4, 4, 81)
    null = separation_power(a, b, edges)
    assert null < 0.005  # ~ n_bins / (2 N) for independent samples of one distribution
    shifts = [separation_power(a, b + d, edges) for d in (0.2, 0.5, 1.0, 3.0)]
    assert shifts == sorted(shifts)
    assert shifts[0] > 4 * null
    assert shifts[-1] > 0.7


def test_ks_and_wasserstein():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)
    ks, p = ks_distance(a, b)
    assert ks < 0.04
    assert p > 0.01
    ks2, p2 = ks_distance(a, b + 0.5)
    assert ks2 > 0.15
    assert p2 < 1e-6
    assert wasserstein_1(a, a + 0.3) == pytest.approx(0.3)
    assert wasserstein_1(a, b) < 0.05


def test_frechet_distance_matches_sqrtm():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(500, 6)), rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    m1, m2 = x.mean(0), y.mean(0)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = (m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-9)


def test_nonnegative_line_fit():
    x = np.linspace(0.1, 1.0, 10)
    a, err = _nonnegative_line_fit(x, 2.0 + 3.0 * x)
    assert a == pytest.approx(2.0)
    assert err == pytest.approx(0.0, abs=1e-9)
    a, _ = _nonnegative_line_fit(x, -1.0 + 3.0 * x)  # a negative intercept is clipped to 0, as curve_fit's bounds
    assert a == 0.0


@pytest.fixture(scope="module")
def high_level(calogan_pair):
    a, b = calogan_pair
    g = a.geometry
    pion = toy_showers(g, 4000, np.random.default_rng(5), particle="pi+")
    return [high_level_vector(shower_features(s.showers, s.energy, g)) for s in (a, b, pion)]


def test_fpd_of_a_sample_against_itself_is_consistent_with_zero(high_level):
    ref, same, pion = high_level
    kw = {"min_samples": 1000, "max_samples": 4000, "num_batches": 8, "num_points": 5, "seed": 3}
    self_fpd = frechet_physics_distance(ref, ref, **kw)
    assert self_fpd.value <= 3 * self_fpd.error + 1e-6
    independent = frechet_physics_distance(ref, same, **kw)
    different = frechet_physics_distance(ref, pion, **kw)
    assert different.value > 100 * max(independent.value, independent.error)
    assert different.value > 10 * different.error
    # reproducible with a seed
    assert frechet_physics_distance(ref, same, **kw) == independent


def test_kpd_detects_a_different_sample(high_level):
    ref, same, pion = high_level
    kw = {"num_batches": 5, "batch_size": 1000, "seed": 4}
    null = kernel_physics_distance(ref, same, **kw)
    assert abs(null.value) <= 3 * null.error + 1e-6
    diff = kernel_physics_distance(ref, pion, **kw)
    assert diff.value > 10 * diff.error
    assert diff.value > 100 * abs(null.value)
    assert kernel_physics_distance(ref, same, **kw) == null


def test_precision_recall_density_coverage():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(1500, 8)), rng.normal(size=(1500, 8))
    same = precision_recall_density_coverage(real, fake, k=5, seed=0)
    assert 0.8 < same["density"] < 1.25
    assert same["coverage"] > 0.85
    assert same["precision"] > 0.6
    assert same["recall"] > 0.6
    assert 0.9 < same["spread"] < 1.1
    far = precision_recall_density_coverage(real, fake + 3.0, k=5, seed=0)
    assert far["coverage"] < 0.1
    assert far["density"] < 0.1
    assert far["precision"] < 0.2
    collapsed = precision_recall_density_coverage(real, 0.1 * fake, k=5, seed=0)  # mode collapse
    assert collapsed["recall"] < 0.2
    assert collapsed["precision"] > 0.9
    assert collapsed["spread"] == pytest.approx(0.1, rel=0.1)  # the generated radii shrink with the sample
    wide = precision_recall_density_coverage(real, 2.0 * fake, k=5, seed=0)
    assert wide["spread"] == pytest.approx(2.0, rel=0.1)


def test_nearest_distances_excludes_self():
    pts = np.array([[0.0], [1.0], [3.0]])
    assert nearest_distances(pts, pts, 1, exclude_self=True).tolist() == [1.0, 1.0, 2.0]
    assert nearest_distances(np.array([[2.9]]), pts).tolist() == pytest.approx([0.1])


def test_memorisation_flags_a_generator_that_copies(calogan_pair):
    a, b = calogan_pair
    train = a.showers / a.energy[:, None]
    held_out = b.showers / b.energy[:, None]
    rng = np.random.default_rng(7)
    copies = train[rng.choice(len(train), 1000)] * (1 + 1e-4 * rng.standard_normal((1000, train.shape[1])))
    honest = toy_showers(a.geometry, 1000, rng)
    honest_x = honest.showers / honest.energy[:, None]
    bad = memorisation(train, held_out, copies, max_queries=1000, seed=1)
    good = memorisation(train, held_out, honest_x, max_queries=1000, seed=1)
    assert bad["copy_fraction"] > 0.9
    assert bad["ratio"] < 0.1
    assert good["copy_fraction"] < 0.05
    assert 0.8 < good["ratio"] < 1.25


def test_projection_mse():
    a = np.array([1.0, 2.0, 1.0])
    assert projection_mse(a, a) == 0.0
    assert projection_mse(a, a * 1.1) > 0
    assert projection_mse(a, a + np.array([0.0, 0.4, 0.0]), scale=4.0) == pytest.approx(0.01 / 3)


def _correlated(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """(n, 4): columns 0 and 1 Gaussian with correlation ``rho``, column 2 independent, column 3 integer (ties)."""
    x = rng.normal(size=(n, 4))
    x[:, 1] = rho * x[:, 0] + math.sqrt(1 - rho * rho) * x[:, 1]
    x[:, 3] = np.round(x[:, 3] + x[:, 0])
    return x


def test_rank_correlation_is_spearman():
    from scipy.stats import spearmanr

    x = _correlated(np.random.default_rng(0), 3000, 0.5)
    assert np.allclose(rank_correlation(x), spearmanr(x).statistic, atol=1e-12)
    # a monotonic transform changes nothing; a constant column is undefined, not 0
    y = x.copy()
    y[:, 0] = np.exp(3 * y[:, 0])
    y[:, 2] = 7.0
    c = rank_correlation(y)
    assert np.allclose(c[:2, :2], rank_correlation(x)[:2, :2])
    assert np.all(np.isnan(c[2]))
    # NaN rows are left out of the pairs that need them only
    z = x.copy()
    z[:100, 1] = np.nan
    c = rank_correlation(z)
    assert c[0, 1] == pytest.approx(spearmanr(x[100:, 0], x[100:, 1]).statistic, abs=1e-12)
    assert c[0, 3] == pytest.approx(rank_correlation(x)[0, 3], abs=1e-12)
    with pytest.raises(ValueError, match="needs an"):
        rank_correlation(np.zeros(5))


def test_correlation_pulls_are_standard_normal_for_one_distribution():
    rng = np.random.default_rng(1)
    pulls = []
    for _ in range(60):  # independent reference and generated samples of one distribution each time
        ref = _correlated(rng, 1500, 0.6)
        gen = _correlated(rng, 1000, 0.6)
        c = compare_correlations(list("abcd"), rank_correlation(ref), len(ref), gen)
        pulls.append(c.pull[np.triu_indices(4, k=1)])
    pulls = np.concatenate(pulls)
    assert abs(pulls.mean()) < 0.2
    assert 0.85 < pulls.std() < 1.15


def test_correlation_difference_is_found_and_ranked():
    rng = np.random.default_rng(2)
    ref = _correlated(rng, 4000, 0.5)
    gen = _correlated(rng, 4000, 0.0)  # the same marginals, the a-b correlation lost
    c = compare_correlations(list("abcd"), rank_correlation(ref), len(ref), gen)
    a, b, r_ref, r_gen, pull = c.worst(1)[0]
    assert (a, b) == ("a", "b")
    assert r_ref == pytest.approx(0.48, abs=0.03)
    assert abs(r_gen) < 0.05
    assert pull < -20
    assert c.max_abs_difference() == pytest.approx(abs(r_gen - r_ref))
    assert len(c.worst(10)) == 6  # every pair once
    with pytest.raises(ValueError, match="differ"):
        compare_correlations(list("abc"), rank_correlation(ref), len(ref), gen)
