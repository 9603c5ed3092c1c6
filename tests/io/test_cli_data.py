"""``caloforge info`` and ``caloforge convert`` through the CLI, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.geometry import get_preset
from caloforge.io import ShowerSet, detect_format, read, write
from tests.conftest import toy_showers

runner = CliRunner()

# (geometry, formats that hold it): every pair of these formats is a conversion to test
GROUPS = {
    "clic-ecal": ["native", "calogan", "3dgan"],
    "calogan": ["native", "calogan"],
    "calochallenge-2": ["native", "par04"],
}
PAIRS = [(g, a, b) for g, fmts in GROUPS.items() for a in fmts for b in fmts if a != b]


def _showers(name: str, n: int = 9) -> ShowerSet:
    rng = np.random.default_rng(11)
    s = toy_showers(get_preset(name), n, rng, particle="gamma")
    return ShowerSet.from_arrays(s.energy, s.showers, s.geometry, particle=s.particle, theta=np.full(n, 0.2))


@pytest.mark.parametrize(("name", "source", "target"), PAIRS)
def test_convert_every_pair(tmp_path: Path, name: str, source: str, target: str) -> None:
    s = _showers(name)
    src = tmp_path / f"in.{source}.h5"
    write(src, s, format=source)
    out = tmp_path / f"out.{target}.h5"
    result = runner.invoke(app, ["convert", str(src), str(out), "--to", target, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert f"wrote 9 showers to {out} ({target})" in result.stdout
    assert detect_format(out) == target
    back = read(out)
    expected = s[np.argsort(s.energy, kind="stable")] if "par04" in (source, target) else s
    assert back.geometry == s.geometry
    np.testing.assert_allclose(back.energy, expected.energy, rtol=1e-12)
    np.testing.assert_allclose(back.showers, expected.showers, rtol=1e-5)
    assert back.particles() == ["gamma"]
    if "calogan" not in (source, target):
        np.testing.assert_allclose(back.theta, 0.2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])


def test_convert_notes_what_the_target_cannot_hold(tmp_path: Path) -> None:
    g = get_preset("calochallenge-2")
    s = toy_showers(g, 3, np.random.default_rng(0))
    s = ShowerSet.from_arrays(s.energy, s.showers, g, phi=np.zeros(3))
    src = tmp_path / "in.h5"
    write(src, s)
    result = runner.invoke(app, ["convert", str(src), str(tmp_path / "out.h5"), "--to", "par04"])
    assert result.exit_code == 0
    assert "par04 does not store: phi" in result.stdout


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("native", "calochallenge-1-pions"), ("calogan", "calogan"), ("3dgan", "clic-ecal"), ("par04", "calochallenge-3")],
)
def test_info(tmp_path: Path, fmt: str, name: str) -> None:
    s = _showers(name, 5)
    s = ShowerSet.from_arrays(
        s.energy, s.showers * np.linspace(0.5, 1.0, 5, dtype=np.float32)[:, None], s.geometry, particle=s.particle
    )
    path = tmp_path / "showers.h5"
    write(path, s, format=fmt)
    result = runner.invoke(app, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == fmt
    assert info["geometry"] == name
    assert info["n_showers"] == 5
    assert info["n_voxels"] == get_preset(name).n_voxels
    assert info["energy_min_MeV"] == pytest.approx(s.energy.min())
    assert info["energy_max_MeV"] == pytest.approx(s.energy.max())
    assert info["particles"] == {"gamma": 5}
    ratio = s.total_energy() / s.energy
    assert info["mean_Etot_over_Einc"] == pytest.approx(ratio.mean(), rel=1e-5)
    assert info["std_Etot_over_Einc"] == pytest.approx(ratio.std(), rel=1e-4)
    assert info["std_Etot_over_Einc"] > 0.1
    assert sum(info["layer_fractions"]) == pytest.approx(1.0, abs=1e-4)
    table = runner.invoke(app, ["info", str(path)])
    assert table.exit_code == 0
    for word in (fmt, name, "n_showers", "mean_Etot_over_Einc"):
        assert word in table.stdout


def test_info_statistics_are_exact_across_batches(tmp_path: Path) -> None:
    # energy sums equal to E up to float32 rounding: the spread (~1e-9) must survive batch-wise accumulation
    from caloforge.io.info import file_info

    s = toy_showers(get_preset("calogan"), 50, np.random.default_rng(0))
    path = tmp_path / "tight.h5"
    write(path, s)
    ratio = s.total_energy() / s.energy
    info = file_info(path, batch_size=7)
    assert info["mean_Etot_over_Einc"] == pytest.approx(ratio.mean(), rel=1e-12)
    assert info["std_Etot_over_Einc"] == pytest.approx(ratio.std(), rel=1e-6)
