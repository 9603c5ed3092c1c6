"""Files laid out as the public datasets are (no caloforge attributes): CaloChallenge, CaloGAN, 3DGAN, Par04."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from caloforge.exceptions import DataFormatError, GeometryError
from caloforge.geometry import get_preset
from caloforge.io import count, detect_format, iter_batches, read
from caloforge.io.gan3d import angles_from_3dgan, angles_to_3dgan
from caloforge.io.par04 import from_par04_order, to_par04_order


def test_calochallenge_file_without_metadata(tmp_path: Path, rng: np.random.Generator) -> None:
    # CaloChallenge ds2 layout: incident_energies (N, 1) MeV, showers (N, 6480) MeV, gzip (Dataset_creation.ipynb)
    path = tmp_path / "dataset_2_1.hdf5"
    showers = rng.exponential(1.0, (5, 6480)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("incident_energies", data=np.array([[1e3], [2e3], [4e3], [8e3], [1.6e4]]), compression="gzip")
        f.create_dataset("showers", data=showers, compression="gzip")
    assert detect_format(path) == "native"
    s = read(path)
    assert s.geometry.name == "calochallenge-2"  # the only preset with 6480 voxels
    np.testing.assert_array_equal(s.showers, showers)
    assert s.energy[4] == 1.6e4


def test_calogan_file(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "eplus.hdf5"  # the public file names carry the particle
    n = 6
    layers = [rng.exponential(1.0, (n, *shape)).astype(np.float32) for shape in [(3, 96), (12, 12), (12, 6)]]
    with h5py.File(path, "w") as f:
        f["energy"] = np.linspace(1.0, 100.0, n).reshape(n, 1)  # GeV
        for i, layer in enumerate(layers):
            f[f"layer_{i}"] = layer
        f["overflow"] = np.ones((n, 3), dtype=np.float32)
    assert detect_format(path) == "calogan"
    s = read(path)
    assert s.geometry.name == "calogan"
    np.testing.assert_allclose(s.energy, np.linspace(1e3, 1e5, n))  # MeV in memory
    for i, layer in enumerate(layers):
        np.testing.assert_array_equal(s.layer(i), layer)  # rows x, columns y as stored
    np.testing.assert_array_equal(s.overflow, 1.0)
    assert s.particles() == ["e+"]
    assert read(path, geometry="calogan-lar").geometry.name == "calogan-lar"


def test_calogan_file_with_other_layer_shapes(tmp_path: Path) -> None:
    path = tmp_path / "two_layers.h5"
    with h5py.File(path, "w") as f:
        f["energy"] = np.ones((2, 1))
        f["layer_0"] = np.ones((2, 4, 4), dtype=np.float32)
        f["layer_1"] = np.ones((2, 2, 2), dtype=np.float32)
    with pytest.raises(GeometryError, match=r"layer shapes \[\(4, 4\), \(2, 2\)\] fit no preset geometry"):
        read(path)
    geometry = tmp_path / "g.yaml"
    geometry.write_text(
        "name: two\nreadout:\n  - cartesian: {nx: 4, ny: 4, dx: 10, dy: 10}\n  - cartesian: {nx: 2, ny: 2, dx: 20, dy: 20}\n"
    )
    s = read(path, geometry=geometry)
    assert s.n_voxels == 20
    assert s.particle is None


def _ecal(n: int, nxy: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.exponential(1e-3, (n, nxy, nxy, 25)) * (rng.random((n, nxy, nxy, 25)) < 0.2)).astype(np.float32)


def test_3dgan_fixed_angle_file(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "EleEscan_1_1.h5"
    ecal = _ecal(4, 25, rng)
    with h5py.File(path, "w") as f:
        f["ECAL"] = ecal  # GeV, (N, x, y, z)
        f["energy"] = np.array([2.0, 50.0, 100.0, 500.0])  # GeV
    assert detect_format(path) == "3dgan"
    s = read(path)
    assert s.geometry.name == "clic-ecal"
    np.testing.assert_allclose(s.energy, [2e3, 5e4, 1e5, 5e5])
    # layer k of the ShowerSet is ECAL[..., k] in MeV, rows x and columns y
    for k in (0, 12, 24):
        np.testing.assert_allclose(s.layer(k), ecal[..., k] * 1000.0, rtol=1e-6)
    assert s.particles() == ["e-"]
    assert s.theta is None


def test_3dgan_oldest_files_use_target(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "GammaEscan_1_1.h5"
    with h5py.File(path, "w") as f:
        f["ECAL"] = _ecal(3, 25, rng)
        f["target"] = np.array([[22, 10.0, 0, 0, 1], [22, 20.0, 0, 0, 1], [22, 30.0, 0, 0, 1]], dtype=np.float32)
    s = read(path)
    np.testing.assert_allclose(s.energy, [1e4, 2e4, 3e4])
    assert s.particles() == ["gamma"]


def test_3dgan_variable_angle_file_and_crop(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "Ele_VarAngleMeas_100_200_000.h5"
    ecal = _ecal(3, 51, rng)
    theta = np.radians([60.0, 90.0, 120.0])
    with h5py.File(path, "w") as f:
        f["ECAL"] = ecal
        f["energy"] = np.array([100.0, 150.0, 200.0])
        f["theta"] = theta
    s = read(path)
    assert s.geometry.name == "clic-ecal-51"
    # 3DGAN's angle is to the barrel axis (the image's y axis); caloforge's theta is to the stack normal
    np.testing.assert_allclose(s.theta, np.radians([30.0, 0.0, 30.0]), atol=1e-12)
    np.testing.assert_allclose(s.phi, [np.pi / 2, np.pi / 2, -np.pi / 2])
    # with the 25 x 25 geometry the file is cropped as 3DGAN's AngleTrain does (ECAL[:, 13:38, 13:38, :])
    cropped = read(path, geometry="clic-ecal")
    np.testing.assert_allclose(cropped.layer(3), ecal[:, 13:38, 13:38, 3] * 1000.0, rtol=1e-6)
    assert cropped.overflow is not None
    total = ecal.sum(axis=(1, 2, 3), dtype=np.float64) * 1000.0
    np.testing.assert_allclose(cropped.total_energy() + cropped.overflow.sum(axis=1), total, rtol=1e-5)
    with pytest.raises(DataFormatError, match=r"do not fit the 12 x 6 grid|do not fit geometry 'calogan'"):
        read(path, geometry="calogan")


def test_par04_mlfastsim_training_file(tmp_path: Path, rng: np.random.Generator) -> None:
    # g4fastsim/MLFastSim: {geo}_angle_{deg}.h5, one dataset per energy in GeV, (N, n_r, n_phi, n_z) in MeV
    path = tmp_path / "SiW_angle_70.h5"
    data = {e: rng.exponential(0.1, (n, 9, 16, 45)).astype(np.float32) for e, n in [(1, 3), (256, 2), (64, 4)]}
    with h5py.File(path, "w") as f:
        for e, arr in data.items():
            f[str(e)] = arr
    assert detect_format(path) == "par04"
    assert count(path) == 9
    s = read(path)
    g = get_preset("calochallenge-2")
    assert s.geometry == g
    np.testing.assert_allclose(s.energy, [1e3] * 3 + [64e3] * 4 + [256e3] * 2)  # sorted by energy
    np.testing.assert_allclose(s.theta, math.radians(20.0))  # 70 degrees to the barrel axis
    expected = np.concatenate([data[1], data[64], data[256]]).reshape(9, -1)
    # the files hold Si energy; the ShowerSet holds CaloChallenge stored units (x 1/0.033)
    np.testing.assert_allclose(s.showers, from_par04_order(expected, g) * np.float32(1 / 0.033), rtol=1e-6)
    assert [len(b) for b in iter_batches(path, 4)] == [4, 4, 1]


def test_par04_calochallenge_source_file(tmp_path: Path, rng: np.random.Generator) -> None:
    # CaloChallenge Dataset_creation.ipynb source: group Angle_90, one (n_r, n_phi, n_z) dataset per shower,
    # keyed by the energy in MeV
    path = tmp_path / "source.h5"
    energies = [1234.5, 99000.25, 5000.0]
    showers = rng.exponential(0.1, (3, 9, 16, 45)).astype(np.float32)
    with h5py.File(path, "w") as f:
        group = f.create_group("Angle_90")
        for e, shower in zip(energies, showers, strict=True):
            group[repr(e)] = shower
    s = read(path)
    order = np.argsort(energies)
    np.testing.assert_allclose(s.energy, np.array(energies)[order])
    np.testing.assert_allclose(s.theta, 0.0)  # Angle_90: normal incidence
    g = get_preset("calochallenge-2")
    np.testing.assert_allclose(s.showers, from_par04_order(showers[order], g) / np.float32(0.033), rtol=1e-6)
    # the notebook's conversion: moveaxis (N, r, a, z) -> (N, z, a, r), flatten, x 1/0.033
    notebook = np.moveaxis(np.moveaxis(showers[order], 3, 1), 3, 2).reshape(3, -1) / 0.033
    np.testing.assert_allclose(s.showers, notebook, rtol=1e-6)


def test_par04_older_group_with_data(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "SiW_LowGran.hdf5"
    with h5py.File(path, "w") as f:
        f.create_group("2").create_dataset("data", data=rng.exponential(0.1, (2, 9, 16, 45)).astype(np.float32))
    s = read(path)
    np.testing.assert_allclose(s.energy, 2000.0)
    assert s.theta is None


def test_par04_order_conversion_is_the_documented_transpose(rng: np.random.Generator) -> None:
    g = get_preset("calochallenge-2")
    challenge = rng.random((2, g.n_voxels)).astype(np.float32)
    par04 = to_par04_order(challenge, g)
    np.testing.assert_array_equal(from_par04_order(par04, g), challenge)
    np.testing.assert_array_equal(from_par04_order(par04.reshape(2, 9, 16, 45), g), challenge)
    cube = par04.reshape(2, 9, 16, 45)
    # voxel (layer z, alpha a, r i) of CaloChallenge order is cell (r i, phi a, z) of Par04's
    for z, a, i in [(0, 0, 0), (44, 15, 8), (7, 3, 5)]:
        flat = z * 16 * 9 + a * 9 + i
        assert cube[1, i, a, z] == challenge[1, flat]
        assert par04[1, i * 16 * 45 + a * 45 + z] == challenge[1, flat]


def test_3dgan_angles_round_trip() -> None:
    theta3 = np.radians([60.0, 75.0, 90.0, 105.0, 120.0])
    theta, phi = angles_from_3dgan(theta3)
    np.testing.assert_allclose(angles_to_3dgan(theta, phi), theta3, atol=1e-12)
    np.testing.assert_allclose(angles_to_3dgan(theta[:2], None), theta3[:2], atol=1e-12)
    # a tilt towards x has no (y, z) projection: normal incidence for 3DGAN's measurement
    np.testing.assert_allclose(angles_to_3dgan(np.array([0.3]), np.array([0.0])), np.pi / 2)


def test_par04_order_needs_a_regular_mesh() -> None:
    with pytest.raises(GeometryError, match="not a Par04 mesh"):
        to_par04_order(np.zeros((1, 368)), get_preset("calochallenge-1-photons"))
    with pytest.raises(GeometryError, match="not a Par04 mesh"):
        from_par04_order(np.zeros((1, 504)), get_preset("calogan"))
    with pytest.raises(DataFormatError, match="do not fit geometry"):
        to_par04_order(np.zeros((1, 100)), get_preset("calochallenge-2"))
