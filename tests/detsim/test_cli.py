"""``caloforge simulate`` in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.io import read

runner = CliRunner()


def test_simulate_writes_a_file_info_can_read(tmp_path: Path) -> None:
    out = tmp_path / "s.h5"
    res = runner.invoke(
        app, ["simulate", "-g", "calogan", "-p", "positron", "-e", "1:2", "-n", "3", "-o", str(out), "-j", "1", "-q"]
    )
    assert res.exit_code == 0, res.output
    s = read(out)
    assert len(s) == 3
    assert s.energy.min() >= 1000
    assert s.energy.max() <= 2000
    res = runner.invoke(app, ["info", str(out)])
    assert res.exit_code == 0
    assert "calogan" in res.output
    # --resume on a finished run leaves the file alone; with other settings it refuses and keeps the file
    args = ["simulate", "-g", "calogan", "-p", "positron", "-e", "1:2", "-n", "3", "-o", str(out), "-j", "1", "-q"]
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert "nothing to do" in res.output
    res = runner.invoke(app, [*args, "--resume", "-s", "5"])
    assert res.exit_code == 1
    assert "already complete but was made with other settings" in res.output
    assert len(read(out)) == 3


def test_progress_bar_and_angles(tmp_path: Path) -> None:
    out = tmp_path / "s.h5"
    res = runner.invoke(
        app,
        ["simulate", "-g", "calogan", "-p", "γ", "-e", "1,2", "-n", "2", "-o", str(out), "-j", "1", "--theta", "10"],
    )
    assert res.exit_code == 0, res.output
    assert "showers/s" in res.output
    s = read(out)
    assert list(s.energy) == [1000.0, 2000.0]
    assert s.theta is not None
    assert s.theta[0] == pytest.approx(0.17453, rel=1e-4)


def test_simulate_pions(tmp_path: Path) -> None:
    out = tmp_path / "pi.h5"
    res = runner.invoke(
        app,
        ["simulate", "-g", "calogan", "-p", "pi+", "-e", "1:3", "-n", "3", "-s", "1", "-o", str(out), "-j", "1", "-q"],
    )
    assert res.exit_code == 0, res.output
    s = read(out)
    assert len(s) == 3
    assert s.particle is not None
    assert set(s.particle) == {211}
    assert float(s.total_energy().max()) < 3000.0
    res = runner.invoke(app, ["info", str(out)])
    assert res.exit_code == 0
    assert "pi+" in res.output or "211" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "muon"], "unknown particle"),
        (["-p", "mu+"], "not simulated by detsim"),
        (["-e", "-5"], "positive"),
        (["-e", "abc"], "--energy"),
        (["-n", "0"], "--n must be a positive"),
        (["-o", "/nonexistent-folder/out.h5"], "does not exist"),
        (["-g", "no-such-geometry"], "unknown geometry"),
        (["--spectrum", "gauss", "-e", "1:2"], "--spectrum"),
        (["--theta", "95"], "incidence angle"),
    ],
)
def test_bad_options_give_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    base = {"-g": "calogan", "-p": "e-", "-e": "1", "-n": "1", "-o": str(tmp_path / "o.h5")}
    it = iter(args)
    extra = []
    for key in it:
        value = next(it)
        if key in base:
            base[key] = value
        else:
            extra += [key, value]
    cmd = ["simulate", "-j", "1", "-q", *[x for kv in base.items() for x in kv], *extra]
    res = runner.invoke(app, cmd)
    assert res.exit_code == 1, res.output
    assert res.output.startswith("error: ")
    assert message in res.output
    assert not (tmp_path / "o.h5").exists()
