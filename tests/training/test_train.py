"""The training loop: run folder, exact resume, determinism, divergence stop, best model, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.exceptions import ConfigError
from caloforge.inference import FastSim
from caloforge.models import load_model
from caloforge.training import TrainingDiverged, load_checkpoint, load_train_config, train
from tests.models.tiny import FAMILIES, tiny_file, tiny_train_config

runner = CliRunner()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    # 48 showers: 36 to train on, i.e. 4 CaloGAN steps or 2 WGAN steps (5 batches... n_critic=2) per epoch
    return tiny_file(tmp_path / "train.h5", n=48)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _same_state(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_same_state(x, y) for x, y in zip(a, b, strict=True))
        )
    return a == b


@pytest.mark.parametrize("family", FAMILIES)
def test_resume_is_exact(family: str, data: Path, tmp_path: Path) -> None:
    extra = {"schedule": {"kind": "cosine", "warmup_steps": 2}, "grad_clip": 5.0, "epochs": 10}
    full = load_train_config(overrides=tiny_train_config(family, data, max_steps=6, **extra))
    part = load_train_config(overrides=tiny_train_config(family, data, max_steps=3, **extra))
    a = train(full, tmp_path / "a")
    b1 = train(part, tmp_path / "b")
    assert b1.step == 3
    b = train(full, tmp_path / "b", resume=True)
    assert a.step == b.step == 6
    ca, cb = load_checkpoint(tmp_path / "a" / "checkpoint.pt"), load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for key in ("model", "ema", "trainer", "rng", "step", "best_metric", "best_step"):
        assert _same_state(ca[key], cb[key]), key
    la, lb = load_model(tmp_path / "a" / "last"), load_model(tmp_path / "b" / "last")
    for key, value in la.state_dict().items():
        assert torch.equal(value, lb.state_dict()[key]), key
    # the logs of the resumed run read as those of the uninterrupted one
    assert [r["step"] for r in _rows(tmp_path / "a" / "log.csv")] == [
        r["step"] for r in _rows(tmp_path / "b" / "log.csv")
    ]
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in _rows(tmp_path / "a" / "log.csv")]
    assert strip == [{k: v for k, v in r.items() if k != "time_s"} for r in _rows(tmp_path / "b" / "log.csv")]


def test_run_folder_and_best_model(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(load_train_config(overrides=tiny_train_config("wgan", data)), out, command="caloforge train ...")
    assert sorted(p.name for p in out.iterdir()) == [
        "best",
        "checkpoint.pt",
        "config.json",
        "last",
        "log.csv",
        "metrics.csv",
    ]
    assert result.step == 4
    assert result.epoch == 2
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "wgan"
    assert saved["trainer"]["gp_weight"] == 10.0
    metrics = _rows(out / "metrics.csv")
    assert [m["step"] for m in metrics] == ["2", "4"]
    assert float(min(metrics, key=lambda m: float(m["sep_mean"]))["sep_mean"]) == pytest.approx(
        result.best_metric, rel=1e-5
    )
    card = json.loads((out / "best" / "card.json").read_text())
    assert card["training"]["n_showers"] == 36
    assert card["training"]["command"] == "caloforge train ..."
    assert card["training"]["step"] == result.best_step
    assert set(card["validation"]["metrics"]) >= {"sep_mean", "sep_etot_over_einc", "sep_e_layer_0"}
    assert FastSim.load(out).path == out / "best"
    assert not list(out.rglob("*.partial"))


def test_seed_decides_the_run(data: Path, tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        train(load_train_config(overrides=tiny_train_config("wgan", data, seed=seed, max_steps=1)), tmp_path / name)
        return load_model(tmp_path / name / "last").state_dict()

    a, b, c = weights(1, "a"), weights(1, "b"), weights(2, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_divergence_stops_with_a_clear_message(data: Path, tmp_path: Path) -> None:
    cfg = load_train_config(overrides=tiny_train_config("wgan", data, divergence_threshold=1e-12))
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1 \(epoch 0\): \w+ = .*lower the learning rates"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_nan_loss_stops_the_run_and_keeps_the_checkpoint(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from caloforge.models.wgan import WGANTrainer

    original = WGANTrainer.training_step
    calls = {"n": 0}

    def poisoned(self: WGANTrainer, batches: list) -> dict[str, float]:  # type: ignore[type-arg]
        losses = original(self, batches)
        calls["n"] += 1
        return {**losses, "loss_g": float("nan")} if calls["n"] == 3 else losses

    monkeypatch.setattr(WGANTrainer, "training_step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"step 3 .*loss_g = nan"):
        train(load_train_config(overrides=tiny_train_config("wgan", data)), out)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2  # the end of epoch 1 is intact


def test_existing_run_needs_resume_and_matching_config(data: Path, tmp_path: Path) -> None:
    cfg = load_train_config(overrides=tiny_train_config("wgan", data, max_steps=1))
    train(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train(cfg, tmp_path / "run")
    other = load_train_config(overrides=tiny_train_config("wgan", data, max_steps=2, seed=9))
    with pytest.raises(ConfigError, match="cannot resume: seed differs"):
        train(other, tmp_path / "run", resume=True)
    with pytest.raises(ConfigError, match="holds no run"):
        train(cfg, tmp_path / "nothing", resume=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"trainer": {"lr_gg": 1.0}}, r"trainer\.lr_gg: unknown key; known: .*lr_g"),
        ({"model_config": {"hidden": "big"}}, r"model_config\.hidden: must be a list"),
        ({"data": {"path": "x.h5", "val_fraction": 1.5}}, r"data\.val_fraction: must be in \(0, 1\)"),
        ({"schedule": {"kind": "linear"}}, r"schedule\.kind: must be one of"),
        ({"batchsize": 3}, r"batchsize: unknown key"),
        ({"model": "vae"}, r"model: unknown model family 'vae'"),
        ({"ema_decay": 1.0}, r"ema_decay: must be in \[0, 1\)"),
        ({"device": "gpu"}, r"device: must be auto, cpu, cuda or cuda:N"),
    ],
)
def test_config_errors_name_the_key(override: dict[str, object], message: str, tmp_path: Path) -> None:
    base = tiny_train_config("wgan", tmp_path / "x.h5")
    with pytest.raises(ConfigError, match=message):
        load_train_config(overrides={**base, **override})


def test_bad_select_metric_fails_before_training(data: Path, tmp_path: Path) -> None:
    cfg = load_train_config(overrides=tiny_train_config("wgan", data, select_metric="auc"))
    with pytest.raises(ConfigError, match="select_metric: 'auc' is not a validation metric; choose one of sep_mean"):
        train(cfg, tmp_path / "run")


def test_cli_train_and_resume(data: Path, tmp_path: Path) -> None:
    import yaml

    cfg = tiny_train_config("calogan", data)
    cfg.pop("data")
    cfg.pop("model")
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(data),
        "--model",
        "calogan",
        "--config",
        str(tmp_path / "run.yaml"),
        "--out",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.output
    result = runner.invoke(app, ["train", "--out", str(out), "--resume", "--max-steps", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 3
    result = runner.invoke(app, [*args, "--max-steps", "2"])
    assert result.exit_code == 1
    assert "error: " in result.output
    assert "--resume" in result.output


def test_cli_errors(data: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("trainer:\n  lr_gg: 1\n")
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(data),
            "--model",
            "wgan",
            "--config",
            str(tmp_path / "bad.yaml"),
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: trainer.lr_gg: unknown key")
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "model: is required" in result.output


def test_missing_data_leaves_no_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path / "nope.h5"), "--model", "wgan", "--out", str(out), "--quiet"]
    )
    assert result.exit_code == 1
    assert "nope.h5" in result.output
    assert "does not exist" in result.output
    assert not out.exists()
