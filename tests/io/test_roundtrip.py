"""Write → read round trips for every layout and every preset geometry it can hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from caloforge.exceptions import DataFormatError
from caloforge.geometry import Geometry, get_preset, load_geometry_file, preset_names
from caloforge.io import ShowerSet, count, detect_format, iter_batches, open_writer, read, write
from tests.conftest import toy_showers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "geometries" / "pb_scint.yaml"

# which presets each layout can hold (FORMATS.md / docs/formats.md)
COMPATIBLE = {
    "native": preset_names(),
    "calogan": ["calogan", "calogan-lar", "clic-ecal", "clic-ecal-51"],
    "3dgan": ["clic-ecal", "clic-ecal-51"],
    "par04": ["calochallenge-2", "calochallenge-3"],
}
CASES = [(fmt, name) for fmt, names in COMPATIBLE.items() for name in names]
INCOMPATIBLE = [
    (fmt, name) for fmt in ("calogan", "3dgan", "par04") for name in preset_names() if name not in COMPATIBLE[fmt]
]


def _sample(g: Geometry, n: int, rng: np.random.Generator, *, with_extras: bool = True) -> ShowerSet:
    s = toy_showers(g, n, rng, particle="e-")
    if not with_extras:
        return s
    return ShowerSet.from_arrays(
        s.energy,
        s.showers,
        g,
        particle=s.particle,
        theta=rng.choice([0.0, 0.35], n),  # rad to the stack normal
        phi=rng.uniform(-np.pi, np.pi, n),
        overflow=rng.uniform(0, 10, (n, g.n_layers)),
    )


def _expected_order(fmt: str, s: ShowerSet) -> ShowerSet:
    # Par04 groups showers by angle, then energy (docs/formats.md)
    if fmt != "par04":
        return s
    assert s.theta is not None
    return s[np.lexsort((s.energy, s.theta))]


def assert_same(a: ShowerSet, b: ShowerSet, *, fields: tuple[str, ...], rtol: float = 1e-6) -> None:
    assert a.geometry == b.geometry
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-12)
    np.testing.assert_allclose(a.showers, b.showers, rtol=rtol, atol=1e-30)
    for key in fields:
        x, y = getattr(a, key), getattr(b, key)
        assert x is not None, key
        assert y is not None, key
        np.testing.assert_allclose(x, y, rtol=1e-6)


@pytest.mark.parametrize(("fmt", "name"), CASES)
def test_round_trip(tmp_path: Path, rng: np.random.Generator, fmt: str, name: str) -> None:
    g = get_preset(name)
    n = 7 if g.n_voxels > 20_000 else 23
    s = _sample(g, n, rng)
    path = tmp_path / f"showers.{fmt}.h5"
    write(path, s, format=fmt, batch_size=5)
    assert detect_format(path) == fmt
    assert count(path) == n
    back = read(path)
    stored = ("particle", "theta") if fmt == "par04" else ("particle", "theta", "phi", "overflow")
    assert_same(back, _expected_order(fmt, s), fields=stored)
    if fmt == "par04":
        assert back.phi is None
        assert back.overflow is None
    # streaming gives the same showers in batches, and start/stop slices agree
    batches = list(iter_batches(path, batch_size=4))
    assert [len(b) for b in batches] == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    assert_same(ShowerSet.concatenate(batches), back, fields=stored, rtol=0)
    assert_same(read(path, start=3, stop=9), back[3:9], fields=stored, rtol=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("fmt", sorted(COMPATIBLE))
def test_round_trip_without_optional_fields(tmp_path: Path, rng: np.random.Generator, fmt: str) -> None:
    g = get_preset(COMPATIBLE[fmt][0])
    s = ShowerSet.from_arrays(*_arrays(_sample(g, 6, rng, with_extras=False)), g)
    path = tmp_path / "plain.h5"
    write(path, s, format=fmt)
    back = read(path)
    order = np.argsort(s.energy, kind="stable") if fmt == "par04" else np.arange(6)
    assert_same(back, s[order], fields=())
    assert back.theta is None
    assert back.particle is None


def _arrays(s: ShowerSet) -> tuple[np.ndarray, np.ndarray]:
    return s.energy, s.showers


def test_user_geometry_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    g = load_geometry_file(EXAMPLE)
    s = _sample(g, 9, rng)
    for fmt in ("native", "par04"):
        path = tmp_path / f"{fmt}.h5"
        write(path, s, format=fmt)
        back = read(path)
        assert back.geometry == g  # the geometry travels inside the file
        assert_same(back, _expected_order(fmt, s), fields=("particle", "theta"))


def test_empty_file(tmp_path: Path) -> None:
    g = get_preset("calogan")
    for fmt in COMPATIBLE:
        geometry = get_preset(COMPATIBLE[fmt][0]) if fmt != "calogan" else g
        path = tmp_path / f"empty-{fmt}.h5"
        with open_writer(path, geometry, format=fmt) as w:
            pass
        assert w.n_written == 0
        if fmt == "par04":  # no energy datasets at all: nothing to read back
            with pytest.raises(DataFormatError, match="no Par04 shower datasets"):
                count(path)
        else:
            assert count(path) == 0
            assert len(read(path)) == 0


@pytest.mark.parametrize(("fmt", "name"), INCOMPATIBLE)
def test_incompatible_geometry_is_refused_before_writing(tmp_path: Path, fmt: str, name: str) -> None:
    path = tmp_path / "out.h5"
    with pytest.raises(DataFormatError, match=f"cannot write .* as .*{name}"):
        open_writer(path, get_preset(name), format=fmt)
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_a_batch_of_another_geometry(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "out.h5"
    with (
        pytest.raises(DataFormatError, match="differs from the file's"),
        open_writer(path, get_preset("calogan"), format="calogan") as w,
    ):
        w.append(toy_showers(get_preset("calogan-lar"), 3, rng))
    assert list(tmp_path.iterdir()) == []


def test_par04_refuses_mixed_particles(tmp_path: Path, rng: np.random.Generator) -> None:
    g = get_preset("calochallenge-2")
    s = toy_showers(g, 4, rng)
    mixed = ShowerSet.from_arrays(s.energy, s.showers, g, particle=[11, 11, 22, 11])
    with pytest.raises(DataFormatError, match="one particle type"):
        write(tmp_path / "mixed.h5", mixed, format="par04")
    assert list(tmp_path.iterdir()) == []


def test_par04_refuses_angles_beyond_grazing(tmp_path: Path, rng: np.random.Generator) -> None:
    g = get_preset("calochallenge-2")
    s = toy_showers(g, 2, rng)
    tilted = ShowerSet.from_arrays(s.energy, s.showers, g, theta=[0.1, 2.0])
    with pytest.raises(DataFormatError, match=r"theta 2.0 rad is not in \[0, pi/2\]"):
        write(tmp_path / "tilted.h5", tilted, format="par04")
    assert list(tmp_path.iterdir()) == []
