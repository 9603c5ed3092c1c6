"""CaloChallenge binning XML: our export against the published files (CaloChallenge/homepage code/*.xml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from caloforge.exceptions import GeometryError
from caloforge.geometry import geometry_from_xml, geometry_to_xml, get_preset, load_geometry_file

DATA = Path(__file__).resolve().parents[1] / "data"


def test_dataset_2_export_matches_the_published_file_exactly() -> None:
    published = (DATA / "binning_dataset_2.xml").read_text(encoding="utf-8")
    assert len(published) == 4594
    assert geometry_to_xml(get_preset("calochallenge-2")) == published


def test_dataset_3_export_matches_the_published_file_exactly() -> None:
    published = (DATA / "binning_dataset_3.xml").read_text(encoding="utf-8")
    assert geometry_to_xml(get_preset("calochallenge-3")) == published


def test_published_dataset_2_binning() -> None:
    g = geometry_from_xml(DATA / "binning_dataset_2.xml")
    assert g.n_layers == 45
    assert g.n_voxels == 6480
    for layer in g.layers:
        assert layer.segmentation.n_alpha == 16
        assert layer.segmentation.r_edges == (0.0, 4.65, 9.3, 13.95, 18.6, 23.25, 27.9, 32.55, 37.2, 41.85)
    assert [layer.segmentation for layer in g.layers] == [
        layer.segmentation for layer in get_preset("calochallenge-2").layers
    ]


@pytest.mark.parametrize(
    ("preset", "filename"),
    [
        ("calochallenge-1-photons", "binning_dataset_1_photons.xml"),
        ("calochallenge-1-pions", "binning_dataset_1_pions.xml"),
    ],
)
def test_dataset_1_binnings_match_the_published_files(preset: str, filename: str) -> None:
    # the published dataset-1 files have irregular white space; the content must be identical
    published = geometry_from_xml(DATA / filename)
    ours = get_preset(preset)
    assert [(layer.id, layer.segmentation) for layer in published.layers] == [
        (layer.id, layer.segmentation) for layer in ours.layers
    ]
    assert published.xml_layer_ids == ours.xml_layer_ids == 24
    assert dict(published.xml_attributes) == dict(ours.xml_attributes)
    assert geometry_from_xml("ours.xml", text=geometry_to_xml(ours)).layers == published.layers


def test_xml_file_through_load_geometry_file() -> None:
    assert load_geometry_file(DATA / "binning_dataset_1_pions.xml").n_voxels == 533


def test_cartesian_geometry_cannot_be_exported() -> None:
    with pytest.raises(GeometryError, match=r"calogan.*Cartesian"):
        geometry_to_xml(get_preset("calogan"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<Bins><Bin pid='11'><Layer id='0' r_edges='0,1", "cannot be read"),
        ("<Other/>", "expected <Bins> holding one <Bin>"),
        ("<Bins><Bin pid='11'><Layer id='0' r_edges='0,2,1' n_bin_alpha='1'/></Bin></Bins>", "invalid r_edges"),
        ("<Bins><Bin pid='11'><Layer id='0' r_edges='0,nan' n_bin_alpha='1'/></Bin></Bins>", "invalid r_edges"),
        (
            "<Bins><Bin pid='11'><Layer id='0' r_edges='0,1' n_bin_alpha='0'/></Bin></Bins>",
            "invalid r_edges or n_bin_alpha",
        ),
        ("<Bins><Bin pid='11'><Layer r_edges='0,1'/></Bin></Bins>", "Layer #0 has a missing or bad attribute"),
        ("<Bins><Bin pid='11'><Layer id='0' r_edges='0'/></Bin></Bins>", "no layer with voxels"),
    ],
)
def test_bad_xml_is_a_one_line_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(GeometryError, match=message) as info:
        load_geometry_file(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
