"""The electromagnetic showers must not change: training samples of e+ and γ were produced with detsim version 1.

The digests below were computed with the version-1 code (before the hadronic extension) by hashing the
incident energy, the voxel energies and the overflow of the listed showers; every later version must reproduce
them bit for bit, and must resume a file that version 1 started.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import caloforge
from caloforge.detsim import PhysicsConfig, produce
from caloforge.detsim.gun import EnergySpectrum, ParticleGun
from caloforge.detsim.production import Simulator, run_metadata
from caloforge.geometry import get_preset
from caloforge.io import read
from caloforge.io.native import NativeWriter

# (geometry, particle, spectrum, values MeV, seed, shower indices, theta) -> sha256[:16] under version 1;
# seeds 11/21/2/1 are those of the calogan training and test samples (e+ 11 and 1, γ 21 and 2)
CASES = [
    (("calogan", "e+", "uniform", (1000.0, 100000.0), 11, (0, 49_999), 0.0), "3380836dff5b0544"),
    (("calogan", "gamma", "uniform", (1000.0, 100000.0), 21, (0, 31_337), 0.0), "5894fbca19d80224"),
    (("calogan", "gamma", "uniform", (1000.0, 100000.0), 2, (5,), 0.0), "85325f26078a9025"),
    (("calogan", "e+", "uniform", (1000.0, 100000.0), 1, (3,), 0.0), "7daab6894528f77e"),
    (("calogan", "e-", "fixed", (5000.0,), 1, (0, 1), 0.0), "69356051a2a60348"),
    (("calochallenge-2", "e-", "fixed", (3000.0,), 7, (0,), 0.2), "f9629c563ba12607"),
]

# what version 1 wrote as the "physics" of every run (PhysicsConfig().to_dict() before the hadronic settings)
V1_PHYSICS = {
    "dr_over_range": 0.2,
    "final_range": 1.0,
    "fluctuations": True,
    "lateral_displacement": True,
    "lin_loss_limit": 0.01,
    "lpm": True,
    "max_stack": 20000,
    "msc_range_factor": 0.04,
    "msc_safety_factor": 0.6,
    "multiple_scattering": True,
    "photon_cut": 0.001,
    "range_cut": None,
    "tracking_cut": 0.001,
}


def _digest(case: tuple) -> str:  # type: ignore[type-arg]
    geometry, particle, kind, values, seed, indices, theta = case
    sim = Simulator(get_preset(geometry), ParticleGun(particle, EnergySpectrum(kind, values), theta=theta), seed=seed)
    h = hashlib.sha256()
    for i in indices:
        r = sim.run(i, i + 1)
        for a in (r.energy.astype(np.float64), r.showers, r.overflow):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[f"{c[0][0]}-{c[0][1]}-s{c[0][4]}" for c in CASES])
def test_em_showers_are_those_of_version_1(case: tuple, expected: str) -> None:  # type: ignore[type-arg]
    assert _digest(case) == expected


def _v1_metadata(particle: str, values: list[float], n: int, seed: int) -> dict[str, object]:
    return {
        "generator": "caloforge.detsim",
        "detsim_version": 1,
        "caloforge_version": caloforge.__version__,
        "geometry": "calogan",
        "gun": {
            "particle": particle,
            "energy": {"kind": "uniform", "values_MeV": values},
            "position_mm": [0.0, 0.0],
            "z_mm": None,
            "theta_rad": 0.0,
            "phi_rad": 0.0,
        },
        "n_showers": n,
        "seed": seed,
        "physics": V1_PHYSICS,
    }


@pytest.mark.parametrize("particle", ["e+", "gamma", "e-"])
def test_em_metadata_is_that_of_version_1(particle: str) -> None:
    gun = ParticleGun(particle, EnergySpectrum("uniform", (1000.0, 100000.0)))
    meta = run_metadata(get_preset("calogan"), gun, 50_000, 11, PhysicsConfig())
    assert meta == _v1_metadata(particle, [1000.0, 100000.0], 50_000, 11)


def test_a_file_started_by_version_1_resumes(tmp_path: Path) -> None:
    g = get_preset("calogan")
    gun = ParticleGun("e+", EnergySpectrum("uniform", (1000.0, 2000.0)))
    out = tmp_path / "v1.h5"
    # a partial file as version 1 left it: its metadata, two showers written
    first = Simulator(g, gun, seed=3).run(0, 2)
    writer = NativeWriter(
        out,
        g,
        metadata=_v1_metadata("e+", [1000.0, 2000.0], 4, 3),
        optional=("particle", "theta", "phi", "overflow"),
        keep_partial=True,
    )
    from caloforge.io.showerset import ShowerSet

    writer.append(
        ShowerSet.from_arrays(
            first.energy,
            first.showers,
            g,
            particle=np.full(2, -11, dtype=np.int32),
            theta=np.zeros(2),
            phi=np.zeros(2),
            overflow=first.overflow,
        )
    )
    writer.close(commit=False)
    assert out.with_name(out.name + ".partial").exists()
    produce(out, g, gun, 4, seed=3, workers=1, chunk_size=1, resume=True)
    full = produce(tmp_path / "full.h5", g, gun, 4, seed=3, workers=1)
    np.testing.assert_array_equal(read(out).showers, read(full).showers)
