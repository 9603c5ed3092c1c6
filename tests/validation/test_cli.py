"""``caloforge evaluate`` end to end: the report files, the terminal table, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.geometry import CylindricalBins, Geometry, ReadoutLayer, get_preset
from caloforge.io import NativeWriter, ShowerSet, write
from caloforge.validation.toy import toy_showers

runner = CliRunner()

# two α-binned cylindrical layers: every kind of plot (polar images included) at a small cost
TINY = Geometry(
    name="tiny-cylinder",
    layers=(
        ReadoutLayer(CylindricalBins((0, 5, 10, 20, 40), 4), 0.0, 60.0, 0),
        ReadoutLayer(CylindricalBins((0, 10, 20, 40, 80), 4), 60.0, 180.0, 1),
    ),
    threshold=0.1,
)


def _build_report(tmp: Path) -> tuple[Path, str]:
    rng = np.random.default_rng(21)
    files = {}
    for name, n, particle in (("ref", 1500, "e+"), ("gen", 1500, "e+"), ("pion", 1500, "pi+"), ("train", 1500, "e+")):
        files[name] = tmp / f"{name}.h5"
        write(files[name], toy_showers(TINY, n, rng, particle=particle))
    timing = tmp / "timing.json"
    timing.write_text('{"ms_per_shower": 0.25, "device": "cpu", "batch_size": 1000}')
    out = tmp / "report"
    args = [
        "evaluate",
        "-r", str(files["ref"]),
        "--generated", str(files["gen"]),
        "--generated", str(files["pion"]),
        "--label", "toy-e", "--label", "toy-pi",
        "--train", str(files["train"]),
        "--quick",
        "--classifier-inputs", "high,low",
        "--timing", "1.5", "--timing", str(timing),
        "--seed", "3",
        "-o", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.stdout


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One CLI run with plots, shared by the report checks and the browser test.

    pytest-xdist runs session fixtures once per worker; the first worker to get here builds the report in the
    run's shared temporary folder and the others wait for it (the pattern of the xdist docs, without filelock).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    done, failed = shared / "validation-report.done", shared / "validation-report.failed"
    try:
        os.close(os.open(shared / "validation-report.lock", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        deadline = time.monotonic() + 900
        while not done.exists():
            assert not failed.exists(), "building the shared report failed on another worker (see its error)"
            assert time.monotonic() < deadline, "another worker did not finish the shared report"
            time.sleep(0.5)
    else:
        work = shared / "validation-report"
        work.mkdir()
        try:
            out, stdout = _build_report(work)
        except BaseException:
            failed.touch()
            raise
        (work / "stdout.txt").write_text(stdout)
        done.write_text(str(out))
    out = Path(done.read_text())
    return out, (out.parent / "stdout.txt").read_text()


def test_report_files_and_numbers(report):
    out, stdout = report
    assert (out / "index.html").is_file()
    assert (out / "metrics.json").is_file()
    assert not list(out.glob("*.partial"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["geometry"] == {
        "name": "tiny-cylinder",
        "n_layers": 2,
        "n_voxels": 32,
        "calochallenge_dataset": None,
    }
    assert metrics["threshold_MeV"] == 0.1
    assert metrics["seed"] == 3
    e, pi = metrics["samples"]["toy-e"], metrics["samples"]["toy-pi"]
    assert e["n_showers"] == 1500
    assert metrics["training"]["n_showers"] == 1500
    assert abs(e["summary"]["auc_low"] - 0.5) < 0.1
    assert pi["summary"]["auc_low"] > 0.9
    assert pi["summary"]["separation_power_max"] > 10 * e["summary"]["separation_power_max"] > 0
    assert pi["fpd"]["value"] > 10 * pi["fpd"]["error"]
    assert e["timing"]["ms_per_shower"] == 1.5
    assert pi["timing"] == {
        "ms_per_shower": 0.25,
        "device": "cpu",
        "batch_size": 1000,
    }
    # the terminal table
    assert "AUC low-level" in stdout
    assert "toy-pi" in stdout
    assert "report:" in stdout


def test_report_page_is_self_contained(report):
    out, _ = report
    page = (out / "index.html").read_text()
    assert page.count('<img class="plot"') >= 30
    assert page.count('src="data:image/png;base64,') == page.count("<img")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched from elsewhere
    for text in (
        "Summary",
        "Classifier two-sample test",
        "Correlations between observables",
        "Per incident-energy bin",
        "threshold",
        "seed",
        "toy-e",
    ):
        assert text in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.browser
def test_report_renders_in_a_headless_browser(report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium); cannot render the report")
    out, _ = report
    url = (out / "index.html").resolve().as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the page's own script counts the <img> plots that decoded (naturalWidth > 0) after load
    total = re.search(r'data-plots-total="(\d+)"', dom.stdout)
    rendered = re.search(r'data-plots-rendered="(\d+)"', dom.stdout)
    assert total, dom.stdout[:500]
    assert rendered, dom.stdout[:500]
    assert int(total.group(1)) >= 30
    assert rendered.group(1) == total.group(1)

    shot = tmp_path / "report.png"
    run = subprocess.run(
        [browser, *flags, "--window-size=1280,2400", f"--screenshot={shot}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.is_file()
    from matplotlib import image

    pixels = image.imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    dark = (pixels.mean(axis=2) < 0.9).mean()  # text, table lines and plot contents
    rgb = (pixels * 255).astype(np.uint32)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert dark > 0.05
    assert len(colours) > 200


# --------------------------------------------------------------------------------------------------
# bad input: exit 1, one line on stderr naming the file, no report written
# --------------------------------------------------------------------------------------------------
def _fails(args: list[str], *needles: str, report_dir: Path | None = None) -> None:
    result = runner.invoke(app, ["evaluate", "--quiet", *args])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    if report_dir is not None:
        assert not (report_dir / "index.html").exists()
        assert not (report_dir / "metrics.json").exists()


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(4)
    out = {"ref": tmp / "ref.h5", "gen": tmp / "gen.h5", "photons": tmp / "photons.h5"}
    write(out["ref"], toy_showers(TINY, 200, rng))
    write(out["gen"], toy_showers(TINY, 200, rng))
    write(out["photons"], toy_showers(get_preset("calochallenge-1-photons"), 50, rng))
    out["empty"] = tmp / "empty.h5"
    NativeWriter(out["empty"], TINY).close()
    s = toy_showers(TINY, 50, rng)
    bad = s.showers.copy()
    bad[7, 3] = np.nan
    out["nan"] = tmp / "nan.h5"
    write(out["nan"], ShowerSet.from_arrays(s.energy, bad, TINY, validate=False))
    other = Geometry(
        name="tiny-other", layers=(ReadoutLayer(CylindricalBins((0, 1, 2, 3, 4), 8), 0.0, 1.0, 0),), threshold=0.1
    )
    out["rebinned"] = tmp / "rebinned.h5"
    write(out["rebinned"], toy_showers(other, 50, rng))
    return out


def test_different_geometries(small_files, tmp_path):
    f = small_files
    report_dir = tmp_path / "r"
    _fails(
        ["-r", str(f["ref"]), "--generated", str(f["photons"]), "-o", str(report_dir)],
        "photons.h5",
        "368 voxels",
        "32",
        report_dir=report_dir,
    )
    _fails(
        ["-r", str(f["ref"]), "--generated", str(f["rebinned"]), "-o", str(report_dir)],
        "rebinned.h5",
        "different readout binnings",
        report_dir=report_dir,
    )
    _fails(
        ["-r", str(f["ref"]), "--generated", str(f["gen"]), "--train", str(f["photons"]), "-o", str(report_dir)],
        "photons.h5",
        report_dir=report_dir,
    )


def test_empty_nan_and_missing_files(small_files, tmp_path):
    f = small_files
    report_dir = tmp_path / "r"
    _fails(
        ["-r", str(f["ref"]), "--generated", str(f["empty"]), "-o", str(report_dir)],
        "empty.h5",
        "no showers",
        report_dir=report_dir,
    )
    _fails(
        ["-r", str(f["empty"]), "--generated", str(f["gen"]), "-o", str(report_dir)],
        "reference",
        "empty.h5",
        report_dir=report_dir,
    )
    _fails(
        ["-r", str(f["ref"]), "--generated", str(f["nan"]), "-o", str(report_dir)],
        "nan.h5",
        "NaN",
        report_dir=report_dir,
    )
    _fails(
        ["-r", str(tmp_path / "nope.h5"), "--generated", str(f["gen"]), "-o", str(report_dir)],
        "nope.h5",
        "does not exist",
    )


def test_bad_options(small_files, tmp_path):
    f = small_files
    base = ["-r", str(f["ref"]), "--generated", str(f["gen"]), "-o", str(tmp_path / "r")]
    _fails([*base, "--label", "a", "--label", "b"], "2 --label values for 1 --generated")
    _fails([*base, "--timing", "fast"], "--timing 'fast'")
    _fails([*base, "--classifier-inputs", "pixels"], "unknown classifier inputs pixels")
    _fails([*base, "--classifier-preset", "huge"], "unknown classifier preset 'huge'")
    (tmp_path / "file").write_text("x")
    _fails(
        [
            "-r",
            str(f["ref"]),
            "--generated",
            str(f["gen"]),
            "--no-classifier",
            "--no-plots",
            "-o",
            str(tmp_path / "file"),
        ],
        "not a folder",
    )


def test_quick_run_without_plots_or_classifier(small_files, tmp_path):
    f = small_files
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-q",
            "-r",
            str(f["ref"]),
            "--generated",
            str(f["gen"]),
            "--no-classifier",
            "--no-plots",
            "--quick",
            "--max-showers",
            "150",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"]["gen"]["n_showers"] == 150
    assert metrics["reference"]["n_showers"] == 150
    assert metrics["samples"]["gen"]["classifier"] == {}
    assert "<img" not in (out / "index.html").read_text()


def test_classifier_repeats_in_table_json_and_report(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("ref", "gen"):
        write(tmp_path / f"{name}.h5", toy_showers(TINY, 600, rng))
    out = tmp_path / "report"
    args = [
        "evaluate", "-r", str(tmp_path / "ref.h5"), "--generated", str(tmp_path / "gen.h5"), "--quick",
        "--classifier-inputs", "high", "--classifier-repeats", "2", "--no-plots", "-q", "-o", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "250"})  # a wide terminal: rich wraps the cells otherwise
    assert result.exit_code == 0, result.output
    assert "mean ± sd of 2 runs" in result.stdout
    summary = json.loads((out / "metrics.json").read_text())["samples"]["gen"]["summary"]
    assert summary["auc_high_std"] >= 0
    runs = json.loads((out / "metrics.json").read_text())["samples"]["gen"]["classifier_runs"]["high"]
    assert summary["auc_high"] == pytest.approx(np.mean([r["auc"] for r in runs]))
    assert "Mean ± standard deviation over the classifier runs" in (out / "index.html").read_text()
    result = runner.invoke(app, [*args[:-2], "--classifier-repeats", "0", "-o", str(out)])
    assert result.exit_code != 0
