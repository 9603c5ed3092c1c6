"""``caloforge generate`` and ``caloforge models`` through the CLI, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.inference import EnergySpectrum, FastSim, generate_to_file
from caloforge.io import read, read_metadata
from caloforge.models import MODEL_PATH_ENV, build_model, save_model
from tests.models.tiny import FAMILIES, TINY, tiny_showers

runner = CliRunner()


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    data = tiny_showers(40)
    return save_model(
        build_model("calogan", data.geometry, data=data, config=TINY["calogan"][0], seed=0), tmp_path / "m"
    )


def _generate(model: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "generate",
            "--model",
            str(model),
            "--n",
            "25",
            "--energy",
            "2:90",
            "--seed",
            "7",
            "-o",
            str(out),
            "--batch-size",
            "10",
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_generate_writes_a_native_file(model_dir: Path, tmp_path: Path) -> None:
    code, output = _generate(model_dir, tmp_path / "gen.h5", "--spectrum", "log", "--particle", "positron")
    assert code == 0, output
    assert "wrote 25 showers" in output
    s = read(tmp_path / "gen.h5")
    assert len(s) == 25
    assert s.geometry.name == "tiny"
    assert s.energy.min() >= 2e3
    assert s.energy.max() <= 9e4
    assert s.particle is not None
    assert (s.particle == -11).all()
    meta = read_metadata(tmp_path / "gen.h5")
    assert meta["seed"] == 7
    assert meta["energy"]["kind"] == "log"
    assert meta["batch_size"] == 10
    # the same command gives the same file
    assert _generate(model_dir, tmp_path / "again.h5", "--spectrum", "log", "--quiet")[0] == 0
    np.testing.assert_array_equal(read(tmp_path / "again.h5").showers, s.showers)
    code, _ = _generate(model_dir, tmp_path / "other.h5", "--seed", "8")
    assert code == 0
    assert not np.array_equal(read(tmp_path / "other.h5").showers, s.showers)


def test_generate_matches_fastsim_and_resumes(model_dir: Path, tmp_path: Path) -> None:
    sim = FastSim.load(model_dir)
    spec = EnergySpectrum.parse("2:90")
    whole = generate_to_file(sim, tmp_path / "whole.h5", 25, spec, seed=3, batch_size=10)
    reference = read(whole)
    np.testing.assert_array_equal(sim.sample(reference.energy, seed=3, batch_size=10).showers, reference.showers)

    written = {"n": 0}

    def interrupt(k: int) -> None:
        written["n"] += k
        if written["n"] >= 10:
            raise KeyboardInterrupt

    out = tmp_path / "cut.h5"
    with pytest.raises(KeyboardInterrupt):
        generate_to_file(sim, out, 25, spec, seed=3, batch_size=10, progress=interrupt)
    assert not out.exists()
    assert (tmp_path / "cut.h5.partial").exists()
    with h5py.File(tmp_path / "cut.h5.partial") as f:
        assert f["showers"].shape[0] == 10
    generate_to_file(sim, out, 25, spec, seed=3, batch_size=10, resume=True)
    np.testing.assert_array_equal(read(out).showers, reference.showers)
    np.testing.assert_array_equal(read(out).energy, reference.energy)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--energy", "abc"], "error: --energy: 'abc' is not an energy"),
        (["--energy", "50:10"], "LOW < HIGH"),
        (["--spectrum", "flat"], "--spectrum must be uniform or log"),
        (["--particle", "gamma"], "trained on e+, not gamma"),
        (["--n", "0"], "--n must be a positive number"),
        (["--theta", "10"], "takes no theta"),
        (["--steps", "2"], "not sampled by an ODE solver"),
        (["--time-shift", "2"], "not sampled by an ODE solver"),
    ],
)
def test_generate_bad_input(model_dir: Path, tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--energy": "10", "--n": "5", "--spectrum": "uniform"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    flat = [x for kv in base.items() for x in kv]
    result = runner.invoke(app, ["generate", "--model", str(model_dir), "-o", str(tmp_path / "g.h5"), *flat])
    assert result.exit_code == 1
    assert message in result.output
    assert not list(tmp_path.glob("g.h5*"))


def test_generate_with_other_solver_settings(model_dir: Path, tmp_path: Path) -> None:
    data = tiny_showers(40)
    model = build_model("flowmatch", data.geometry, data=data, config=TINY["flowmatch"][0], seed=0)
    path = save_model(model, tmp_path / "fm")
    code, output = _generate(path, tmp_path / "gen.h5", "--steps", "3", "--solver", "midpoint", "--time-shift", "2")
    assert code == 0, output
    got = read(tmp_path / "gen.h5")
    sim = FastSim.load(path, steps=3, solver="midpoint", time_shift=2.0)
    np.testing.assert_array_equal(sim.sample(got.energy, seed=7, batch_size=10).showers, got.showers)
    sampling = read_metadata(tmp_path / "gen.h5")["sampling"]  # the file says how it was sampled
    assert (sampling["solver"], sampling["steps"], sampling["time_shift"]) == ("midpoint", 3, 2.0)
    assert _generate(model_dir, tmp_path / "gan.h5")[0] == 0
    assert "sampling" not in read_metadata(tmp_path / "gan.h5")
    assert _generate(path, tmp_path / "bad.h5", "--time-shift", "0")[0] == 1
    assert not list(tmp_path.glob("bad.h5*"))


def test_generate_outside_the_training_range_warns_or_refuses(model_dir: Path, tmp_path: Path) -> None:
    args = ["generate", "--model", str(model_dir), "--n", "3", "--energy", "500", "-q"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "warn.h5")])
    assert result.exit_code == 0, result.output
    assert "warning: requested energies 500–500 GeV lie outside the model's training range" in result.output
    assert len(read(tmp_path / "warn.h5")) == 3
    quiet = runner.invoke(app, [*args, "--allow-extrapolation", "-o", str(tmp_path / "quiet.h5")])
    assert quiet.exit_code == 0
    assert "warning" not in quiet.output
    strict = runner.invoke(app, [*args, "--strict", "-o", str(tmp_path / "strict.h5")])
    assert strict.exit_code == 1
    assert "error: requested energies 500–500 GeV lie outside" in strict.output
    assert "(--strict)" in strict.output
    assert not list(tmp_path.glob("strict.h5*"))
    both = runner.invoke(app, [*args, "--strict", "--allow-extrapolation", "-o", str(tmp_path / "both.h5")])
    assert both.exit_code == 1
    assert "contradict" in both.output


def test_generate_unknown_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    result = runner.invoke(
        app, ["generate", "--model", "calogan-muon", "--n", "5", "--energy", "10", "-o", str(tmp_path / "g.h5")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown model 'calogan-muon'")


def test_models_listing_show_and_package(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    (tmp_path / "metrics.json").write_text(json.dumps({"auc_low_level": 0.8}))
    (tmp_path / "card.json").write_text(json.dumps({"summary": "tiny test model", "date": "2026-01-01"}))
    result = runner.invoke(
        app,
        [
            "models",
            "package",
            str(model_dir),
            "--name",
            "tiny-eplus",
            "--dest",
            str(store),
            "--metrics",
            str(tmp_path / "metrics.json"),
            "--card",
            str(tmp_path / "card.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv(MODEL_PATH_ENV, str(store))
    listing = json.loads(runner.invoke(app, ["models", "--json"]).output)
    assert {f["name"] for f in listing["families"]} == set(FAMILIES)
    (entry,) = [m for m in listing["pretrained"] if m["name"] == "tiny-eplus"]
    assert entry["family"] == "calogan"
    assert entry["geometry"] == "tiny"
    assert entry["particles"] == ["e+"]
    assert entry["metrics"] == {"auc_low_level": 0.8}
    assert entry["summary"] == "tiny test model"
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0
    assert "tiny-eplus" in table.output
    assert "calogan" in table.output
    shown = json.loads(runner.invoke(app, ["models", "show", "tiny-eplus"]).output)
    assert shown["family"] == "calogan"
    assert shown["card"]["name"] == "tiny-eplus"
    code, output = _generate(Path("tiny-eplus"), tmp_path / "byname.h5")
    assert code == 0, output
    bad = runner.invoke(app, ["models", "show", "nope"])
    assert bad.exit_code == 1
    assert "error: unknown model 'nope'" in bad.output


def test_package_reads_an_evaluation_report(model_dir: Path, tmp_path: Path) -> None:
    from caloforge.validation.evaluation import EvaluationConfig, evaluate

    report = evaluate(
        tiny_showers(60, seed=1), {"gen": tiny_showers(60, seed=2)}, config=EvaluationConfig(classifier=False)
    )
    (tmp_path / "metrics.json").write_text(json.dumps(report.metrics()))
    store = tmp_path / "store"
    args = [
        "models",
        "package",
        str(model_dir),
        "--name",
        "tiny",
        "--dest",
        str(store),
        "--metrics",
        str(tmp_path / "metrics.json"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    card = json.loads((store / "tiny" / "card.json").read_text())
    assert card["metrics"]["separation_power_mean"] == pytest.approx(
        report.metrics()["samples"]["gen"]["summary"]["separation_power_mean"]
    )
    assert card["metrics"]["reference"]["n_showers"] == 60
    bad = runner.invoke(
        app, [*args[:-2], "--metrics", str(tmp_path / "metrics.json"), "--label", "other", "--overwrite"]
    )
    assert bad.exit_code == 1
    assert "no sample 'other'" in bad.output
