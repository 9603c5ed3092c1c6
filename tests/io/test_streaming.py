"""Streaming: memory stays bounded by the batch, not the file; interrupted native writes resume."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from caloforge.exceptions import DataFormatError
from caloforge.geometry import get_preset
from caloforge.io import NativeWriter, count, iter_batches, open_writer, read
from caloforge.io.files import partial_path
from tests.conftest import toy_showers

FORMAT_GEOMETRY = {"native": "calogan", "calogan": "calogan", "3dgan": "clic-ecal", "par04": "calochallenge-2"}


def _peak(fn: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _write(path: Path, fmt: str, n: int, batch_size: int) -> None:
    g = get_preset(FORMAT_GEOMETRY[fmt])
    rng = np.random.default_rng(3)
    with open_writer(path, g, format=fmt) as w:
        for start in range(0, n, batch_size):
            batch = toy_showers(g, min(batch_size, n - start), rng)
            if fmt == "par04":  # a few discrete energies, as Par04 training files have
                batch = type(batch).from_arrays(
                    np.round(batch.energy, -4) + 1e4, batch.showers, g, particle=batch.particle
                )
            w.append(batch)


def _read_all(path: Path, batch_size: int) -> None:
    total = 0.0
    for batch in iter_batches(path, batch_size):
        total += float(batch.showers.sum())
    assert total > 0


@pytest.mark.parametrize(
    ("fmt", "batch", "small", "large"),
    [("native", 250, 1000, 4000), ("calogan", 250, 1000, 4000), ("3dgan", 25, 100, 400), ("par04", 25, 100, 400)],
)
def test_memory_is_bounded_by_the_batch(tmp_path: Path, fmt: str, batch: int, small: int, large: int) -> None:
    g = get_preset(FORMAT_GEOMETRY[fmt])
    batch_bytes = batch * g.n_voxels * 4
    peaks = {}
    for n in (small, large):
        path = tmp_path / f"{n}.h5"
        write_peak = _peak(lambda path=path, n=n: _write(path, fmt, n, batch))
        read_peak = _peak(lambda path=path: _read_all(path, batch))
        assert count(path) == n
        peaks[n] = (write_peak, read_peak)
    whole_file = large * g.n_voxels * 4
    for i, label in enumerate(("write", "read")):
        # 4x the showers must not mean more memory: same order as a few batches, far below the data size
        assert peaks[large][i] < 1.3 * peaks[small][i] + batch_bytes, (label, peaks)
        assert peaks[large][i] < 8 * batch_bytes < whole_file, (label, peaks)


def test_native_resume_after_a_crash(tmp_path: Path) -> None:
    g = get_preset("calogan")
    rng = np.random.default_rng(4)
    data = toy_showers(g, 30, rng)
    path = tmp_path / "job.h5"
    meta = {"job": "test", "seed": 1}
    w = NativeWriter(path, g, metadata=meta, optional=("particle",), keep_partial=True)
    w.append(data[:10])
    w.append(data[10:20])
    # simulate a crash in the middle of the third append: one dataset grew, the other not yet
    w._file["incident_energies"].resize(25, axis=0)
    w._file["showers"].resize(25, axis=0)
    w.close(commit=False)
    assert partial_path(path).exists()
    assert not path.exists()
    with pytest.raises(DataFormatError, match="started with different settings"):
        NativeWriter(path, g, metadata={"job": "other"}, optional=("particle",), resume=True)
    with pytest.raises(DataFormatError, match="other optional datasets"):
        NativeWriter(path, g, metadata=meta, optional=("particle", "theta"), resume=True)
    with NativeWriter(path, g, metadata=meta, optional=("particle",), resume=True) as w2:
        assert w2.n_written == 20  # only rows of completed appends count
        w2.append(data[20:])
    back = read(path)
    np.testing.assert_array_equal(back.showers, data.showers)
    np.testing.assert_array_equal(back.energy, data.energy)
    assert not partial_path(path).exists()
