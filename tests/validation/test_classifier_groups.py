"""scripts/classifier_groups.py: the high-level classifier on groups of its inputs."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from caloforge import io
from caloforge.geometry import get_preset
from caloforge.validation.observables import high_level_vector, shower_features
from tests.conftest import toy_showers

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "classifier_groups.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("classifier_groups", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_column_names_follow_the_high_level_vector() -> None:
    script = _script()
    showers = toy_showers(get_preset("calogan"), 20, np.random.default_rng(0))
    features = shower_features(showers.showers, showers.energy, showers.geometry)
    names = script.column_names(features)
    vector = high_level_vector(features)
    assert len(names) == vector.shape[1] == len(set(names))
    # spot checks against the features themselves
    np.testing.assert_allclose(vector[:, names.index("ec_y_layer_1")], features.ec_y[:, 1] / 100.0)
    np.testing.assert_allclose(vector[:, names.index("width_r_layer_2")], features.width_r[:, 2] / 100.0)
    np.testing.assert_allclose(vector[:, names.index("sparsity_layer_0")], features.sparsity[:, 0])
    groups = script.default_groups(names, 3)
    assert groups["centres"] == [n for n in names if n.startswith("ec_")]
    assert all("log_e_inc" not in columns for columns in groups.values())


def test_a_group_that_differs_is_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    rng = np.random.default_rng(1)
    ref = toy_showers(get_preset("calogan"), 400, rng)
    gen = toy_showers(get_preset("calogan"), 400, rng)
    # the generated layer 2 is empty: its energy goes to layer 1, so only the layer-2 group (and energies) differ
    showers = gen.showers.copy()
    a, b = 288 + 144, 504
    showers[:, a - 1] += showers[:, a:b].sum(axis=1)
    showers[:, a:b] = 0.0
    io.write(tmp_path / "ref.h5", ref)
    io.write(tmp_path / "gen.h5", replace(gen, showers=showers))
    group = "l2=sparsity_layer_2"
    code = script.main([str(tmp_path / "ref.h5"), str(tmp_path / "gen.h5"), "--repeats", "1", "--only-custom",
                        "--group", group, "--group", "e0=log_e_layer_0"])  # fmt: skip
    assert code == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert float(rows["l2"][1]) > 0.95  # an empty layer 2 is told apart by its sparsity alone
    assert float(rows["e0"][1]) < 0.7  # layer 0 is untouched
    assert script.main([str(tmp_path / "ref.h5"), str(tmp_path / "gen.h5"), "--group", "x=nope"]) == 2
