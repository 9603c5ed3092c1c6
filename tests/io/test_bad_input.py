"""Bad input: a one-line error naming the file and the problem, exit status 1, and no output file left behind."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.exceptions import CaloforgeError
from caloforge.geometry import get_preset
from caloforge.io import ShowerSet, count, iter_batches, read, write
from tests.conftest import toy_showers

runner = CliRunner()
PRESET_OF = {"native": "calogan", "calogan": "calogan", "3dgan": "clic-ecal", "par04": "calochallenge-2"}


def _good(tmp_path: Path, fmt: str, n: int = 6, name: str = "good.h5") -> Path:
    path = tmp_path / name
    write(path, toy_showers(get_preset(PRESET_OF[fmt]), n, np.random.default_rng(5)), format=fmt)
    return path


def _unvalidated(tmp_path: Path, fmt: str, edit: Callable[[np.ndarray, np.ndarray], None], name: str) -> Path:
    """A file written from showers that skipped validation, after ``edit(energy, showers)``."""
    s = toy_showers(get_preset(PRESET_OF[fmt]), 6, np.random.default_rng(6))
    energy, showers = s.energy.copy(), s.showers.copy()
    edit(energy, showers)
    bad = ShowerSet.from_arrays(energy, showers, s.geometry, validate=False)
    path = tmp_path / name
    write(path, bad, format=fmt)
    return path


def _set(index: tuple[int, ...] | int, value: float, target: str) -> Callable[[np.ndarray, np.ndarray], None]:
    def edit(energy: np.ndarray, showers: np.ndarray) -> None:
        (energy if target == "energy" else showers)[index] = value

    return edit


def _assert_cli_fails(args: list[str], *needles: str, outputs: tuple[Path, ...] = ()) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    for out in outputs:
        assert not out.exists()
        assert not out.with_name(out.name + ".partial").exists()


def _check(tmp_path: Path, path: Path, message: str, geometry: str | None = None) -> None:
    """The API raises a CaloforgeError naming the file; info and convert fail cleanly."""
    extra = ["--geometry", geometry] if geometry else []
    with pytest.raises(CaloforgeError, match=message) as info:
        for _ in iter_batches(path, 2, geometry=geometry):
            pass
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    _assert_cli_fails(["info", str(path), *extra], str(path))
    out = tmp_path / "converted.h5"
    _assert_cli_fails(
        ["convert", str(path), str(out), "--to", "native", "--batch-size", "2", *extra], str(path), outputs=(out,)
    )


# ---- invalid values ------------------------------------------------------------------------------------
VALUE_CASES = [
    ("energy", 3, float("nan"), "incident energies contain NaN or inf"),
    ("energy", 4, float("inf"), "incident energies contain NaN or inf"),
    ("energy", 2, -5.0, "incident energy of shower {2} is -5"),
    ("energy", 5, 0.0, "incident energy of shower {5} is 0"),
    ("showers", (3, 10), float("nan"), "shower {3} contains NaN or inf voxel energies"),
    ("showers", (4, 7), float("inf"), "shower {4} contains NaN or inf voxel energies"),
    ("showers", (5, 0), -1.0, "shower {5} has negative voxel energies"),
]
# Par04 keys its datasets by the energy, so a non-finite energy makes no shower dataset (tested below)
INVALID = [
    (fmt, *case)
    for fmt in ("native", "calogan", "3dgan", "par04")
    for case in VALUE_CASES
    if not (fmt == "par04" and case[0] == "energy" and not np.isfinite(case[2]))
]


@pytest.mark.parametrize(("fmt", "target", "index", "value", "message"), INVALID)
def test_invalid_values(
    tmp_path: Path, fmt: str, target: str, index: tuple[int, ...] | int, value: float, message: str
) -> None:
    path = _unvalidated(tmp_path, fmt, _set(index, value, target), f"bad-{fmt}.h5")
    # the message quotes the shower's position in the file; Par04 files read back sorted by energy
    _check(tmp_path, path, re.sub(r"\{(\d+)\}", lambda m: r"\d+" if fmt == "par04" else m.group(1), message))


def test_par04_without_usable_energy_keys(tmp_path: Path) -> None:
    path = tmp_path / "nan.h5"
    with h5py.File(path, "w") as f:
        f["nan"] = np.ones((2, 9, 16, 45), dtype=np.float32)
        f["inf"] = np.ones((2, 9, 16, 45), dtype=np.float32)
    # detection does not take non-numeric keys for energies: no known layout
    _check(tmp_path, path, "no known shower layout")


# ---- missing datasets and shapes ---------------------------------------------------------------------------
def _h5(tmp_path: Path, name: str, **datasets: np.ndarray) -> Path:
    path = tmp_path / name
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f[key] = value
    return path


def test_no_known_layout(tmp_path: Path) -> None:
    path = _h5(tmp_path, "showers_only.h5", showers=np.ones((3, 504), dtype=np.float32))
    _check(tmp_path, path, r"no known shower layout \(datasets found: showers\)")


def test_missing_dataset_with_explicit_format(tmp_path: Path) -> None:
    path = _good(tmp_path, "calogan")
    with pytest.raises(CaloforgeError, match="dataset 'incident_energies' is missing"):
        read(path, format="native")
    gan = _h5(tmp_path, "no_energy.h5", ECAL=np.ones((2, 25, 25, 25), dtype=np.float32))
    _check(tmp_path, gan, "dataset 'energy' is missing")


def test_calogan_missing_layer(tmp_path: Path) -> None:
    path = _h5(tmp_path, "two.h5", energy=np.ones((2, 1)), layer_0=np.ones((2, 3, 96), dtype=np.float32))
    _check(tmp_path, path, "fit no preset geometry")
    _check(tmp_path, path, r"layer shapes \[\(3, 96\)\] do not fit geometry 'calogan'", geometry="calogan")


@pytest.mark.parametrize(
    ("datasets", "message", "geometry"),
    [
        (
            {"incident_energies": np.ones((3, 1)), "showers": np.ones((3, 500), dtype=np.float32)},
            "no preset geometry has 500 voxels",
            None,
        ),
        (
            {"incident_energies": np.ones((3, 1)), "showers": np.ones((3, 504), dtype=np.float32)},
            "showers have 504 voxels but geometry 'calochallenge-2' has 6480",
            "calochallenge-2",
        ),
        (
            {"incident_energies": np.ones((3, 2)), "showers": np.ones((3, 504), dtype=np.float32)},
            r"'incident_energies' must be \(N, 1\)",
            None,
        ),
        (
            {"incident_energies": np.ones((2, 1)), "showers": np.ones((3, 504), dtype=np.float32)},
            "2 incident energies but 3 showers",
            None,
        ),
        (
            {
                "energy": np.ones((3, 1)),
                "layer_0": np.ones((3, 3, 95)),
                "layer_1": np.ones((3, 12, 12)),
                "layer_2": np.ones((3, 12, 6)),
            },
            "fit no preset",
            None,
        ),
        (
            {
                "energy": np.ones((3, 1)),
                "layer_0": np.ones((2, 3, 96)),
                "layer_1": np.ones((3, 12, 12)),
                "layer_2": np.ones((3, 12, 6)),
            },
            "'layer_0' has 2 showers but 'energy' has 3",
            None,
        ),
        (
            {"ECAL": np.ones((2, 25, 25, 24), dtype=np.float32), "energy": np.ones(2)},
            r"ECAL shape \(25, 25, 24\) fits no preset",
            None,
        ),
        ({"ECAL": np.ones((2, 25, 25), dtype=np.float32), "energy": np.ones(2)}, "'ECAL' must be 4-D", None),
        (
            {"ECAL": np.ones((2, 25, 25, 25), dtype=np.float32), "energy": np.ones(3)},
            r"'energy' must be \(N,\) in GeV with N = 2",
            None,
        ),
        (
            {"5": np.ones((2, 9, 16, 44), dtype=np.float32)},
            r"mesh \(n_r, n_phi, n_z\) = \(9, 16, 44\) fits no preset",
            None,
        ),
        (
            {"5": np.ones((2, 9, 16, 45), dtype=np.float32)},
            r"does not fit geometry 'calochallenge-3'",
            "calochallenge-3",
        ),
        (
            {"5": np.ones((2, 9, 16, 45), dtype=np.float32), "7": np.ones((1, 18, 50, 45), dtype=np.float32)},
            "different mesh shapes",
            None,
        ),
    ],
)
def test_shapes_that_do_not_fit(
    tmp_path: Path, datasets: dict[str, np.ndarray], message: str, geometry: str | None
) -> None:
    path = _h5(tmp_path, "shapes.h5", **datasets)
    _check(tmp_path, path, message, geometry=geometry)


# ---- truncated and corrupt files ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["native", "calogan", "3dgan", "par04"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    good = _good(tmp_path, fmt, n=40)
    data = good.read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    _check(tmp_path, path, "truncated or corrupt")


@pytest.mark.parametrize("fmt", ["native", "calogan", "3dgan"])
def test_corrupt_chunks(tmp_path: Path, fmt: str) -> None:
    good = _good(tmp_path, fmt, n=40)
    data = bytearray(good.read_bytes())
    # overwrite the middle of the file (compressed shower chunks) with garbage; metadata stays readable
    middle = len(data) // 2
    data[middle : middle + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.h5"
    path.write_bytes(bytes(data))
    _check(tmp_path, path, "truncated or corrupt|NaN or inf|negative")


@pytest.mark.parametrize("content", [b"", b"not an HDF5 file at all\n", b"\x89HDF\r\n\x1a\n" + b"\x00" * 20])
def test_not_hdf5(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.h5"
    path.write_bytes(content)
    _check(tmp_path, path, "cannot be opened as HDF5")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    _assert_cli_fails(["info", str(tmp_path / "nope.h5")], "nope.h5", "does not exist")
    _assert_cli_fails(["info", str(tmp_path)], "is a folder")
    with pytest.raises(CaloforgeError, match="does not exist"):
        count(tmp_path / "nope.h5")


# ---- geometries --------------------------------------------------------------------------------------------
def test_unknown_geometry_name(tmp_path: Path) -> None:
    path = _good(tmp_path, "native")
    out = tmp_path / "out.h5"
    _assert_cli_fails(["info", str(path), "--geometry", "calogun"], "unknown geometry 'calogun'")
    _assert_cli_fails(
        ["convert", str(path), str(out), "--geometry", "calogun"], "unknown geometry 'calogun'", outputs=(out,)
    )


def test_bad_geometry_file(tmp_path: Path) -> None:
    path = _good(tmp_path, "native")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nreadout:\n  - cartesian: {nx: 3, ny: 96, dx: 160, dy: 5, dz: 1}\n")
    out = tmp_path / "out.h5"
    _assert_cli_fails(["info", str(path), "-g", str(bad)], str(bad), "readout[0].cartesian.dz: unknown key")
    _assert_cli_fails(["convert", str(path), str(out), "-g", str(bad)], str(bad), outputs=(out,))


# ---- output side -------------------------------------------------------------------------------------------
def test_error_in_a_later_batch_leaves_nothing(tmp_path: Path) -> None:
    # the writer is already open when batch 3 turns out bad: the partial file must go
    path = _unvalidated(tmp_path, "native", _set((5, 3), float("nan"), "showers"), "late.h5")
    for fmt in ("native", "calogan"):
        out = tmp_path / f"out-{fmt}.h5"
        _assert_cli_fails(
            ["convert", str(path), str(out), "--to", fmt, "--batch-size", "2"], str(path), "shower 5", outputs=(out,)
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.h5"]


def test_unwritable_outputs(tmp_path: Path) -> None:
    path = _good(tmp_path, "native")
    _assert_cli_fails(["convert", str(path), str(tmp_path / "no" / "out.h5")], "folder", "does not exist")
    _assert_cli_fails(["convert", str(path), str(tmp_path)], "is a folder")
    _assert_cli_fails(["convert", str(path), str(path)], "same file")
    _assert_cli_fails(["convert", str(path), str(tmp_path / "x.h5"), "--to", "hdf4"], "unknown format 'hdf4'")
    _assert_cli_fails(["convert", str(path), str(tmp_path / "x.h5"), "--to", "par04"], "cannot write", "as Par04")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.h5"]


def test_existing_output_is_replaced_only_on_success(tmp_path: Path) -> None:
    path = _unvalidated(tmp_path, "native", _set((5, 3), float("nan"), "showers"), "late.h5")
    out = tmp_path / "out.h5"
    shutil.copy(_good(tmp_path, "native", name="previous.h5"), out)
    before = out.read_bytes()
    result = runner.invoke(app, ["convert", str(path), str(out), "--batch-size", "2"])
    assert result.exit_code == 1
    assert out.read_bytes() == before
    assert not out.with_name("out.h5.partial").exists()
