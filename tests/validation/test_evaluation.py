"""The evaluation as a whole (Python API), binning conventions, energy bins, response fits, bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from caloforge.exceptions import ConfigError, DataFormatError, GeometryError
from caloforge.geometry import get_preset
from caloforge.io import ShowerSet
from caloforge.validation.binning import (
    breakdown_energy_bins,
    challenge_dataset,
    feature_binning,
    histogram,
    response_energy_bins,
)
from caloforge.validation.evaluation import EvaluationConfig, Timing, evaluate
from caloforge.validation.metrics import separation_power_from_counts
from caloforge.validation.observables import FeatureSpec, feature_specs
from caloforge.validation.response import fit_resolution, response_curve
from caloforge.validation.toy import toy_showers

from .conftest import moved_layer, scaled

FAST = EvaluationConfig.quick(
    classifier=False,
    fpd_min_samples=1000,
    fpd_max_samples=4000,
    fpd_batches=4,
    fpd_points=4,
    kpd_batches=4,
    kpd_batch_size=1000,
    prdc_samples=1000,
    memorisation_train=2000,
    memorisation_queries=500,
)


@pytest.fixture(scope="module")
def evaluation(calogan_pair):
    a, b = calogan_pair
    train = toy_showers(a.geometry, 2000, np.random.default_rng(99))
    gens = {"same": b, "scaled": scaled(b, 1.05), "moved": moved_layer(b, source=1, target=0, fraction=0.3)}
    return evaluate(a, gens, config=FAST, train=train, timings={"same": Timing(1.5, "cpu", 1000)})


def test_same_distribution_has_small_separation_powers(evaluation):
    mean, worst = evaluation.samples["same"].separation_summary()
    assert worst < 0.04
    assert mean < 0.015
    assert evaluation.samples["same"].voxel_separation < 0.01


def test_distortions_show_up_on_the_right_feature(evaluation):
    null_worst = evaluation.samples["same"].separation_summary()[1]
    name, value = evaluation.samples["scaled"].worst_features(1)[0]
    assert name == "etot_over_einc"
    assert value > 0.2
    assert value > 5 * null_worst
    name, value = evaluation.samples["moved"].worst_features(1)[0]
    assert name in ("fraction_layer_0", "fraction_layer_1")
    assert value > 3 * null_worst
    # the response curve sees the 5 % scale in every energy bin ("scaled" is "same" × 1.05)
    same, miscal = evaluation.samples["same"].response, evaluation.samples["scaled"].response
    assert len(same) == 10
    for before, after in zip(same, miscal, strict=True):
        assert after.mean / before.mean == pytest.approx(1.05, rel=1e-4)
        assert after.resolution == pytest.approx(before.resolution, rel=1e-4)


def test_metrics_json_and_summary(evaluation):
    metrics = evaluation.metrics()
    text = json.dumps(metrics, allow_nan=False)
    assert json.loads(text)["geometry"]["name"] == "calogan"
    same = metrics["samples"]["same"]
    assert same["n_showers"] == 4000
    assert set(same["features"]) == {s.name for s in feature_specs(evaluation.geometry)}
    assert {"separation_power", "ks", "w1"} <= set(same["features"]["etot_over_einc"])
    assert same["fpd"]["error"] >= 0
    assert same["kpd"] is not None
    assert same["memorisation"]["copy_fraction"] < 0.05
    assert same["timing"] == {"ms_per_shower": 1.5, "device": "cpu", "batch_size": 1000}
    assert [b["label"] for b in metrics["energy_bins"]] == ["1 GeV – 10 GeV", "10 GeV – 100 GeV"]
    assert len(same["energy_bins"]) == 2
    assert same["energy_bins"][0]["n_reference"] > 0
    rows = dict(evaluation.summary_rows())
    assert rows["showers"] == {"same": "4,000", "scaled": "4,000", "moved": "4,000"}
    assert rows["time per shower"]["same"] == "1.5 ms (cpu, batch 1000)"
    assert "AUC low-level" not in rows  # classifier off


def test_correlations_see_what_histograms_cannot(calogan_pair):
    a, b = calogan_pair
    # layer 0 of each shower swapped with another shower's: every one-dimensional layer-0 histogram is unchanged,
    # but layer 0 no longer goes with the incident energy and the other layers
    rng = np.random.default_rng(5)
    showers = b.showers.copy()
    l0 = b.geometry.layer_slice(0)
    showers[:, l0] = b.showers[rng.permutation(len(b)), l0]
    ev = evaluate(a, {"same": b, "shuffled": replace(b, showers=showers)}, config=replace(FAST, prdc_samples=500))
    same, shuffled = ev.samples["same"], ev.samples["shuffled"]
    layer0 = [k for k in shuffled.feature_metrics if k.endswith("layer_0") and not k.startswith("fraction")]
    assert max(shuffled.feature_metrics[k]["separation_power"] for k in layer0) < 0.04
    name_a, name_b, r_ref, r_gen, pull = shuffled.correlations.worst(1)[0]
    assert "layer_0" in name_a + name_b
    assert abs(r_gen - r_ref) > 0.3
    assert abs(pull) > 15
    assert abs(same.correlations.worst(1)[0][4]) < 6  # the largest of ~500 pulls of one distribution
    assert ev.correlation_names[0] == "e_inc"
    metrics = ev.metrics()
    k = len(ev.correlation_names)
    assert np.array(metrics["reference"]["correlation"]).shape == (k, k)
    summary = metrics["samples"]["shuffled"]["summary"]
    assert summary["correlation_max_abs_difference"] == pytest.approx(abs(r_gen - r_ref), abs=1e-9)
    assert summary["worst_correlations"][0][:2] == [name_a, name_b]
    assert np.array(metrics["samples"]["shuffled"]["correlation"]["pull"]).shape == (k, k)
    assert f"{name_a} × {name_b}" in dict(ev.summary_rows())["largest rank-correlation difference"]["shuffled"]


def test_same_seed_same_numbers(calogan_pair):
    a, b = calogan_pair
    config = replace(FAST, prdc_samples=500)
    first = evaluate(a[:1000], {"g": b[:1000]}, config=config).metrics()
    second = evaluate(a[:1000], {"g": b[:1000]}, config=config).metrics()
    for m in (first, second):
        m.pop("seconds")
        m["samples"]["g"].pop("seconds")
    assert first == second


def test_classifier_runs_inside_the_evaluation(calogan_pair):
    a, b = calogan_pair
    config = EvaluationConfig.quick(classifier_inputs=("high",), fpd_min_samples=200, fpd_max_samples=500)
    ev = evaluate(a[:600], {"g": b[:600]}, config=config)
    result = ev.samples["g"].classifier["high"]
    assert 0.3 < result.auc < 0.7
    assert result.epochs_run <= 5
    assert "auc_high" in ev.metrics()["samples"]["g"]["summary"]


def test_classifier_repeats_report_mean_and_spread(calogan_pair, tmp_path):
    a, b = calogan_pair
    config = EvaluationConfig.quick(classifier_inputs=("high",), fpd_min_samples=200, fpd_max_samples=500)
    once = evaluate(a[:600], {"g": b[:600]}, config=config)
    thrice = evaluate(a[:600], {"g": b[:600]}, config=replace(config, classifier_repeats=3))
    runs = thrice.samples["g"].classifier_runs["high"]
    assert len(runs) == 3
    assert len({r.seed for r in runs}) == 3
    # the first run is the single run of the same seed; the others are new splits and initialisations
    assert runs[0].auc == once.samples["g"].classifier["high"].auc
    aucs = np.array([r.auc for r in runs])
    assert np.ptp(aucs) > 0
    summary = thrice.metrics()["samples"]["g"]["summary"]
    assert summary["auc_high"] == pytest.approx(aucs.mean())
    assert summary["auc_high_std"] == pytest.approx(aucs.std(ddof=1))
    assert "auc_high_std" not in once.metrics()["samples"]["g"]["summary"]
    assert once.metrics()["samples"]["g"]["summary"]["auc_high"] == runs[0].auc
    row = dict(thrice.summary_rows())["AUC high-level"]["g"]
    assert "mean ± sd of 3 runs" in row
    with pytest.raises(ConfigError, match="classifier_repeats must be >= 1"):
        replace(config, classifier_repeats=0)


def test_binning_conventions():
    ds2 = get_preset("calochallenge-2")
    assert challenge_dataset(ds2) == "2"
    assert challenge_dataset(get_preset("calogan")) is None
    renamed = replace(ds2, name="my-par04-copy")
    assert challenge_dataset(renamed) == "2"
    spec = {s.name: s for s in feature_specs(ds2)}
    ec = feature_binning(spec["ec_x_layer_3"], np.zeros(10), ds2, ds2.threshold)
    assert ec.source == "CaloChallenge"
    assert ec.edges[0] == -30
    assert ec.edges[-1] == 30
    assert ec.n_bins == 100
    w = feature_binning(spec["width_y_layer_3"], np.zeros(10), ds2, ds2.threshold)
    assert (w.edges[0], w.edges[-1]) == (0, 30)
    resp = feature_binning(spec["etot_over_einc"], np.full(10, 0.02), ds2, ds2.threshold)
    assert (resp.edges[0], resp.edges[-1], resp.n_bins) == (0.5, 1.5, 100)
    el = feature_binning(spec["e_layer_0"], np.array([1.0, 50.0, 200.0]), ds2, ds2.threshold)
    assert el.log
    assert len(el.edges) == 40
    assert el.edges[0] == pytest.approx(ds2.threshold)
    assert el.edges[-1] == pytest.approx(200.0)
    ds1 = get_preset("calochallenge-1-pions")
    specs1 = {s.name: s for s in feature_specs(ds1)}
    layer12 = next(i for i, layer in enumerate(ds1.layers) if layer.id == 12)
    ec12 = feature_binning(specs1[f"ec_x_layer_{layer12}"], np.zeros(5), ds1, 1.0)
    assert ec12.edges[-1] == 500
    # a sampling calorimeter: E_tot/E_inc near 0.02 gets a data-driven range
    clic = get_preset("clic-ecal")
    sf = np.random.default_rng(0).normal(0.02, 0.001, 1000)
    b = feature_binning(FeatureSpec("etot_over_einc", "etot_over_einc", "", ""), sf, clic, 0.0)
    assert b.source == "data-driven"
    assert b.edges[0] < 0.02 < b.edges[-1]
    assert b.edges[-1] < 0.03
    # a sharp response inside the challenge range (calogan: 0.9966 +- 0.0013) is binned on its own spread: a
    # generated sample 10x too sharp is told apart, where one 0.01-wide challenge bin would hold both whole
    calogan = get_preset("calogan")
    spec_c = FeatureSpec("etot_over_einc", "etot_over_einc", "", "")
    rng = np.random.default_rng(1)
    ref, sharp = rng.normal(0.9966, 0.0013, 5000), rng.normal(0.9966, 0.00013, 5000)
    b = feature_binning(spec_c, ref, calogan, 0.0)
    assert b.source == "data-driven"
    assert b.edges[-1] - b.edges[0] < 0.02
    assert separation_power_from_counts(histogram(ref, b), histogram(sharp, b)) > 0.5
    wide = feature_binning(spec_c, rng.normal(0.95, 0.05, 5000), calogan, 0.0)
    assert (wide.edges[0], wide.edges[-1], wide.source) == (0.5, 1.5, "CaloChallenge")


def test_energy_bins():
    discrete = 2.0 ** np.repeat(np.arange(8, 23), 10)  # CaloChallenge dataset 1
    bins = breakdown_energy_bins(discrete)
    assert len(bins) == 15
    assert bins[0].value == 256
    assert bins[0].label == "E = 256 MeV"
    assert sum(int(b.mask(discrete).sum()) for b in bins) == discrete.size
    log_uniform = np.exp(np.random.default_rng(0).uniform(np.log(1e3), np.log(1e6), 5000))
    decades = breakdown_energy_bins(log_uniform)
    assert [b.label for b in decades] == ["1 GeV – 10 GeV", "10 GeV – 100 GeV", "100 GeV – 1 TeV"]
    assert sum(int(b.mask(log_uniform).sum()) for b in decades) == log_uniform.size
    fine = response_energy_bins(log_uniform, n_bins=8)
    assert len(fine) == 8
    assert sum(int(b.mask(log_uniform).sum()) for b in fine) == log_uniform.size


def test_resolution_fit_recovers_known_terms():
    rng = np.random.default_rng(3)
    energies = np.repeat(np.array([2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5]), 20000)
    a, b = 0.12, 0.015
    sigma = np.sqrt(a**2 / (energies / 1e3) + b**2)
    e_tot = energies * (0.95 + 0.95 * sigma * rng.standard_normal(energies.size))
    points = response_curve(e_tot, energies, response_energy_bins(energies))
    assert len(points) == 7
    assert all(p.mean == pytest.approx(0.95, abs=0.01) for p in points)
    fit = fit_resolution(points)
    assert fit is not None
    assert fit.a == pytest.approx(a, rel=0.05)
    assert fit.b == pytest.approx(b, rel=0.15)
    assert fit.chi2 / fit.ndf < 5
    assert fit_resolution(points[:2]) is None


def test_bad_input(calogan_pair):
    a, b = calogan_pair
    other = toy_showers(get_preset("calochallenge-1-photons"), 100, np.random.default_rng(1))
    with pytest.raises(GeometryError, match="368 voxels"):
        evaluate(a, {"g": other}, config=FAST)
    with pytest.raises(DataFormatError, match="no showers"):
        evaluate(a, {"g": b[np.zeros(len(b), dtype=bool)]}, config=FAST)
    bad = b.showers[:100].copy()
    bad[3, 7] = np.nan
    nan_set = ShowerSet(energy=b.energy[:100], showers=bad, geometry=b.geometry)
    with pytest.raises(DataFormatError, match="NaN"):
        evaluate(a, {"g": nan_set}, config=FAST)
    with pytest.raises(DataFormatError, match="nothing to evaluate"):
        evaluate(a, {}, config=FAST)
    with pytest.raises(ConfigError, match="unknown samples"):
        evaluate(a, {"g": b}, config=FAST, timings={"h": Timing(1.0)})
    with pytest.raises(ConfigError, match="unknown classifier inputs"):
        EvaluationConfig(classifier_inputs=("voxels",))


def test_timing_parse(tmp_path):
    assert Timing.parse("2.5") == Timing(2.5)
    path = tmp_path / "t.json"
    path.write_text('{"ms_per_shower": 0.4, "device": "cuda", "batch_size": 10000}')
    assert Timing.parse(str(path)) == Timing(0.4, "cuda", 10000)
    path.write_text('{"ms": 0.4}')
    with pytest.raises(ConfigError, match="ms_per_shower"):
        Timing.parse(str(path))
    with pytest.raises(ConfigError, match="positive"):
        Timing.parse("-1")
    with pytest.raises(ConfigError, match="neither a number"):
        Timing.parse(str(tmp_path / "missing.json"))
