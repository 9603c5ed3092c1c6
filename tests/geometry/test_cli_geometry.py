"""``caloforge geometry list|show|export`` through the CLI, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.geometry import geometry_from_json, get_preset, load_geometry_file, preset_names

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "geometries" / "pb_scint.yaml"
runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for verb in ("info", "convert", "geometry"):
        assert verb in result.stdout
    sub = runner.invoke(app, ["geometry", "--help"])
    for verb in ("list", "show", "export"):
        assert verb in sub.stdout


def test_list_shows_every_preset() -> None:
    result = runner.invoke(app, ["geometry", "list"])
    assert result.exit_code == 0
    for name in preset_names():
        assert name in result.stdout
    assert "6480" in result.stdout


@pytest.mark.parametrize("name", ["calogan", "calochallenge-1-pions", str(EXAMPLE)])
def test_show(name: str) -> None:
    result = runner.invoke(app, ["geometry", "show", name])
    assert result.exit_code == 0, result.output
    g = load_geometry_file(name) if name.endswith(".yaml") else get_preset(name)
    assert g.name in result.stdout
    assert f"n_voxels: {g.n_voxels}" in result.stdout


def test_show_json_is_the_geometry() -> None:
    result = runner.invoke(app, ["geometry", "show", "clic-ecal", "--json"])
    assert result.exit_code == 0
    assert geometry_from_json(result.stdout) == get_preset("clic-ecal")


def test_export_xml_dataset_2_is_the_published_file() -> None:
    result = runner.invoke(app, ["geometry", "export", "calochallenge-2", "--xml"])
    assert result.exit_code == 0
    assert result.stdout == (DATA / "binning_dataset_2.xml").read_text(encoding="utf-8")


def test_export_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "ds3.xml"
    result = runner.invoke(app, ["geometry", "export", "calochallenge-3", "--xml", "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_text(encoding="utf-8") == (DATA / "binning_dataset_3.xml").read_text(encoding="utf-8")
    out_json = tmp_path / "pb.json"
    assert runner.invoke(app, ["geometry", "export", str(EXAMPLE), "-o", str(out_json)]).exit_code == 0
    assert load_geometry_file(out_json) == load_geometry_file(EXAMPLE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds3.xml", "pb.json"]


def _one_line_error(result_stderr: str, *needles: str) -> None:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_export_xml_of_a_cartesian_geometry_fails(tmp_path: Path) -> None:
    out = tmp_path / "calogan.xml"
    result = runner.invoke(app, ["geometry", "export", "calogan", "--xml", "-o", str(out)])
    assert result.exit_code == 1
    _one_line_error(result.stderr, "calogan", "Cartesian")
    assert list(tmp_path.iterdir()) == []


def test_unknown_geometry_name() -> None:
    result = runner.invoke(app, ["geometry", "show", "calogun"])
    assert result.exit_code == 1
    _one_line_error(result.stderr, "unknown geometry 'calogun'")


def test_bad_geometry_file_names_file_and_key(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["readout"][0]["cylindrical"]["n_alfa"] = 8
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["geometry", "show", str(bad)])
    assert result.exit_code == 1
    _one_line_error(result.stderr, str(bad), "readout[0].cylindrical.n_alfa: unknown key")
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["geometry", "export", str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert not out.exists()
    assert json.loads(runner.invoke(app, ["geometry", "export", str(EXAMPLE)]).stdout)["name"] == "pb-scint"
