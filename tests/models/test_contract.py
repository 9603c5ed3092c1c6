"""Contract tests over every model family: shapes, gradients, save/load, determinism (STYLE.md #11)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.exceptions import ModelError
from caloforge.geometry import get_preset
from caloforge.models import GenerativeModel, build_model, get_family, load_model, save_model
from caloforge.models.base import Batch
from caloforge.models.seeding import torch_generator
from caloforge.training.data import DeviceData
from tests.models.tiny import FAMILIES, TINY, tiny_geometry, tiny_showers


def _model(family: str, seed: int = 0, **data_kwargs: object) -> GenerativeModel:
    data = tiny_showers(32, **data_kwargs)  # type: ignore[arg-type]
    return build_model(family, data.geometry, data=data, config=TINY[family][0], seed=seed)


def _trainer(model: GenerativeModel, seed: int = 0):  # type: ignore[no-untyped-def]
    cls = model.trainer_class()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(model, cls.config_from_dict(TINY[model.family][1]), generator=torch_generator(seed))


def _batches(model: GenerativeModel, n_batches: int, seed: int = 1) -> list[Batch]:
    data = DeviceData.build(tiny_showers(16 * n_batches, seed=seed), model.preprocessing, torch.device("cpu"))
    return [data.batch(np.arange(i * 16, (i + 1) * 16)) for i in range(n_batches)]


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_shape_units_and_range(family: str) -> None:
    model = _model(family).eval()
    energy = torch.tensor([2_000.0, 50_000.0, 90_000.0])
    out = model.sample(energy, generator=torch_generator(0))
    assert out.shape == (3, tiny_geometry().n_voxels)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert (out >= 0).all()
    z = torch.randn(3, model.latent_dim)
    assert model(z, energy).shape == (3, 40)


@pytest.mark.parametrize("family", FAMILIES)
def test_conditions_on_particle_and_angle(family: str) -> None:
    a = tiny_showers(20, seed=0, particle="e+")
    b = tiny_showers(20, seed=1, particle="gamma")
    from dataclasses import replace

    from caloforge.io import ShowerSet

    both = ShowerSet.concatenate([a, b])
    both = replace(both, theta=np.linspace(0.0, 0.3, len(both)))
    model = build_model(family, both.geometry, data=both, config=TINY[family][0], seed=0).eval()
    assert model.preprocessing.particles == (-11, 22)
    assert model.preprocessing.theta_range == pytest.approx((0.0, 0.3))
    assert model.preprocessing.n_conditions == 4
    energy = torch.full((4,), 10_000.0)
    out = model.sample(energy, torch.tensor([-11, 22, 22, -11]), torch.full((4,), 0.1), torch_generator(0))
    assert out.shape == (4, 40)
    with pytest.raises(ModelError, match="needs a particle"):
        model.sample(energy)


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_reach_every_parameter(family: str) -> None:
    model = _model(family)
    trainer = _trainer(model)
    trainer.train()
    params = {
        (name, i): p for name, opt in trainer.optimizers.items() for i, p in enumerate(opt.param_groups[0]["params"])
    }
    before = {key: p.detach().clone() for key, p in params.items()}
    losses = trainer.training_step(_batches(model, trainer.batches_per_step))
    assert losses
    assert all(np.isfinite(v) for v in losses.values())
    for (name, i), p in params.items():
        assert p.grad is not None, f"{name}: parameter {i} {tuple(p.shape)} got no gradient"
        # Adam moves a parameter iff one of the step's updates gave it a non-zero gradient
        assert not torch.equal(p.detach(), before[name, i]), (
            f"{name}: parameter {i} {tuple(p.shape)} never got a gradient"
        )
    n_opt = sum(p.numel() for opt in trainer.optimizers.values() for g in opt.param_groups for p in g["params"])
    n_all = model.n_parameters + sum(p.numel() for p in trainer.critics.parameters())
    assert n_opt == n_all  # every parameter of the generator and critics is optimised


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip(family: str, tmp_path: Path) -> None:
    model = _model(family).eval()
    folder = save_model(model, tmp_path / "m", card={"summary": "test"})
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.spec() == model.spec()
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    energy = torch.tensor([3_000.0, 70_000.0])
    z = torch.randn(2, model.latent_dim, generator=torch_generator(5))
    with torch.no_grad():
        assert torch.equal(model(z, energy), loaded(z, energy))
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "caloforge-model"
    assert config["format_version"] == 1
    assert config["geometry"]["name"] == "tiny"
    assert json.loads((folder / "card.json").read_text())["summary"] == "test"
    assert not list(folder.glob("*.partial"))


@pytest.mark.parametrize("family", FAMILIES)
def test_determinism(family: str) -> None:
    a, b = _model(family, seed=7), _model(family, seed=7)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        assert torch.equal(va, vb)
    assert any(
        not torch.equal(v, w)
        for v, w in zip(a.state_dict().values(), _model(family, seed=8).state_dict().values(), strict=True)
    )
    energy = torch.full((5,), 20_000.0)
    with torch.no_grad():
        assert torch.equal(
            a.sample(energy, generator=torch_generator(1)), b.sample(energy, generator=torch_generator(1))
        )
        assert not torch.equal(
            a.sample(energy, generator=torch_generator(1)), a.sample(energy, generator=torch_generator(2))
        )
    # training steps from the same seeds give the same losses and weights
    ta, tb = _trainer(a), _trainer(b)
    for _ in range(2):
        la = ta.training_step(_batches(a, ta.batches_per_step))
        lb = tb.training_step(_batches(b, tb.batches_per_step))
        assert la == lb
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)


@pytest.mark.parametrize("family", FAMILIES)
def test_chunked_inference_equals_one_pass(family: str) -> None:
    model = _model(family).eval()
    n = 2 * max(model.inference_chunk, 1) + 3
    energy = torch.full((n,), 40_000.0)
    z = torch.randn(n, model.latent_dim, generator=torch_generator(3))
    with torch.no_grad():
        chunked = model(z, energy)
    with torch.enable_grad():
        whole = model(z, energy).detach()
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-3)  # MeV: GEMM blocking differs


def test_calogan_refuses_cylindrical_readout() -> None:
    data = tiny_showers(8, geometry=get_preset("calochallenge-1-photons"))
    with pytest.raises(ModelError, match="Cartesian"):
        build_model("calogan", data.geometry, data=data, config=TINY["calogan"][0])
    model = build_model("wgan", data.geometry, data=data, config=TINY["wgan"][0])  # any readout
    assert model.sample(torch.full((2,), 5e4)).shape == (2, 368)


def test_calogan_handles_other_cartesian_readouts() -> None:
    for preset in ("calogan", "clic-ecal"):
        g = get_preset(preset)
        data = tiny_showers(4, geometry=g)
        model = build_model("calogan", g, data=data, config=TINY["calogan"][0], seed=0)
        assert model.sample(torch.full((2,), 5e4)).shape == (2, g.n_voxels)


def test_unknown_family() -> None:
    with pytest.raises(ModelError, match=r"unknown model family 'vae'.*calogan"):
        get_family("vae")


# ---- loading refuses what it cannot trust --------------------------------------------------------------
@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_model(_model("wgan"), tmp_path / "m")


def _edit(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_load_rejects_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not a caloforge model folder \(no config.json\)"):
        load_model(tmp_path)


def test_load_rejects_newer_format(saved: Path) -> None:
    _edit(saved, format_version=99)
    with pytest.raises(ModelError, match=r"format version 99.*upgrade caloforge"):
        load_model(saved)


def test_load_rejects_unknown_family(saved: Path) -> None:
    _edit(saved, family="diffusion")
    with pytest.raises(ModelError, match="unknown model family 'diffusion'"):
        load_model(saved)


def test_load_rejects_bad_model_config(saved: Path) -> None:
    config = json.loads((saved / "config.json").read_text())
    config["model"]["hiden"] = [3]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"model\.hiden: unknown key"):
        load_model(saved)


def test_load_rejects_weights_of_another_model(saved: Path, tmp_path: Path) -> None:
    other = save_model(
        build_model("wgan", tiny_geometry(), data=tiny_showers(8), config={"latent_dim": 6, "hidden": [16, 25]}),
        tmp_path / "o",
    )
    (saved / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ModelError, match="SHA-256 differs"):
        load_model(saved)
    _edit(saved, weights={"file": "model.safetensors"})  # without the hash, the shapes still have to fit
    with pytest.raises(ModelError, match="has shape"):
        load_model(saved)


def test_load_rejects_truncated_weights(saved: Path) -> None:
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    _edit(saved, weights={"file": "model.safetensors"})
    with pytest.raises(ModelError, match="cannot read safetensors"):
        load_model(saved)
