"""FastSim: loading by name or path, deterministic sampling, refused conditions, the pretrained registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from caloforge.exceptions import ModelError
from caloforge.geometry import get_preset
from caloforge.inference import ExtrapolationWarning, FastSim
from caloforge.models import MODEL_PATH_ENV, build_model, package_pretrained, pretrained_models, save_model
from tests.models.tiny import FAMILIES, TINY, tiny_geometry, tiny_showers


@pytest.fixture(params=FAMILIES)
def model_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    family = request.param
    data = tiny_showers(40)
    return save_model(build_model(family, data.geometry, data=data, config=TINY[family][0], seed=0), tmp_path / family)


def test_sample_is_a_showerset_in_mev(model_dir: Path) -> None:
    sim = FastSim.load(model_dir)
    s = sim.sample(np.array([2e3, 5e4, 9e4]), seed=1)
    assert s.showers.shape == (3, 40)
    assert s.showers.dtype == np.float32
    assert s.geometry == tiny_geometry()
    assert s.particle is not None
    assert (s.particle == -11).all()
    assert np.all(s.showers >= 0)
    assert sim.energy_range[0] < 2e3 * 1.05
    assert sim.particles == (-11,)


def test_same_seed_same_showers(model_dir: Path) -> None:
    sim = FastSim.load(model_dir)
    energy = np.linspace(2e3, 9e4, 25)
    a = sim.sample(energy, seed=4, batch_size=10)
    b = FastSim.load(model_dir).sample(energy, seed=4, batch_size=10)
    np.testing.assert_array_equal(a.showers, b.showers)
    assert not np.array_equal(a.showers, sim.sample(energy, seed=5, batch_size=10).showers)
    # chunks on any number of threads: bitwise the same showers
    many = FastSim.load(model_dir, threads=3)
    many.model.inference_chunk = 4  # several chunks per batch
    few = FastSim.load(model_dir, threads=1)
    few.model.inference_chunk = 4
    np.testing.assert_array_equal(many.sample(energy, seed=4).showers, few.sample(energy, seed=4).showers)
    parts = list(sim.iter_sample(energy, seed=4, batch_size=10))
    assert [len(p) for p in parts] == [10, 10, 5]
    np.testing.assert_array_equal(np.concatenate([p.showers for p in parts]), a.showers)


def test_refused_conditions(model_dir: Path) -> None:
    sim = FastSim.load(model_dir)
    with pytest.raises(ModelError, match="outside the model's training range"):
        sim.sample(np.array([5e5]))
    assert len(sim.sample(np.array([5e5]), allow_extrapolation=True, seed=0)) == 1
    with pytest.raises(ModelError, match="trained on e\\+, not gamma"):
        sim.sample(np.array([5e4]), particle="gamma")
    with pytest.raises(ModelError, match="unknown particle 'muon'"):
        sim.sample(np.array([5e4]), particle="muon")
    with pytest.raises(ModelError, match="takes no theta"):
        sim.sample(np.array([5e4]), theta=0.1)
    with pytest.raises(ModelError, match="generates geometry 'tiny', not 'calogan'"):
        FastSim.load(model_dir, geometry="calogan")
    with pytest.raises(ModelError, match="trained on e\\+, not gamma"):
        FastSim.load(model_dir, particle="gamma")
    with pytest.raises(ModelError, match="unknown backend 'tensorrt'; available: torch, onnx"):
        FastSim.load(model_dir, backend="tensorrt")
    with pytest.raises(ModelError, match="runs in fp32, bf16, fp16, not 'int8' \\(int8 runs on backend='onnx'\\)"):
        FastSim.load(model_dir, precision="int8")
    with pytest.raises(ModelError, match="unknown precision 'fp8'; choose one of fp32, fp16, bf16, int8, int8-static"):
        FastSim.load(model_dir, precision="fp8")
    with pytest.raises(ModelError, match="finite and > 0 MeV; 1 of 2 are not"):
        sim.sample(np.array([5e4, np.nan]))
    with pytest.raises(ModelError, match="finite and > 0 MeV"):
        sim.sample(np.array([-1.0]))
    with pytest.raises(ModelError, match="threads must be >= 1"):
        FastSim.load(model_dir, threads=0)


def test_extrapolation_warns_or_refuses(model_dir: Path) -> None:
    sim = FastSim.load(model_dir)
    assert sim.extrapolation_message([3e4, 5e4]) is None
    assert sim.extrapolation_message(sim.energy_range[1] * 1.04) is None  # within the 5 % margin
    message = sim.extrapolation_message([3e4, 5e5])
    assert message is not None
    assert "outside the model's training range" in message
    with pytest.warns(ExtrapolationWarning, match="500 GeV .* the showers are extrapolations"):
        warned = sim.sample(np.array([5e5]), seed=0, extrapolation="warn")
    np.testing.assert_array_equal(warned.showers, sim.sample(np.array([5e5]), seed=0, extrapolation="allow").showers)
    with pytest.raises(ModelError, match="outside the model's training range"):
        sim.sample(np.array([5e5]), extrapolation="error", allow_extrapolation=True)
    with pytest.raises(ModelError, match="extrapolation must be error, warn or allow"):
        sim.sample(np.array([5e4]), extrapolation="maybe")  # type: ignore[arg-type]


# torch fp16 keeps the networks' activations in float16, so it suits families whose networks stay inside its
# range; flow matching and the WGAN turn their outputs into MeV with autocast off (float32)
@pytest.mark.parametrize(
    ("family", "precision"),
    [(f, "bf16") for f in FAMILIES] + [("calogan", "fp16"), ("wgan", "fp16"), ("flowmatch", "fp16")],
)
def test_torch_reduced_precision_is_deterministic_and_close(tmp_path: Path, family: str, precision: str) -> None:
    data = tiny_showers(40)
    model = build_model(family, data.geometry, data=data, config=TINY[family][0], seed=0)
    model_dir = save_model(model, tmp_path / family)
    fp32 = FastSim.load(model_dir)
    sim = FastSim.load(model_dir, precision=precision, threads=3)
    assert sim.precision == precision
    assert fp32.model is not None
    assert next(fp32.model.parameters()).dtype == torch.float32, "the caller's model is not converted"
    energy = np.geomspace(2e3, 9e4, 20)
    sim.model.inference_chunk = 4  # type: ignore[union-attr]
    a = sim.sample(energy, seed=1)
    few = FastSim.load(model_dir, precision=precision, threads=1)
    few.model.inference_chunk = 4  # type: ignore[union-attr]
    np.testing.assert_array_equal(a.showers, few.sample(energy, seed=1).showers)
    b = fp32.sample(energy, seed=1)
    assert a.showers.dtype == np.float32
    assert not np.array_equal(a.showers, b.showers)
    rel = np.abs(a.total_energy() - b.total_energy()) / b.total_energy()
    assert np.median(rel) < 0.05  # bf16 keeps 8 bits of mantissa: percent-level differences
    assert FastSim.load(model_dir, precision="float16").precision == "fp16"  # aliases


def test_unknown_name_lists_the_pretrained_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path))
    with pytest.raises(ModelError, match="unknown model 'calogan-muon': no such folder"):
        FastSim.load("calogan-muon")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither a model folder nor a training run"):
        FastSim.load(tmp_path / "empty")


def test_pretrained_registry_with_a_model_trained_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from caloforge.io import write
    from caloforge.training import load_train_config, train
    from tests.models.tiny import tiny_train_config

    write(tmp_path / "train.h5", tiny_showers(48))
    train(load_train_config(overrides=tiny_train_config("wgan", tmp_path / "train.h5", max_steps=2)), tmp_path / "run")
    store = tmp_path / "store"
    target = package_pretrained(tmp_path / "run", "tiny-eplus", dest=store, card={"metrics": {"auc_high_level": 0.7}})
    assert sorted(p.name for p in target.iterdir()) == ["card.json", "config.json", "model.safetensors"]
    with pytest.raises(ModelError, match="exists; pass overwrite"):
        package_pretrained(tmp_path / "run", "tiny-eplus", dest=store)
    with pytest.raises(ModelError, match="must be lower case"):
        package_pretrained(tmp_path / "run", "Tiny Model", dest=store)

    monkeypatch.setenv(MODEL_PATH_ENV, str(store))
    found = pretrained_models()["tiny-eplus"]
    assert (found.family, found.geometry, found.particles, found.builtin) == ("wgan", "tiny", (-11,), False)
    assert found.card["metrics"] == {"auc_high_level": 0.7}
    assert found.card["training"]["n_showers"] == 36
    sim = FastSim.load("tiny-eplus", particle="e+")
    assert sim.path == target
    assert sim.card["name"] == "tiny-eplus"
    assert sim.sample(np.full(3, 3e4), seed=0).showers.shape == (3, 40)


def test_shipped_pretrained_models_load_and_sample() -> None:
    """Whatever the package ships under models/pretrained/ must load, sample and carry a card."""
    shipped = [m for m in pretrained_models().values() if m.builtin]
    if not shipped:
        pytest.skip("no pretrained model is shipped yet (docs/models.md: Pretrained models)")
    for m in shipped:
        sim = FastSim.load(m.name)
        out = sim.sample(np.full(2, np.sqrt(np.prod(sim.energy_range))), seed=0)
        assert out.showers.shape == (2, sim.geometry.n_voxels)
        assert m.card.get("training"), f"{m.name} has no training section in its card"
        if m.geometry == "calogan":
            assert sim.geometry == get_preset("calogan")


def test_solver_steps_at_load(tmp_path: Path) -> None:
    data = tiny_showers(32)
    for family in ("flowmatch", "wgan"):
        model = build_model(family, tiny_geometry(), data=data, config=TINY[family][0], seed=0)
        save_model(model, tmp_path / family)
    energy = np.full(4, 2e4)
    saved = FastSim.load(tmp_path / "flowmatch")
    fast = FastSim.load(tmp_path / "flowmatch", steps=3, solver="heun")  # the tiny model saves 1 Euler step
    assert fast.model.config.evaluations == (6, 6)  # type: ignore[union-attr]
    assert not np.array_equal(saved.sample(energy, seed=3).showers, fast.sample(energy, seed=3).showers)
    with pytest.raises(ModelError, match="steps: must be >= 1"):
        FastSim.load(tmp_path / "flowmatch", steps=0)
    with pytest.raises(ModelError, match="not sampled by an ODE solver"):
        FastSim.load(tmp_path / "wgan", steps=2)
    shifted = FastSim.load(tmp_path / "flowmatch", steps=3, solver="heun", time_shift=2.0)
    assert shifted.model.config.time_shift == 2.0  # type: ignore[union-attr]
    assert not np.array_equal(fast.sample(energy, seed=3).showers, shifted.sample(energy, seed=3).showers)
    with pytest.raises(ModelError, match="time_shift: must be finite and > 0"):
        FastSim.load(tmp_path / "flowmatch", time_shift=-1.0)
    with pytest.raises(ModelError, match="not sampled by an ODE solver"):
        FastSim.load(tmp_path / "wgan", time_shift=2.0)
