"""The Par04 variant: one float32 input [latent, E/1,024,000 MeV, angle/90°, 0, 1], energy fractions out in
(r, φ, z) order with z fastest, the convention in the metadata; and models that take a particle and θ."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from caloforge.exceptions import ModelError
from caloforge.inference import FastSim
from caloforge.inference.export import deviation, export_onnx, onnx_model, read_onnx
from caloforge.io.par04 import from_par04_order
from caloforge.models import build_model
from tests.inference.conftest import Exported, cylinder_geometry, onnx_group
from tests.models.tiny import TINY, tiny_showers

pytestmark = onnx_group("conditioned")


@pytest.fixture(scope="module")
def par04_file(exports: Callable[[str], Exported], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("par04") / "par04.onnx"
    export_onnx(exports("conditioned").folder, path, par04=True, particle="gamma")
    return path


def test_caloforge_convention_takes_particle_and_theta(exports: Callable[[str], Exported]) -> None:
    ex = exports("conditioned")
    proto = onnx.load_model(str(ex.onnx))
    assert [i.name for i in proto.graph.input] == ["z", "energy", "particle", "theta"]
    assert proto.graph.input[2].type.tensor_type.elem_type == onnx.TensorProto.INT64
    torch_sim, onnx_sim = FastSim.load(ex.folder), FastSim.load(ex.onnx)
    energy = np.geomspace(2e3, 9e4, 24)
    particle = np.where(np.arange(24) % 3 == 0, 22, -11)
    assert torch_sim.spec.preprocessing.theta_range is not None
    theta = np.linspace(*torch_sim.spec.preprocessing.theta_range, 24)
    a = torch_sim.sample(energy, particle, theta, seed=1)
    b = onnx_sim.sample(energy, particle, theta, seed=1)
    assert deviation(a.showers, b.showers, energy) <= 1.0
    np.testing.assert_array_equal(b.particle, particle)
    # the conditions matter: another particle or angle gives other showers from the same noise
    c = onnx_sim.sample(energy, np.full(24, 22), theta, seed=1)
    assert not np.allclose(c.showers[particle == -11], b.showers[particle == -11])
    with pytest.raises(ModelError, match="this model simulates several particles"):
        onnx_sim.sample(energy, seed=1)
    with pytest.raises(ModelError, match="theta\\) must be finite"):
        onnx_sim.sample(energy, "gamma", np.full(24, np.nan), seed=1)
    with pytest.raises(ModelError, match=r"angles .* outside the model's range"):
        onnx_sim.sample(energy, "gamma", 1.2, seed=1)


def test_par04_layout_matches_geant4s_reading(exports: Callable[[str], Exported], par04_file: Path) -> None:
    ex = exports("conditioned")
    model = ex.model
    session = onnxruntime.InferenceSession(str(par04_file), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.type == "tensor(float)"
    assert inp.shape == ["batch", model.latent_dim + 4]
    assert len(session.get_outputs()) == 1
    # the vector Par04InferenceSetup::GetEnergies builds: latent, E / fMaxEnergy, (angle/deg) / fMaxAngle, 0, 1
    rng = np.random.default_rng(0)
    n = 7
    z = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
    energy = np.geomspace(3e3, 9e4, n)
    lo, hi = model.preprocessing.theta_range or (0.0, 0.0)
    angle_deg = 90.0 - np.degrees(np.linspace(lo, hi, n))  # to the barrel axis: 90° is normal incidence
    vector = np.concatenate(
        [z, np.stack([energy / 1_024_000.0, angle_deg / 90.0, np.zeros(n), np.ones(n)], axis=1)], axis=1
    ).astype(np.float32)
    (fractions,) = session.run(None, {inp.name: vector})
    assert fractions.shape == (n, 36)
    with torch.inference_mode():
        showers = model(
            torch.from_numpy(z),
            torch.from_numpy(energy.astype(np.float32)),
            torch.full((n,), 22),
            torch.from_numpy(np.radians(90.0 - angle_deg).astype(np.float32)),
        ).numpy()
    # Par04 multiplies every output by E and puts value i in cell (r, phi, z) with z fastest
    n_r, n_phi, n_z = 3, 4, 3
    deposits = fractions * energy[:, None]
    for layer, alpha, r in [(0, 0, 0), (2, 1, 0), (1, 3, 2), (2, 3, 2)]:
        caloforge_index = (layer * n_phi + alpha) * n_r + r
        par04_index = (r * n_phi + alpha) * n_z + layer
        np.testing.assert_allclose(
            deposits[:, par04_index], showers[:, caloforge_index], rtol=1e-4, atol=1e-5 * energy.max()
        )
    assert deviation(showers, from_par04_order(deposits, model.geometry), energy) <= 1.0


def test_par04_metadata_and_fastsim(exports: Callable[[str], Exported], par04_file: Path) -> None:
    ex = exports("conditioned")
    info = read_onnx(par04_file)
    meta = info.meta
    assert meta["caloforge.convention"] == "par04"
    assert meta["par04.latent_size"] == str(ex.model.latent_dim)
    assert meta["par04.condition_size"] == "4"
    assert meta["par04.max_energy_MeV"] == "1024000.0"
    assert meta["par04.max_angle_deg"] == "90"
    assert meta["par04.output_order"] == "r, phi, z (z fastest)"
    assert meta["par04.particle"] == "gamma"
    assert json.loads(meta["par04.mesh"]) == {"n_r": 3, "n_phi": 4, "n_z": 3, "size_r_mm": 5.0, "size_z_mm": 3.4}
    assert "/Par04/inference/setSizeLatentVector" in meta["par04.macro"]
    assert "/Par04/inference/setNbOfPhiCells 4" in meta["par04.macro"]
    assert "fraction of the incident energy" in meta["par04.output_units"]
    # FastSim reads the convention back: same showers as PyTorch for the same noise
    sim = FastSim.load(par04_file)
    energy = np.geomspace(2e3, 9e4, 12)
    theta = np.linspace(*(ex.model.preprocessing.theta_range or (0.0, 0.0)), 12)
    a = FastSim.load(ex.folder).sample(energy, "gamma", theta, seed=4)
    b = sim.sample(energy, "gamma", theta, seed=4)
    assert deviation(a.showers, b.showers, energy) <= 1.0
    with pytest.raises(ModelError, match="simulates gamma only"):
        sim.sample(energy, "e+", theta, seed=4)


def test_par04_refuses_readouts_and_particles_it_cannot_serve(exports: Callable[[str], Exported]) -> None:
    conditioned = exports("conditioned").model
    with pytest.raises(ModelError, match=r"Par04 passes no particle .* choose one with --particle"):
        onnx_model(conditioned, par04=True)
    with pytest.raises(ModelError, match="--particle: the model was trained on e\\+, gamma, not pi\\+"):
        onnx_model(conditioned, par04=True, particle="pi+")
    cartesian = build_model("wgan", tiny_showers(30).geometry, data=tiny_showers(30), config=TINY["wgan"][0], seed=0)
    with pytest.raises(ModelError, match="--par04: geometry 'tiny' is not a Par04 mesh"):
        onnx_model(cartesian, par04=True)
    uneven = tiny_showers(30, geometry=cylinder_geometry((0.0, 2.0, 10.0, 15.0)))
    model = build_model("wgan", uneven.geometry, data=uneven, config=TINY["wgan"][0], seed=0)
    with pytest.raises(ModelError, match="unequal r bins"):
        onnx_model(model, par04=True)
