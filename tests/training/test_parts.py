"""Small parts of the loop: schedules, EMA, checkpoints, the data split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.exceptions import ConfigError
from caloforge.training import EMA, DataConfig, ScheduleConfig, load_checkpoint, lr_factor, save_checkpoint
from caloforge.training.data import epoch_order, load_training_data
from tests.models.tiny import tiny_file


def test_schedules() -> None:
    assert lr_factor(ScheduleConfig(), 7, 100, 10) == 1.0
    cosine = ScheduleConfig(kind="cosine", min_factor=0.1)
    assert lr_factor(cosine, 0, 100, 10) == pytest.approx(1.0)
    assert lr_factor(cosine, 100, 100, 10) == pytest.approx(0.1)
    assert lr_factor(ScheduleConfig(kind="exponential", decay=0.5), 20, 100, 10) == pytest.approx(0.25)
    warm = ScheduleConfig(kind="cosine", warmup_steps=4)
    assert [lr_factor(warm, s, 100, 10) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_ema_averages_and_restores() -> None:
    module = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(0.0)
    ema = EMA(module, decay=0.5)
    with torch.no_grad():
        module.weight.fill_(1.0)
    ema.update(module)  # decay min(0.5, 2/11): shadow = 2/11·0 + 9/11·1
    target = torch.nn.Linear(2, 1, bias=False)
    ema.copy_to(target)
    torch.testing.assert_close(target.weight, torch.full((1, 2), 9 / 11))
    again = EMA(module, decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 1
    torch.testing.assert_close(again.shadow["weight"], ema.shadow["weight"])


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "c.pt", {"step": 3, "model": {"w": torch.ones(2)}, "rng": [torch.Generator().get_state()]}
    )
    state = load_checkpoint(path)
    assert state["step"] == 3
    assert torch.equal(state["model"]["w"], torch.ones(2))
    assert not (tmp_path / "c.pt.partial").exists()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"bad\.pt: cannot read the checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a caloforge training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_split_and_order_depend_on_the_seed_only(tmp_path: Path) -> None:
    data = tiny_file(tmp_path / "d.h5", n=40)
    cfg = DataConfig(path=str(data), val_fraction=0.25, val_max=6)
    train_a, val_a = load_training_data(cfg, seed=1)
    train_b, val_b = load_training_data(cfg, seed=1)
    assert len(train_a) == 30
    assert len(val_a) == 6
    np.testing.assert_array_equal(train_a.energy, train_b.energy)
    np.testing.assert_array_equal(val_a.energy, val_b.energy)
    assert not set(train_a.energy) & set(val_a.energy)
    assert not np.array_equal(load_training_data(cfg, seed=2)[1].energy, val_a.energy)
    np.testing.assert_array_equal(epoch_order(30, 1, 4), epoch_order(30, 1, 4))
    assert not np.array_equal(epoch_order(30, 1, 4), epoch_order(30, 1, 5))
    with pytest.raises(ConfigError, match="too few to hold out"):
        load_training_data(DataConfig(path=str(data), val_fraction=0.01), seed=1)
