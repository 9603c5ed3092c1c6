"""The training sample: read once, split into training and held-out showers, served as batches.

The split and the order of every epoch are functions of the run's seed (and the epoch), so a resumed run
sees exactly the batches an uninterrupted one would. Under DDP each process takes its slice of every batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from caloforge.exceptions import ConfigError
from caloforge.models.base import Batch
from caloforge.models.seeding import derive_seed

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from caloforge.io import ShowerSet
    from caloforge.models.preprocessing import Preprocessing
    from caloforge.training.config import DataConfig

__all__ = ["DeviceData", "epoch_order", "load_training_data"]

_SPLIT_KEY = 1
_EPOCH_KEY = 2


def load_training_data(cfg: DataConfig, seed: int) -> tuple[ShowerSet, ShowerSet]:
    """Read the training file and split it into ``(train, held_out)`` with the run's seed.

    The held-out part is ``val_fraction`` of the showers, of which at most ``val_max`` are returned.

    Raises:
        ConfigError: too few showers to split.
        DataFormatError: the file cannot be read.
    """
    from caloforge.io import read

    data = read(cfg.path, geometry=cfg.geometry, stop=cfg.max_showers)
    n = len(data)
    n_val = round(n * cfg.val_fraction)
    if n_val < 1 or n - n_val < 1:
        raise ConfigError(
            f"data.path: {cfg.path!r} holds {n} showers, too few to hold out data.val_fraction = {cfg.val_fraction}"
        )
    order = np.random.default_rng(derive_seed(seed, _SPLIT_KEY)).permutation(n)
    held_out = np.sort(order[:n_val][: cfg.val_max])
    train = np.sort(order[n_val:])
    return data[train], data[held_out]


def epoch_order(n: int, seed: int, epoch: int) -> NDArray[np.int64]:
    """The order in which epoch ``epoch`` visits ``n`` training showers."""
    return np.random.default_rng(derive_seed(seed, _EPOCH_KEY, epoch)).permutation(n)


@dataclass
class DeviceData:
    """The preprocessed training split on the training device: data ``(N, n_voxels)``, energies, conditions."""

    x: torch.Tensor
    energy: torch.Tensor
    cond: torch.Tensor

    @classmethod
    def build(cls, showers: ShowerSet, preprocessing: Preprocessing, device: torch.device) -> DeviceData:
        energy = torch.from_numpy(showers.energy.astype(np.float32))
        x = preprocessing.to_data(torch.from_numpy(showers.showers), energy)
        particle = None if showers.particle is None else torch.from_numpy(showers.particle.astype(np.int64))
        theta = None if showers.theta is None else torch.from_numpy(showers.theta.astype(np.float32))
        if preprocessing.theta_range is None:
            theta = None
        cond = preprocessing.condition(energy, particle, theta)
        return cls(x.to(device), energy.to(device), cond.to(device))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, index: NDArray[np.int64]) -> Batch:
        i = torch.from_numpy(index).to(self.x.device)
        return Batch(x=self.x[i], energy=self.energy[i], cond=self.cond[i])
