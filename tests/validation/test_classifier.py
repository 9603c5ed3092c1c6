"""The classifier two-sample test: blind to a second sample of the same physics, sharp on a different one."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from caloforge.exceptions import ConfigError, MissingExtraError
from caloforge.validation.classifier import (
    CLASSIFIER_PRESETS,
    ClassifierConfig,
    classifier_inputs,
    classifier_preset,
    classifier_test,
)
from caloforge.validation.observables import shower_features
from caloforge.validation.toy import toy_showers

from .conftest import scaled

# small network, more steps per epoch than the default batch of 1000 would give on a few thousand showers
SMALL = ClassifierConfig(
    hidden_layers=2, hidden_units=64, learning_rate=1e-3, batch_size=256, max_epochs=4, patience=None
)


def _inputs(kind, *samples):
    out = []
    for s in samples:
        f = shower_features(s.showers, s.energy, s.geometry)
        out.append(classifier_inputs(kind, s.showers, f))
    return out


@pytest.mark.slow
def test_same_distribution_gives_auc_near_one_half(calogan):
    rng = np.random.default_rng(11)
    a, b = toy_showers(calogan, 8000, rng), toy_showers(calogan, 8000, rng)
    x_a, x_b = _inputs("high", a, b)
    result = classifier_test(x_a, x_b, config=SMALL, seed=0, inputs="high")
    assert abs(result.auc - 0.5) < 0.03
    assert abs(result.jsd) < 0.03
    assert result.n_per_class == {"train": 4800, "test": 1600, "val": 1600}
    assert 1 <= result.best_epoch <= result.epochs_run == 4
    assert len(result.val_probability) == 3200
    assert np.all((result.val_probability > 0) & (result.val_probability < 1))


def test_electrons_and_pions_are_told_apart_reproducibly(calogan_pair):
    a, _ = calogan_pair
    pions = toy_showers(a.geometry, 2000, np.random.default_rng(12), particle="pi+")
    x_e, x_pi = _inputs("low", a[:2000], pions)
    first = classifier_test(x_e, x_pi, config=SMALL.with_changes(max_epochs=3), seed=5, inputs="low")
    assert first.auc > 0.95
    assert first.jsd > 0.5
    again = classifier_test(x_e, x_pi, config=SMALL.with_changes(max_epochs=3), seed=5, inputs="low")
    assert again.auc == first.auc
    assert again.jsd == first.jsd
    np.testing.assert_array_equal(again.val_raw, first.val_raw)


@pytest.mark.slow
def test_a_five_percent_energy_scale_is_detected(calogan_pair):
    a, b = calogan_pair
    x_ref, x_gen = _inputs("low", a, scaled(b, 1.05))
    result = classifier_test(x_ref, x_gen, config=SMALL.with_changes(max_epochs=6), seed=1, inputs="low")
    assert result.auc > 0.65


def test_input_kinds(calogan_pair):
    a, _ = calogan_pair
    s = a[:10]
    f = shower_features(s.showers, s.energy, s.geometry)
    low = classifier_inputs("low", s.showers, f)
    normed = classifier_inputs("low_normed", s.showers, f)
    high = classifier_inputs("high", s.showers, f)
    assert low.shape == (10, 1 + 504)
    assert normed.shape == (10, 1 + 504 + 3)
    assert high.shape[0] == 10
    np.testing.assert_allclose(low[:, 0], np.log10(s.energy), rtol=1e-6)
    np.testing.assert_allclose(low[:, 1:].sum(axis=1), 100 * s.showers.sum(axis=1) / s.energy, rtol=1e-4)
    # voxel / E_layer sums to 1 in every layer with energy
    layer0 = normed[:, 1 : 1 + 288].sum(axis=1)
    np.testing.assert_allclose(layer0[f.e_layer[:, 0] > 0], 1.0, rtol=1e-4)
    with pytest.raises(ConfigError, match="unknown classifier inputs"):
        classifier_inputs("pixels", s.showers, f)


def test_presets_and_bad_settings():
    assert classifier_preset("calochallenge").hidden_units == 2048
    assert classifier_preset("calochallenge").max_epochs == 50
    assert classifier_preset("calochallenge").patience is None
    assert set(CLASSIFIER_PRESETS) == {"default", "calochallenge", "quick"}
    with pytest.raises(ConfigError, match="unknown classifier preset"):
        classifier_preset("huge")
    with pytest.raises(ConfigError, match="split"):
        ClassifierConfig(split=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match="at least 50"):
        classifier_test(np.zeros((20, 3)), np.zeros((20, 3)), config=SMALL)
    with pytest.raises(ConfigError, match="NaN"):
        classifier_test(np.full((100, 3), np.nan), np.zeros((100, 3)), config=SMALL)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.isotonic", None)
    with pytest.raises(MissingExtraError, match=r"caloforge\[validation\]"):
        classifier_test(np.zeros((100, 3)), np.ones((100, 3)), config=SMALL)
