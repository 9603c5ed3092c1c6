"""Preprocessing: transforms invert exactly, conditions encode as documented, bad conditions are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caloforge.exceptions import ConfigError, ModelError
from caloforge.models import Preprocessing, layer_energies_to_u, u_to_layer_energies
from tests.models.tiny import tiny_showers


@pytest.mark.parametrize(
    ("norm", "transform"),
    [("incident", "linear"), ("incident", "log"), ("incident", "power"), ("fixed", "linear"), ("fixed", "log")],
)
def test_transform_round_trip(norm: str, transform: str) -> None:
    pre = Preprocessing(
        energy_min=1e3,
        energy_max=1e5,
        voxel_norm=norm,
        voxel_scale=1e3 if norm == "fixed" else 1.0,
        voxel_transform=transform,
    )  # type: ignore[arg-type]
    showers = torch.tensor([[0.0, 1e-3, 5.0, 4e4], [0.0, 0.0, 10.0, 2.0]], dtype=torch.float64)
    energy = torch.tensor([5e4, 2e3], dtype=torch.float64)
    x = pre.to_data(showers, energy)
    assert (x[showers == 0] == 0).all()  # empty voxels stay empty
    assert (x >= 0).all()
    torch.testing.assert_close(pre.to_mev(x, energy), showers, rtol=1e-9, atol=1e-12)


def test_fractions_and_fixed_units() -> None:
    e = torch.tensor([2e4])
    v = torch.tensor([[1e4, 5e3]])
    assert torch.equal(Preprocessing(1e3, 1e5).to_data(v, e), torch.tensor([[0.5, 0.25]]))
    fixed = Preprocessing(1e3, 1e5, voxel_norm="fixed", voxel_scale=1000.0)
    assert torch.equal(fixed.to_data(v, e), torch.tensor([[10.0, 5.0]]))  # GeV, as CaloGAN


def test_energy_feature_scalings() -> None:
    e = torch.tensor([1e3, 1e4, 1e5])
    torch.testing.assert_close(Preprocessing(1e3, 1e5).energy_feature(e), torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(
        Preprocessing(1e3, 1e5, energy_scaling="linear").energy_feature(e), torch.tensor([0.01, 0.1, 1.0])
    )


def test_condition_vector_layout() -> None:
    pre = Preprocessing(1e3, 1e5, particles=(-11, 22), theta_range=(0.0, 0.2))
    cond = pre.condition(torch.tensor([1e3, 1e5]), torch.tensor([22, -11]), torch.tensor([0.1, 0.2]))
    torch.testing.assert_close(cond, torch.tensor([[0.0, 0.0, 1.0, 0.5], [1.0, 1.0, 0.0, 1.0]]))
    assert Preprocessing(1e3, 1e5, particles=(22,)).n_conditions == 1  # one particle: no one-hot


def test_fit_measures_the_sample() -> None:
    data = tiny_showers(50)
    pre = Preprocessing.fit(data, voxel_transform="log")
    assert pre.energy_min == pytest.approx(data.energy.min())
    assert pre.energy_max == pytest.approx(data.energy.max())
    assert pre.response == pytest.approx(float(np.mean(data.total_energy() / data.energy)), rel=1e-6)
    assert pre.particles == (-11,)
    assert pre.theta_range is None
    assert Preprocessing.from_dict(pre.to_dict()) == pre


def test_from_dict_validates() -> None:
    with pytest.raises(ConfigError, match=r"preprocessing\.voxel_transform: must be one of"):
        Preprocessing.from_dict({"energy_min": 1.0, "energy_max": 2.0, "voxel_transform": "sqrt"})
    with pytest.raises(ConfigError, match=r"preprocessing\.energy_min: must be > 0"):
        Preprocessing.from_dict({"energy_min": 0.0, "energy_max": 2.0})


def test_u_parameterisation_round_trip() -> None:
    layers = torch.tensor([[10.0, 30.0, 60.0], [0.0, 5.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    energy = torch.tensor([120.0, 10.0, 2.0], dtype=torch.float64)
    u = layer_energies_to_u(layers, energy, response=0.8)
    assert u[0, 0] == pytest.approx(100 / 96)
    assert u[0, 1] == pytest.approx(0.1)
    assert u[0, 2] == pytest.approx(30 / 90)
    assert ((u[:, 1:] >= 0) & (u[:, 1:] <= 1)).all()
    torch.testing.assert_close(u_to_layer_energies(u, energy, response=0.8), layers)


def test_check_conditions_refuses_what_the_model_was_not_trained_for() -> None:
    pre = Preprocessing(1e3, 1e5, particles=(-11,))
    ok = np.array([1e3, 1.04e5])
    pre.check_conditions(ok, None, None)  # within the 5 % margin
    with pytest.raises(ModelError, match=r"500–500 GeV lie outside the model's training range 1–100 GeV"):
        pre.check_conditions(np.array([5e5]), None, None)
    pre.check_conditions(np.array([5e5]), None, None, allow_extrapolation=True)
    with pytest.raises(ModelError, match="trained on e\\+, not gamma"):
        pre.check_conditions(ok, np.array([22, 22]), None)
    with pytest.raises(ModelError, match="takes no theta"):
        pre.check_conditions(ok, None, np.array([0.1, 0.1]))
    with pytest.raises(ModelError, match="choose one of e\\+, gamma"):
        Preprocessing(1e3, 1e5, particles=(-11, 22)).check_conditions(ok, None, None)
