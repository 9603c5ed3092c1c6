"""``caloforge export`` and ``caloforge benchmark`` in-process; the benchmark library on a tiny model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.exceptions import ModelError
from caloforge.inference import FastSim
from caloforge.inference.benchmark import ModelEntry, models_to_benchmark, run_benchmark
from caloforge.inference.export import read_onnx
from caloforge.io import read, read_metadata
from caloforge.models import MODEL_PATH_ENV
from tests.inference.conftest import Exported, onnx_group

runner = CliRunner()


@onnx_group("wgan")
def test_export_int8_then_generate_from_the_file(exports: Callable[[str], Exported], tmp_path: Path) -> None:
    folder = exports("wgan").folder
    out = tmp_path / "int8.onnx"
    result = runner.invoke(
        app, ["export", str(folder), "-o", str(out), "--precision", "int8", "--fidelity-showers", "300"]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert "fidelity of int8 vs fp32 on 300 showers" in result.output
    assert "agrees with PyTorch within" in result.output
    info = read_onnx(out)
    assert info.precision == "int8"
    fidelity = json.loads(info.meta["caloforge.fidelity"])
    assert fidelity["n_showers"] == 300
    assert 0 < fidelity["sep_max"] < 1
    assert any(n.op_type in ("DynamicQuantizeLinear", "MatMulInteger") for n in onnx.load(str(out)).graph.node)
    gen = tmp_path / "gen.h5"
    args = ["generate", "--model", str(out), "--n", "12", "--energy", "10:50", "--batch-size", "5", "--seed", "3"]
    result = runner.invoke(app, [*args, "-o", str(gen), "-q"])
    assert result.exit_code == 0, result.output
    assert "onnx int8" in result.output
    meta = read_metadata(gen)
    assert (meta["backend"], meta["precision"], meta["family"]) == ("onnx", "int8", "wgan")
    again = tmp_path / "again.h5"
    assert runner.invoke(app, [*args, "-o", str(again), "-q", "--threads", "1"]).exit_code == 0
    np.testing.assert_array_equal(read(gen).showers, read(again).showers)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--par04"], "error: --par04: geometry 'tiny' is not a Par04 mesh"),
        (["--particle", "e+"], "error: --particle is for --par04 only"),
        (["--precision", "bf16"], "error: precision bf16 runs on the torch backend only"),
        (["--precision", "int4"], "error: unknown precision 'int4'"),
    ],
)
def test_export_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    from caloforge.models import build_model, save_model
    from tests.models.tiny import TINY, tiny_showers

    data = tiny_showers(30)
    folder = save_model(build_model("wgan", data.geometry, data=data, config=TINY["wgan"][0], seed=0), tmp_path / "m")
    result = runner.invoke(app, ["export", str(folder), "-o", str(tmp_path / "x.onnx"), *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not list(tmp_path.glob("x.onnx*"))


def test_export_and_benchmark_unknown_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    for verb in (["export", "calogan-muon", "-o", str(tmp_path / "x.onnx")], ["benchmark", "calogan-muon"]):
        result = runner.invoke(app, verb)
        assert result.exit_code == 1
        assert "error: unknown model 'calogan-muon'" in result.output


@onnx_group("wgan")
def test_benchmark_library(exports: Callable[[str], Exported]) -> None:
    ex = exports("wgan")
    entry = ModelEntry("tiny-wgan", ex.model, True, str(ex.folder), onnx=read_onnx(ex.onnx).proto)
    variants = [("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32"), ("onnx", "int8")]
    report = run_benchmark(
        [entry], batches=(1, 32), variants=variants, threads=1, energy=5_000.0, sim_showers=1, fidelity_showers=200
    )
    (sim,) = report.simulations
    assert (sim.geometry, sim.particle, sim.energy_MeV) == ("calogan", "e+", 5_000.0)  # "tiny" has no stack
    assert sim.ms_wall > 0
    assert sim.ms_cpu > 0
    (model,) = report.models
    assert model["n_parameters"] == ex.model.n_parameters
    rows = {(v["backend"], v["precision"]): v for v in model["variants"]}
    assert set(rows) == set(variants)
    for v in rows.values():
        assert not v["error"]
        assert set(v["ms_wall"]) == {1, 32}
        assert all(t > 0 for t in v["ms_wall"].values())
        assert v["speedup"][32] == pytest.approx(sim.ms_wall / v["ms_wall"][32])
        assert v["size_mb"] > 0
    assert rows["torch", "fp32"]["fidelity"] is None
    assert rows["onnx", "fp32"]["deviation"] <= 1.0
    assert rows["onnx", "int8"]["fidelity"]["n_showers"] == 200
    assert rows["torch", "bf16"]["fidelity"]["sep_max"] >= 0
    targets = {t["target"].split(" ")[0]: t for t in report.targets()}
    assert targets["int8"]["measured"] == pytest.approx(
        rows["onnx", "fp32"]["ms_wall"][32] / rows["onnx", "int8"]["ms_wall"][32]
    )
    assert targets["fastest"]["measured"] == max(s for v in rows.values() for s in v["speedup"].values())
    data = json.loads(report.to_json())
    assert data["models"][0]["label"] == "tiny-wgan"
    assert data["machine"]["load_before"] >= 0
    markdown = report.to_markdown()
    assert "| model | weights | backend | precision |" in markdown
    assert "load average" in markdown
    assert "Reference simulation" in markdown


def test_benchmark_cli_writes_json_and_markdown(tmp_path: Path) -> None:
    from caloforge.models import build_model, save_model
    from tests.models.tiny import TINY, tiny_showers

    data = tiny_showers(30)
    folder = save_model(build_model("wgan", data.geometry, data=data, config=TINY["wgan"][0], seed=0), tmp_path / "m")
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    args = ["benchmark", str(folder), "--backend", "torch", "--batch", "1,4", "--sim-showers", "0"]
    result = runner.invoke(
        app, [*args, "--fidelity-showers", "100", "--json", str(out_json), "--markdown", str(out_md)]
    )
    assert result.exit_code == 0, result.output
    assert "caloforge benchmark at 50 GeV" in result.output
    report = json.loads(out_json.read_text())
    assert [(v["backend"], v["precision"]) for v in report["models"][0]["variants"]] == [
        ("torch", "fp32"),
        ("torch", "bf16"),
    ]
    assert report["simulations"] == []
    assert "| " + str(folder) in out_md.read_text()
    for bad, message in (
        (["--batch", "0"], "--batch: batch sizes must be >= 1"),
        (["--backend", "torch", "--precision", "int8"], "leave nothing to run"),
        (["--backend", "tensorrt"], "--backend: unknown tensorrt"),
        (["--energy", "-5"], "--energy must be a positive number"),
    ):
        result = runner.invoke(app, ["benchmark", str(folder), *bad])
        assert result.exit_code == 1
        assert message in result.output


def test_benchmark_without_models_times_random_families(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import caloforge.models.registry as registry

    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    monkeypatch.setattr(registry, "package_model_dir", lambda: tmp_path / "none shipped")
    entries, notes = models_to_benchmark(families=["wgan", "calogan"], geometry="calochallenge-2")
    assert [e.label for e in entries] == ["wgan (default size)"]
    assert not entries[0].trained
    assert entries[0].model.geometry.name == "calochallenge-2"
    assert any("calogan skipped" in n for n in notes)
    assert any("random weights" in n for n in notes)
    with pytest.raises(ModelError, match="unknown model"):
        models_to_benchmark(["no-such-model"])
    assert FastSim(entries[0].model).latent_dim == 50


def test_int8_target_line_judges_the_separation_growth_too() -> None:
    from caloforge.inference.benchmark import SEPARATION_GROWTH_TARGET, _growth_text

    line = _growth_text({"worst_separation_growth": 0.0028, "separation_met": True})
    assert line == f", worst separation power growth vs the reference 0.0028 (<= {SEPARATION_GROWTH_TARGET}: met)"
    assert _growth_text({"worst_separation_growth": 0.0054, "separation_met": False}).endswith("not met)")
    assert _growth_text({"worst_separation_growth": None, "separation_met": None}) == ""  # no reference given
