"""Every preset: sizes from the sources, JSON round trip, XML round trip for the cylindrical ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caloforge.geometry import (
    geometry_from_dict,
    geometry_from_json,
    geometry_from_xml,
    geometry_to_xml,
    get_preset,
    preset_names,
    resolve_geometry,
)
from caloforge.geometry.core import CylindricalBins

# voxel counts: FORMATS.md (CaloChallenge 368/533/6480/40500; CaloGAN 3x96 + 12x12 + 12x6; 3DGAN 25^3, 51x51x25)
EXPECTED_VOXELS = {
    "calogan": 504,
    "calogan-lar": 504,
    "calochallenge-1-photons": 368,
    "calochallenge-1-pions": 533,
    "calochallenge-2": 6480,
    "calochallenge-3": 40500,
    "clic-ecal": 15625,
    "clic-ecal-51": 65025,
}


def test_every_preset_is_listed() -> None:
    assert sorted(preset_names()) == sorted(EXPECTED_VOXELS)


@pytest.mark.parametrize("name", sorted(EXPECTED_VOXELS))
def test_voxel_count(name: str) -> None:
    assert get_preset(name).n_voxels == EXPECTED_VOXELS[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_VOXELS))
def test_json_round_trip(name: str) -> None:
    g = get_preset(name)
    text = json.dumps(g.to_dict())
    back = geometry_from_json(text, source=name)
    assert back == g
    assert back.to_dict() == g.to_dict()
    assert geometry_from_dict(json.loads(text)).layer_sizes == g.layer_sizes


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED_VOXELS) if get_preset(n).is_cylindrical])
def test_xml_round_trip(name: str) -> None:
    g = get_preset(name)
    text = geometry_to_xml(g)
    back = geometry_from_xml(f"{name}.xml", text=text)
    # the XML holds the readout only: layers (ids and bins), the listed ids and the Bin attributes
    assert [(layer.id, layer.segmentation) for layer in back.layers] == [
        (layer.id, layer.segmentation) for layer in g.layers
    ]
    assert back.xml_layer_ids == g.xml_layer_ids
    assert dict(back.xml_attributes) == dict(g.xml_attributes)
    assert back.particle == g.particle
    assert geometry_to_xml(back) == text


def test_calogan_readout_from_the_sources() -> None:
    # PHYSICS.md §9.1: layers 90/347/43 mm, 160 x 5, 40 x 40, 40 x 80 mm cells within |x|, |y| < 240 mm
    g = get_preset("calogan")
    assert [(layer.z_min, layer.z_max) for layer in g.layers] == [(0.0, 90.0), (90.0, 437.0), (437.0, 480.0)]
    assert g.stack is not None
    assert g.stack.depth == pytest.approx(480.0)
    assert g.stack.depth_in_X0() == pytest.approx(30.8, abs=0.2)
    for layer, cell in zip(g.layers, [(160.0, 5.0), (40.0, 40.0), (40.0, 80.0)], strict=True):
        seg = layer.segmentation
        assert (seg.dx, seg.dy) == cell
        assert seg.x_edges()[0] == -240.0
        assert seg.y_edges()[-1] == 240.0


def test_calochallenge_2_binning() -> None:
    g = get_preset("calochallenge-2")
    seg = g.layers[0].segmentation
    assert isinstance(seg, CylindricalBins)
    assert seg.n_alpha == 16
    assert seg.r_edges == pytest.approx([4.65 * k for k in range(10)])
    assert g.n_layers == 45
    assert g.energy_scale == pytest.approx(1 / 0.033)
    assert g.stack is not None
    assert g.stack.depth_in_X0() == pytest.approx(36.2, abs=0.3)  # PHYSICS.md §9.2


def test_resolve_geometry_accepts_presets_files_and_objects(tmp_path: Path) -> None:
    g = get_preset("calogan")
    assert resolve_geometry("calogan") is g
    assert resolve_geometry(g) is g
    path = tmp_path / "g.json"
    path.write_text(g.to_json())
    assert resolve_geometry(path) == g
    assert resolve_geometry(str(path)) == g
