"""Production runs: files, resume, worker-independence, hits, the Python API."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.detsim import EnergySpectrum, ParticleGun, produce, simulate
from caloforge.exceptions import CaloforgeError, DataFormatError, SimulationError
from caloforge.geometry import get_preset
from caloforge.io import read, read_metadata
from caloforge.io.info import file_info

GUN = ParticleGun("e+", EnergySpectrum("uniform", (500.0, 1500.0)))


def test_api_in_memory_matches_file(tmp_path: Path) -> None:
    g = get_preset("calogan")
    mem = simulate(g, "e+", (500.0, 1500.0), n=5, seed=4, spectrum="uniform")
    path = simulate(g, "e+", (500.0, 1500.0), n=5, seed=4, spectrum="uniform", output=tmp_path / "a.h5", chunk_size=2)
    assert isinstance(path, Path)
    assert not isinstance(mem, Path)
    disk = read(path)
    np.testing.assert_array_equal(mem.showers, disk.showers)
    np.testing.assert_array_equal(mem.energy, disk.energy)
    assert disk.particle is not None
    assert set(disk.particle) == {-11}
    assert disk.overflow is not None
    assert disk.overflow.shape == (5, 3)
    meta = read_metadata(path)
    assert meta["seed"] == 4
    assert meta["gun"]["particle"] == "e+"
    info = file_info(path)
    assert info["n_showers"] == 5
    assert 0.9 < info["mean_Etot_over_Einc"] <= 1.01


def test_resume_after_interruption_gives_the_same_file(tmp_path: Path) -> None:
    g = get_preset("calogan")
    full = produce(tmp_path / "full.h5", g, GUN, 6, seed=9, workers=1, chunk_size=2)
    out = tmp_path / "run.h5"
    calls = []

    def stop_after_first_chunk(done: int, total: int) -> None:
        calls.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        produce(out, g, GUN, 6, seed=9, workers=1, chunk_size=2, progress=stop_after_first_chunk)
    partial = out.with_name(out.name + ".partial")
    assert partial.exists()
    assert not out.exists()
    with h5py.File(partial) as f:
        assert f["showers"].shape[0] == 2
    with pytest.raises(DataFormatError, match="different settings"):
        produce(out, g, GUN, 6, seed=10, workers=1, chunk_size=2, resume=True)
    produce(out, g, GUN, 6, seed=9, workers=1, chunk_size=3, resume=True)
    assert out.exists()
    assert not partial.exists()
    a, b = read(full), read(out)
    np.testing.assert_array_equal(a.showers, b.showers)
    np.testing.assert_array_equal(a.energy, b.energy)
    # resuming a finished run does nothing; resuming it with other settings is refused, and the file is kept
    before = out.stat().st_mtime_ns
    seen: list[tuple[int, int]] = []
    produce(out, g, GUN, 6, seed=9, workers=1, chunk_size=2, resume=True, progress=lambda d, t: seen.append((d, t)))
    assert out.stat().st_mtime_ns == before
    assert seen == [(6, 6)]
    assert not partial.exists()
    with pytest.raises(SimulationError, match="already complete but was made with other settings"):
        produce(out, g, GUN, 6, seed=10, workers=1, chunk_size=2, resume=True)
    np.testing.assert_array_equal(read(out).showers, a.showers)


def test_output_does_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    g = get_preset("calochallenge-2")
    gun = ParticleGun("e-", EnergySpectrum("log", (1000.0, 4000.0)))
    one = produce(tmp_path / "one.h5", g, gun, 6, seed=2, workers=1, chunk_size=2)
    two = produce(tmp_path / "two.h5", g, gun, 6, seed=2, workers=2, chunk_size=1)
    np.testing.assert_array_equal(read(one).showers, read(two).showers)


def test_hit_list(tmp_path: Path) -> None:
    g = get_preset("calogan")
    out = produce(tmp_path / "s.h5", g, GUN, 3, seed=1, workers=1, hits_path=tmp_path / "hits.h5")
    s = read(out)
    with h5py.File(tmp_path / "hits.h5") as f:
        hits, offsets = f["hits"][:], f["offsets"][:]
    assert offsets.shape == (4,)
    assert offsets[-1] == hits.shape[0]
    for i in range(3):
        h = hits[offsets[i] : offsets[i + 1]]
        scored = s.showers[i].sum() + s.overflow[i].sum()
        assert h[:, 3].sum() == pytest.approx(scored, rel=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"particle": "mu-"}, SimulationError, "not simulated by detsim"),
        ({"particle": "tachyon"}, SimulationError, "unknown particle"),
        ({"energy": -5.0}, SimulationError, "positive"),
        ({"n": 0}, SimulationError, "positive integer"),
        ({"geometry": "calochallenge-1-photons"}, SimulationError, "readout-only"),
        ({"output": "/nonexistent-folder/x.h5"}, DataFormatError, "does not exist"),
    ],
)
def test_bad_input_gives_clear_errors(kwargs: dict[str, object], error: type[CaloforgeError], match: str) -> None:
    args: dict[str, object] = {"geometry": "calogan", "particle": "e-", "energy": 1000.0, "n": 1}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        simulate(**args)  # type: ignore[arg-type]
