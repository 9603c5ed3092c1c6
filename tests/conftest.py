"""Shared fixtures: tiny synthetic data in tmp_path, never in the repository (STYLE.md #11)."""

from __future__ import annotations

import numpy as np
import pytest

from caloforge.geometry import Geometry, get_preset
from caloforge.io import ShowerSet


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def toy_showers(geometry: Geometry, n: int, rng: np.random.Generator, particle: str = "e+") -> ShowerSet:
    """Positive random showers whose sum is ~E (not physics; for format and plumbing tests)."""
    energy = rng.uniform(1_000.0, 100_000.0, n)
    raw = rng.exponential(1.0, (n, geometry.n_voxels)) * (rng.random((n, geometry.n_voxels)) < 0.3)
    raw = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1e-12) * energy[:, None]
    return ShowerSet.from_arrays(energy, raw.astype(np.float32), geometry, particle=particle)


@pytest.fixture
def calogan_showers(rng: np.random.Generator) -> ShowerSet:
    return toy_showers(get_preset("calogan"), 64, rng)
