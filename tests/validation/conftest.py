"""Toy samples for the validation tests: same-distribution pairs and controlled distortions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from caloforge.geometry import Geometry, get_preset
from caloforge.io import ShowerSet
from caloforge.validation.toy import toy_showers


def scaled(s: ShowerSet, factor: float) -> ShowerSet:
    """Every voxel energy multiplied by ``factor`` (a miscalibrated response)."""
    return replace(s, showers=(s.showers * np.float32(factor)).astype(np.float32))


def moved_layer(s: ShowerSet, source: int, target: int, fraction: float) -> ShowerSet:
    """``fraction`` of layer ``target``'s energy added to it, taken from layer ``source``: E_tot unchanged."""
    g = s.geometry
    e = g.layer_sums(s.showers).astype(np.float64)
    out = s.showers.copy()
    extra = fraction * e[:, target]
    out[:, g.layer_slice(target)] *= np.float32(1.0 + fraction)
    keep = np.clip(1.0 - extra / np.maximum(e[:, source], 1e-12), 0.0, None)
    out[:, g.layer_slice(source)] *= keep[:, None].astype(np.float32)
    return replace(s, showers=out)


@pytest.fixture(scope="session")
def calogan() -> Geometry:
    return get_preset("calogan")


@pytest.fixture(scope="session")
def calogan_pair(calogan: Geometry) -> tuple[ShowerSet, ShowerSet]:
    """Two independent 4,000-shower toy samples of the same distribution."""
    rng = np.random.default_rng(2024)
    return toy_showers(calogan, 4000, rng), toy_showers(calogan, 4000, rng)
