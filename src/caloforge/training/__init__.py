"""Training: the loop ``train(cfg, out)``, its typed config, checkpoints, EMA, logs, and DDP under torchrun.

>>> from caloforge.training import load_train_config
>>> cfg = load_train_config(overrides={"model": "wgan", "data": {"path": "train.h5"}, "epochs": 2})
>>> cfg.trainer["n_critic"]
5
"""

from __future__ import annotations

from caloforge.training.checkpoint import load_checkpoint, save_checkpoint
from caloforge.training.config import DataConfig, ScheduleConfig, TrainConfig, load_train_config
from caloforge.training.ema import EMA
from caloforge.training.loop import TrainingDiverged, TrainResult, evaluate, train
from caloforge.training.schedule import lr_factor

__all__ = [
    "EMA",
    "DataConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "load_checkpoint",
    "load_train_config",
    "lr_factor",
    "save_checkpoint",
    "train",
]
