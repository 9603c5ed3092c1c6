"""quick_metrics: the training loop's physics proxy (signature and keys are a contract)."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import numpy as np
import pytest

from caloforge.exceptions import DataFormatError
from caloforge.geometry import get_preset
from caloforge.io import ShowerSet
from caloforge.validation.quick import quick_metrics
from caloforge.validation.toy import toy_showers

from .conftest import moved_layer, scaled


def test_signature_and_keys(calogan_pair):
    sig = inspect.signature(quick_metrics)
    assert list(sig.parameters) == ["reference", "generated"]
    a, b = calogan_pair
    q = quick_metrics(a, b)
    expected = {"sep_etot_over_einc", "sep_mean"}
    expected |= {f"sep_e_layer_{i}" for i in range(3)}
    expected |= {f"sep_width_{ax}_layer_{i}" for ax in "xy" for i in range(3)}
    assert set(q) == expected
    assert all(isinstance(v, float) for v in q.values())
    others = [v for k, v in q.items() if k != "sep_mean"]
    assert q["sep_mean"] == pytest.approx(float(np.mean(others)))


def test_same_distribution_is_near_zero_and_distortions_are_seen(calogan_pair):
    a, b = calogan_pair
    null = quick_metrics(a, b)
    assert max(null.values()) < 0.04
    assert null["sep_mean"] < 0.015
    miscalibrated = quick_metrics(a, scaled(b, 1.05))
    assert miscalibrated["sep_etot_over_einc"] > 0.2
    assert max(miscalibrated, key=lambda k: miscalibrated[k]) == "sep_etot_over_einc"
    pions = quick_metrics(a, toy_showers(a.geometry, 4000, np.random.default_rng(3), particle="pi+"))
    assert pions["sep_mean"] > 10 * null["sep_mean"]


def test_cylindrical_geometry_uses_radial_widths():
    g = get_preset("calochallenge-1-photons")
    rng = np.random.default_rng(4)
    a, b = toy_showers(g, 3000, rng), toy_showers(g, 3000, rng)
    q = quick_metrics(a, b)
    assert {f"sep_width_r_layer_{i}" for i in range(5)} <= set(q)
    assert not any(k.startswith(("sep_width_x", "sep_width_y")) for k in q)
    assert q["sep_mean"] < 0.02
    wide = quick_metrics(a, moved_layer(b, source=2, target=1, fraction=0.5))
    assert max(wide["sep_e_layer_1"], wide["sep_e_layer_2"]) > 2 * max(q["sep_e_layer_1"], q["sep_e_layer_2"])


def test_bad_input(calogan_pair):
    a, _ = calogan_pair
    other = toy_showers(get_preset("calochallenge-1-photons"), 10, np.random.default_rng(0))
    with pytest.raises(DataFormatError, match="different readouts"):
        quick_metrics(a, other)
    with pytest.raises(DataFormatError, match="empty"):
        quick_metrics(a, a[np.zeros(len(a), dtype=bool)])
    one = ShowerSet.from_arrays([1000.0], np.zeros((1, 504)), a.geometry)
    assert math.isfinite(quick_metrics(a, one)["sep_mean"])


def test_importing_the_low_layer_pulls_no_heavy_dependency():
    code = (
        "import sys; import caloforge.validation.quick, caloforge.validation.metrics, caloforge.validation; "
        "heavy = [m for m in ('torch', 'sklearn', 'matplotlib', 'mplhep') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
