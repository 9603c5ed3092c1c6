"""Tiny models exported to ONNX once per test run, shared by the test processes.

Exporting is the slow part (torch.export + the ONNX optimiser: seconds to tens of seconds per model), so the
``exports`` fixture writes each export into a folder that every pytest-xdist worker of the run shares, under a
file lock: the first worker to need a model exports it, the others wait for it and read it. Tests that need an
export also carry ``xdist_group("onnx-<name>")`` so that ``--dist loadgroup`` can keep them together (with
pytest 9.2 / xdist 3.8 the grouping has no effect; the shared folder alone avoids repeated exports).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from caloforge.geometry import CylindricalBins, Geometry, ReadoutLayer
from caloforge.inference.export import export_onnx
from caloforge.io import ShowerSet
from caloforge.models import GenerativeModel, build_model, load_model, save_model
from tests.models.tiny import FAMILIES, TINY, tiny_showers


def onnx_group(name: str) -> pytest.MarkDecorator:
    return pytest.mark.xdist_group(f"onnx-{name}")


#: one pytest param per family, each pinned to its export's worker
FAMILY_PARAMS = [pytest.param(f, marks=onnx_group(f), id=f) for f in FAMILIES]


@dataclass
class Exported:
    """A tiny saved model and its float32 ONNX export."""

    model: GenerativeModel
    folder: Path
    onnx: Path
    deviation: float  # of the float32 graph from PyTorch, in tolerance units (export_onnx's check)


def cylinder_geometry(r_edges: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0)) -> Geometry:
    """Three identical cylindrical layers of 3 r × 4 α bins, 3.4 mm thick (a Par04-style mesh, 36 voxels)."""
    return Geometry(
        name="tiny-mesh",
        layers=tuple(ReadoutLayer(CylindricalBins(r_edges, 4), 3.4 * i, 3.4 * (i + 1), i) for i in range(3)),
    )


def conditioned_showers(n: int = 60, seed: int = 0) -> ShowerSet:
    """Toy showers in the mesh for two particles (e+, γ) at angles 0–0.3 rad: every condition a model can take."""
    rng = np.random.default_rng(seed)
    s = tiny_showers(n, seed=seed, geometry=cylinder_geometry())
    particle = np.where(np.arange(n) % 2 == 0, -11, 22).astype(np.int64)
    return replace(s, particle=particle, theta=rng.uniform(0.0, 0.3, n))


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Callable[[str], Exported]:
    """``exports(name)``: a family's tiny model (or ``"conditioned"``: a WGAN on the mesh that takes a particle
    and θ; ``"wgan-layers"``: the factorised WGAN with both noises and calibrated cuts; ``"wgan-two-stage"``: the
    same in two stages;
    ``"flowmatch-layer-energy"``: the flow with layer-energy standardisation, sampled by 2 midpoint steps on a
    shifted time grid), saved and exported to float32 ONNX,
    made once per test run."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if worker_id != "master" else base) / "caloforge-onnx-exports"
    shared.mkdir(exist_ok=True)
    cache: dict[str, Exported] = {}

    def get(name: str) -> Exported:
        if name not in cache:
            root = shared / name
            done = root / "result.json"
            with FileLock(str(shared / f"{name}.lock")):
                if not done.exists():
                    if name == "conditioned":
                        data = conditioned_showers()
                        model = build_model("wgan", data.geometry, data=data, config=TINY["wgan"][0], seed=1)
                    elif name in ("wgan-layers", "wgan-two-stage"):  # factorised: Gumbel noise and cut in the graph
                        data = tiny_showers(40)
                        config = {**TINY["wgan"][0], "output": "layers", "placement_noise": True, "energy_noise": True}
                        config["two_stage"] = name == "wgan-two-stage"
                        model = build_model("wgan", data.geometry, data=data, config=config, seed=0)
                        model.calibrate(data, seed=1)
                    elif name == "flowmatch-layer-energy":  # voxel features standardised on their layer's energy
                        data = tiny_showers(40)
                        config = {
                            **TINY["flowmatch"][0],
                            "shape_standardisation": "layer_energy",
                            "solver": "midpoint",
                            "steps": 2,
                            "time_shift": 2.0,
                        }
                        model = build_model("flowmatch", data.geometry, data=data, config=config, seed=0)
                    else:
                        data = tiny_showers(40)
                        model = build_model(name, data.geometry, data=data, config=TINY[name][0], seed=0)
                    folder = save_model(model, root / "model")
                    result = export_onnx(folder, root / "model.onnx")
                    done.write_text(json.dumps({"deviation": result.deviation}))
            deviation = json.loads(done.read_text())["deviation"]
            cache[name] = Exported(load_model(root / "model"), root / "model", root / "model.onnx", deviation)
        return cache[name]

    return get
