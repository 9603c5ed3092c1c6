"""Tiny model configurations and a small Cartesian readout, shared by the models/training/inference tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from caloforge.geometry import CartesianGrid, Geometry, ReadoutLayer
from caloforge.io import ShowerSet, write
from caloforge.models import family_names
from tests.conftest import toy_showers

#: per family: (model_config, trainer) small enough for a training step in milliseconds
TINY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "calogan": (
        {"latent_dim": 6, "dense_channels": 2, "conv_channels": 3, "lc_channels": 2},
        {"disc_conv_channels": 3, "disc_lc_channels": [3, 2, 2], "mbd_kernels": 3, "mbd_dim": 2},
    ),
    "flowmatch": (
        # one Euler step: the smallest graph (the ONNX tests export it); test_flowmatch.py covers the solvers
        {
            "energy_hidden": [16],
            "d_model": 8,
            "n_heads": 2,
            "mlp_hidden": 8,
            "cond_hidden": 8,
            "solver": "euler",
            "steps": 1,
        },
        {},
    ),
    "wgan": (
        {"latent_dim": 6, "hidden": [16, 24]},
        {"critic_hidden": [24, 12], "energy_critic_hidden": [8], "n_critic": 2},
    ),
}
FAMILIES = family_names()
assert set(TINY) == set(FAMILIES), "every family needs a tiny configuration here"


def tiny_geometry() -> Geometry:
    """Three Cartesian layers of 2 × 8, 4 × 4 and 4 × 2 cells over the same 80 × 80 mm window (40 voxels)."""
    return Geometry(
        name="tiny",
        layers=(
            ReadoutLayer(CartesianGrid(2, 8, 40.0, 10.0), 0.0, 10.0, 0),
            ReadoutLayer(CartesianGrid(4, 4, 20.0, 20.0), 10.0, 30.0, 1),
            ReadoutLayer(CartesianGrid(4, 2, 20.0, 40.0), 30.0, 40.0, 2),
        ),
    )


def tiny_showers(n: int, seed: int = 0, particle: str = "e+", geometry: Geometry | None = None) -> ShowerSet:
    return toy_showers(geometry or tiny_geometry(), n, np.random.default_rng(seed), particle=particle)


def tiny_file(path: Path, n: int = 96, seed: int = 0) -> Path:
    write(path, tiny_showers(n, seed))
    return path


def tiny_train_config(family: str, data: Path, **overrides: Any) -> dict[str, Any]:
    """A plain training-config dict: tiny model, batch 8, 2 epochs, 1 thread, no TensorBoard."""
    model_config, trainer = TINY[family]
    cfg: dict[str, Any] = {
        "model": family,
        "model_config": model_config,
        "trainer": trainer,
        "data": {"path": str(data), "val_fraction": 0.25},
        "batch_size": 8,
        "epochs": 2,
        "seed": 3,
        "threads": 1,
        "device": "cpu",
        "log_every": 1,
        "checkpoint_every": 2,
        "tensorboard": False,
    }
    cfg.update(overrides)
    return cfg
