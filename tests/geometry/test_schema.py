"""User geometry files (YAML/JSON): the documented example loads; bad keys and values are errors naming the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from caloforge.exceptions import GeometryError
from caloforge.geometry import load_geometry_file, resolve_geometry
from caloforge.geometry.core import CartesianGrid, CylindricalBins

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "geometries" / "pb_scint.yaml"

VALID: dict[str, Any] = {
    "name": "toy",
    "stack": {
        "width": 300,
        "blocks": [
            {"repeat": 10, "slabs": [{"material": "W", "thickness": 2.0}, {"material": "Si", "thickness": 0.5}]}
        ],
        "sensitive": ["Si"],
    },
    "readout": [
        {"z": [0, 10], "cartesian": {"nx": 4, "ny": 5, "dx": 10, "dy": 8}},
        {"depth": 5, "repeat": 3, "cylindrical": {"r_edges": [0, 5, 10], "n_alpha": 4}},
    ],
}


def _write(tmp_path: Path, data: Any, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"geometry{suffix}"
    path.write_text(yaml.safe_dump(data) if suffix in (".yaml", ".yml") else json.dumps(data))
    return path


def test_example_file_loads() -> None:
    g = load_geometry_file(EXAMPLE)
    assert g.name == "pb-scint"
    assert g.n_layers == 10
    assert g.n_voxels == 10 * 8 * 8
    assert g.stack is not None
    assert g.stack.depth == pytest.approx(240.0)
    assert g.stack.sensitive == ("EJ200",)
    assert g.stack.material("EJ200").density == pytest.approx(1.023)
    assert [(layer.z_min, layer.z_max) for layer in g.layers][-1] == (216.0, 240.0)
    assert resolve_geometry(str(EXAMPLE)) == g


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_valid_file(tmp_path: Path, suffix: str) -> None:
    g = load_geometry_file(_write(tmp_path, VALID, suffix))
    assert g.n_layers == 4
    assert isinstance(g.layers[0].segmentation, CartesianGrid)
    assert isinstance(g.layers[1].segmentation, CylindricalBins)
    assert [(layer.z_min, layer.z_max, layer.id) for layer in g.layers[1:]] == [(10, 15, 1), (15, 20, 2), (20, 25, 3)]
    assert g.n_voxels == 20 + 3 * 8
    assert g.stack is not None
    assert (g.stack.width_x, g.stack.width_y) == (300.0, 300.0)


def _mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()

BAD = [
    (("colour",), "red", "colour: unknown key"),
    (("stack", "blocks", 0, "slabs", 0, "thikness"), 2.0, r"stack.blocks\[0\].slabs\[0\].thikness: unknown key"),
    (("readout", 0, "cartesian", "nz"), 3, r"readout\[0\].cartesian.nz: unknown key"),
    (("stack", "blocks", 0, "slabs", 0, "thickness"), -2.0, r"stack.blocks\[0\].slabs\[0\].thickness: must be > 0"),
    (("stack", "blocks", 0, "slabs", 0, "material"), "Unobtainium", r"slabs\[0\].material: unknown material"),
    (("stack", "blocks", 0, "repeat"), 0, r"stack.blocks\[0\].repeat: must be >= 1"),
    (("stack", "sensitive"), ["Pb"], r"stack.sensitive: material 'Pb' is not in the stack"),
    (("stack", "width"), [1, 2, 3], "stack.width: must be a number or"),
    (("readout", 0, "cartesian", "nx"), 0, r"readout\[0\].cartesian.nx: must be >= 1"),
    (("readout", 0, "cartesian", "dx"), "wide", r"readout\[0\].cartesian.dx: must be a finite number"),
    (
        ("readout", 1, "cylindrical", "r_edges"),
        [0, 10, 5],
        r"readout\[1\].cylindrical.r_edges: must be strictly increasing",
    ),
    (("readout", 1, "cylindrical", "r_edges"), [1, 5], r"readout\[1\].cylindrical.r_edges: must start at 0"),
    (("readout", 1, "cylindrical", "r_edges"), [0], r"readout\[1\].cylindrical.r_edges: must have at least 2 entries"),
    (("readout", 1, "cylindrical", "n_alpha"), 1.5, r"readout\[1\].cylindrical.n_alpha: must be an integer"),
    (("readout", 0, "z"), [10, 5], r"readout\[0\].z: z_max must exceed z_min"),
    (("readout", 1, "depth"), 500, r"readout\[1\]: depth range .* lies outside the stack"),
    (("readout", 1, "z_start"), 8, "layers 0 and 1 overlap in depth"),
    (("energy_scale",), 0, "energy_scale: must be > 0"),
    (("threshold",), -1, "threshold: must be >= 0"),
    (("schema_version",), 7, "schema_version: this caloforge reads version 1"),
    (("readout",), _DELETE, "readout: is required"),
    (("name",), _DELETE, "name: is required"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[m.split(":")[0] for _, _, m in BAD])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_bad_key_or_value_names_the_key_and_file(
    tmp_path: Path, suffix: str, path: tuple[Any, ...], value: Any, message: str
) -> None:
    file = _write(tmp_path, _mutate(path, value), suffix)
    with pytest.raises(GeometryError, match=message) as info:
        load_geometry_file(file)
    assert str(file) in str(info.value)
    assert "\n" not in str(info.value)


def test_nan_in_yaml_names_the_key(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID).read_text().replace("dx: 10", "dx: .nan")
    file = tmp_path / "nan.yaml"
    file.write_text(path)
    with pytest.raises(GeometryError, match=r"readout\[0\].cartesian.dx: must be a finite number, got nan"):
        load_geometry_file(file)


def test_user_material_errors_name_the_key(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["stack"]["materials"] = {"glue": {"density": 1.2, "mass_fractions": {"C": 0.5, "H": 0.2}}}
    with pytest.raises(GeometryError, match=r"stack.materials.glue: .*sum to 0.7000"):
        load_geometry_file(_write(tmp_path, data))
    data["stack"]["materials"] = {"glue": {"density": -1, "formula": "CH2"}}
    with pytest.raises(GeometryError, match=r"stack.materials.glue.density: must be > 0"):
        load_geometry_file(_write(tmp_path, data))
    data["stack"]["materials"] = {"glue": {"density": 1.2, "formula": "CH2", "colour": 1}}
    with pytest.raises(GeometryError, match=r"stack.materials.glue.colour: unknown key"):
        load_geometry_file(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("name: [unclosed", ".yaml", "is not valid YAML"),
        ("{not json", ".json", "is not valid JSON"),
        ("", ".yaml", "<top>: must be a mapping"),
        ("- a\n- b\n", ".yaml", "<top>: must be a mapping"),
        ("name: x", ".txt", "use a .yaml, .yml, .json or .xml file"),
    ],
)
def test_unparsable_files(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"g{suffix}"
    path.write_text(content)
    with pytest.raises(GeometryError, match=message) as info:
        load_geometry_file(path)
    assert str(path) in str(info.value)


def test_binary_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(GeometryError, match="cannot be read as UTF-8"):
        load_geometry_file(path)
    with pytest.raises(GeometryError, match="does not exist"):
        load_geometry_file(tmp_path / "missing.yaml")
    with pytest.raises(GeometryError, match="unknown geometry 'no-such-preset'; presets: calogan"):
        resolve_geometry("no-such-preset")
