"""Deployment benchmark: time per shower of every model, backend and precision, beside the reference simulation.

For each model (the shipped pretrained ones and any given by name or path — or, when there are none, every
family at its default size with random weights: speed does not depend on training) and each backend ×
precision, :func:`run_benchmark` times ``FastSim.sample`` — the path of ``caloforge generate``: noise drawn on
the CPU, the backend's forward pass, showers back as a ShowerSet in MeV — at each batch size, at one incident
energy (50 GeV by default). A batch's time is the best of several repeats after a warm-up, divided by the
batch size; process CPU time (summed over threads) is recorded too. Peak memory is the largest resident-set
growth during the largest batch (sampled every millisecond; CUDA: ``torch.cuda.max_memory_allocated``).

In the same process it runs the reference simulation (:mod:`caloforge.detsim`) for a few showers at the same
energy, on one core, and gives each model's speed-up as the measured ratio of times per shower. Reduced
precisions are compared with the float32 torch model on the same noise (:mod:`caloforge.inference.fidelity`),
and against a reference sample when one is given.

Timings on a shared machine are upper bounds: the report records the load average before and after.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge._version import __version__
from caloforge.exceptions import CaloforgeError, ModelError

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.inference.fastsim import FastSim
    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel

__all__ = [
    "DEFAULT_VARIANTS",
    "BenchmarkReport",
    "ModelEntry",
    "SimTiming",
    "VariantResult",
    "models_to_benchmark",
    "run_benchmark",
    "time_reference_simulation",
    "write_report",
]

#: (backend, precision) pairs benchmarked by default
DEFAULT_VARIANTS: tuple[tuple[str, str], ...] = (
    ("torch", "fp32"),
    ("torch", "bf16"),
    ("onnx", "fp32"),
    ("onnx", "fp16"),
    ("onnx", "int8"),
    ("onnx", "int8-static"),
)
#: the issue's targets (docs/deployment.md): int8 vs float32 onnxruntime at batch 10,000, and the speed-up
INT8_SPEEDUP_TARGET = 1.5
SEPARATION_GROWTH_TARGET = 0.005
SPEEDUP_TARGET = 1e4


# --------------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------------
def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@contextlib.contextmanager
def _peak_rss(result: dict[str, float]) -> Iterator[None]:
    """Sample the resident set every millisecond; ``result["mb"]`` = its largest growth in MB."""
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(0.001)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes())
        result["mb"] = (peak[0] - base) / 1e6


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


@dataclass
class SimTiming:
    """The reference simulation's time per shower (one core) at one energy."""

    geometry: str
    particle: str
    energy_MeV: float
    n_showers: int
    ms_wall: float
    ms_cpu: float
    note: str = ""


def time_reference_simulation(
    geometry: Geometry | str, particle: str = "e+", energy: float = 50_000.0, n: int = 3, seed: int = 0
) -> SimTiming:
    """Time ``caloforge.detsim`` for ``n`` showers of ``particle`` at ``energy`` MeV in this process, one core.

    A one-shower run at 1 GeV first compiles the kernel and builds the physics tables, which are not counted.

    Raises:
        SimulationError: a geometry without a physical stack (readout only) or a particle detsim cannot track.
    """
    from caloforge.detsim import simulate
    from caloforge.geometry import resolve_geometry

    g = resolve_geometry(geometry)
    simulate(g, particle, 1_000.0, n=1, seed=seed, workers=1)
    wall, cpu = time.perf_counter(), time.process_time()
    simulate(g, particle, float(energy), n=n, seed=seed + 1, workers=1)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return SimTiming(g.name, particle, float(energy), n, wall / n * 1e3, cpu / n * 1e3)


@dataclass
class VariantResult:
    """One model on one backend and precision.

    Attributes:
        ms_wall, ms_cpu: ``{batch: ms per shower}`` (CPU time summed over threads).
        speedup: ``{batch: reference-simulation wall time / this wall time}`` per shower.
        peak_mb: resident-set (or CUDA memory) growth during the largest batch, MB.
        size_mb: the weights as the backend holds them (ONNX: the serialised graph).
        fidelity: against the torch float32 model on the same noise (reduced precisions).
        deviation: ONNX float32 only: largest difference from torch float32 in units of the export tolerance.
        error: why the variant could not run (then no timings).
    """

    backend: str
    precision: str
    device: str
    threads: int
    ms_wall: dict[int, float] = field(default_factory=dict)
    ms_cpu: dict[int, float] = field(default_factory=dict)
    speedup: dict[int, float] = field(default_factory=dict)
    peak_mb: float | None = None
    size_mb: float | None = None
    fidelity: dict[str, Any] | None = None
    deviation: float | None = None
    setup_seconds: float = 0.0
    error: str = ""


@dataclass
class ModelEntry:
    """A model to benchmark: how it is named, and whether its weights are trained."""

    label: str
    model: GenerativeModel
    trained: bool
    source: str
    onnx: Any = None  # its float32 ONNX export (onnx.ModelProto), if already made

    @property
    def family(self) -> str:
        return self.model.family


@dataclass
class BenchmarkReport:
    """Everything :func:`run_benchmark` measured (JSON: :meth:`to_dict`; Markdown: :meth:`to_markdown`)."""

    batches: list[int]
    energy_MeV: float
    machine: dict[str, Any]
    models: list[dict[str, Any]]
    simulations: list[SimTiming]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "caloforge_version": __version__,
            "batches": self.batches,
            "energy_MeV": self.energy_MeV,
            "machine": self.machine,
            "simulations": [asdict(s) for s in self.simulations],
            "models": self.models,
            "targets": self.targets(),
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(_clean(self.to_dict()), indent=2)

    def rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for m in self.models:
            for v in m["variants"]:
                yield m, v

    def targets(self) -> list[dict[str, Any]]:
        """The issue's two targets, as measured (not asserted)."""
        out: list[dict[str, Any]] = []
        big = max(self.batches)
        for m in self.models:
            by = {(v["backend"], v["precision"]): v for v in m["variants"]}
            fp32, int8 = by.get(("onnx", "fp32")), by.get(("onnx", "int8"))
            if fp32 and int8 and big in fp32["ms_wall"] and big in int8["ms_wall"]:
                ratio = fp32["ms_wall"][big] / int8["ms_wall"][big]
                fid = int8.get("fidelity") or {}
                ref = fid.get("reference")
                growth = ref["sep_max_growth"] if ref else None
                out.append(
                    {
                        "target": f"int8 >= {INT8_SPEEDUP_TARGET}x faster than fp32 onnxruntime at batch {big}",
                        "model": m["label"],
                        "measured": ratio,
                        "met": ratio >= INT8_SPEEDUP_TARGET,
                        "worst_separation_growth": growth,
                        "worst_separation_vs_fp32": fid.get("sep_max"),
                        "separation_met": None if growth is None else growth <= SEPARATION_GROWTH_TARGET,
                    }
                )
        best = None
        for m, v in self.rows():
            for batch, s in v["speedup"].items():
                if best is None or s > best[0]:
                    best = (s, m["label"], v["backend"], v["precision"], batch)
        if best is not None:
            out.append(
                {
                    "target": f"fastest model >= {SPEEDUP_TARGET:.0e}x faster per shower than the reference simulation",
                    "model": best[1],
                    "variant": f"{best[2]} {best[3]} batch {best[4]}",
                    "measured": best[0],
                    "met": best[0] >= SPEEDUP_TARGET,
                }
            )
        return out

    def table_rows(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the summary table (terminal and Markdown)."""
        header = ["model", "weights", "backend", "precision", "params", "size MB"]
        header += [f"ms/shower @{b}" for b in self.batches]
        header += [f"speed-up @{max(self.batches)}", "peak MB", "sep. max vs fp32", "proj. MSE vs fp32"]
        rows = []
        big = max(self.batches)
        for m, v in self.rows():
            fid = v.get("fidelity") or {}
            row = [
                m["label"],
                "trained" if m["trained"] else "random",
                v["backend"] if v["device"] == "cpu" else f"{v['backend']} {v['device']}",
                v["precision"],
                f"{m['n_parameters']:,}",
                _fmt(v.get("size_mb"), ".2f"),
            ]
            if v.get("error"):
                rows.append([*row, *([""] * len(self.batches)), "", "", "", f"not run: {v['error']}"])
                continue
            row += [_fmt(v["ms_wall"].get(b), ".4g") for b in self.batches]
            row += [_fmt(v["speedup"].get(big), ".3g"), _fmt(v.get("peak_mb"), ".0f")]
            if fid:
                row += [_fmt(fid.get("sep_max"), ".2g"), _fmt(max(fid["projection_mse"].values()), ".2g")]
            elif v.get("deviation") is not None:
                row += [f"dev {v['deviation']:.2g} tol", ""]
            else:
                row += ["(baseline)" if (v["backend"], v["precision"]) == ("torch", "fp32") else "", ""]
            rows.append(row)
        return header, rows

    def to_markdown(self) -> str:
        header, rows = self.table_rows()
        lines = [
            f"Measured {self.machine['date']} with caloforge {__version__} on {self.machine['cpu']} "
            f"({self.machine['cores']} cores), load average {self.machine['load_before']:.2f} before / "
            f"{self.machine['load_after']:.2f} after; torch {self.machine['torch']}, onnxruntime "
            f"{self.machine['onnxruntime']}; models on {self.machine['threads']} CPU threads. Energy "
            f"{self.energy_MeV / 1e3:g} GeV. Times are wall clock per shower, best of several batches; on a shared "
            "machine they are upper bounds.",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
        lines.append("")
        for s in self.simulations:
            lines.append(
                f"Reference simulation (caloforge.detsim, one core): {s.particle} at {s.energy_MeV / 1e3:g} GeV in "
                f"{s.geometry}: {s.ms_wall:.1f} ms/shower wall, {s.ms_cpu:.1f} ms CPU ({s.n_showers} showers). {s.note}"
            )
        for t in self.targets():
            met = "met" if t["met"] else "not met"
            extra = ""
            if "worst_separation_vs_fp32" in t:
                extra = f"; worst separation power vs fp32 {_fmt(t['worst_separation_vs_fp32'], '.2g')}"
                extra += _growth_text(t)
            lines.append(
                f"- {t['target']}: {t['model']} {t.get('variant', '')} measured {t['measured']:.3g} ({met}){extra}"
            )
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def print_table(self, console: Any = None) -> None:
        """The summary table with rich (to ``console`` or stdout; 160 columns when not a terminal)."""
        from rich.console import Console
        from rich.table import Table

        if console is None:
            console = Console()
            if not console.is_terminal:
                console = Console(width=160)
        header, rows = self.table_rows()
        short = {"weights": "wts", "precision": "prec.", "params": "params", "size MB": "MB", "peak MB": "peak MB"}
        table = Table(
            title=f"caloforge benchmark at {self.energy_MeV / 1e3:g} GeV: ms per shower (wall clock) at batch size @N",
            title_justify="left",
        )
        for h in header:
            label = short.get(h, h.replace("ms/shower ", "").replace("speed-up", "x sim"))
            table.add_column(label, no_wrap=h in ("backend", "precision"), overflow="fold")
        for r in rows:
            table.add_row(*(c.replace(" (default size)", "*") for c in r))
        console.print(table)
        if any(not m["trained"] for m in self.models):
            console.print("* default size, random weights")
        console.print(
            f"machine: {self.machine['cpu']}, {self.machine['cores']} cores, models on {self.machine['threads']} "
            f"threads, load average {self.machine['load_before']:.2f} before / {self.machine['load_after']:.2f} "
            "after (timings on a busy machine are upper bounds)"
        )
        for s in self.simulations:
            console.print(
                f"reference simulation: {s.particle} {s.energy_MeV / 1e3:g} GeV in {s.geometry}: "
                f"{s.ms_wall:.1f} ms/shower wall, {s.ms_cpu:.1f} ms CPU, one core, {s.n_showers} showers {s.note}"
            )
        for t in self.targets():
            console.print(
                f"target: {t['target']}: {t['model']} {t.get('variant', '')} {t['measured']:.3g} -> "
                f"{'met' if t['met'] else 'not met'}{_growth_text(t)}"
            )
        for n in self.notes:
            console.print(f"note: {n}")


def _growth_text(target: dict[str, Any]) -> str:
    """The separation-power part of the int8 target: its growth against the reference, met or not."""
    growth = target.get("worst_separation_growth")
    if growth is None:
        return ""
    met = "met" if target["separation_met"] else "not met"
    return f", worst separation power growth vs the reference {growth:.3g} (<= {SEPARATION_GROWTH_TARGET}: {met})"


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return format(value, spec)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------------
# which models
# --------------------------------------------------------------------------------------------------
def _random_model(family: str, geometry: Geometry, seed: int = 0) -> GenerativeModel:
    """A family at its default size with random weights, its preprocessing fitted on toy 1–100 GeV e+ showers."""
    from caloforge.models.registry import build_model
    from caloforge.validation.toy import toy_showers

    toy = toy_showers(geometry, 512, np.random.default_rng(seed))
    return build_model(family, geometry, data=toy, seed=seed)


def models_to_benchmark(
    names: Sequence[str | Path] = (), *, geometry: str = "calogan", families: Sequence[str] | None = None
) -> tuple[list[ModelEntry], list[str]]:
    """The models to time and notes about them.

    ``names`` (pretrained names, model or run folders) plus every shipped pretrained model; with neither, each
    family (or those in ``families``) at its default size with random weights for ``geometry``.

    Raises:
        ModelError: an unknown model name or an unreadable folder.
    """
    from caloforge.geometry import resolve_geometry
    from caloforge.models.registry import family_names, get_family, pretrained_models, resolve_model_path
    from caloforge.models.serialize import load_model

    entries: list[ModelEntry] = []
    notes: list[str] = []
    for name in names:
        path = resolve_model_path(name)
        entries.append(ModelEntry(str(name), load_model(path), True, str(path)))
    if not names:
        for m in pretrained_models().values():
            if m.builtin:
                entries.append(ModelEntry(m.name, load_model(m.path), True, str(m.path)))
    if not entries:
        g = resolve_geometry(geometry)
        for family in families or family_names():
            try:
                get_family(family).check_geometry(g)
            except CaloforgeError as exc:
                notes.append(f"{family} skipped: {exc}")
                continue
            entries.append(ModelEntry(f"{family} (default size)", _random_model(family, g), False, "random weights"))
        notes.append(
            "no pretrained model is shipped and none was given: every family at its default size with random "
            f"weights on geometry {g.name} (speed does not depend on training; fidelity numbers of random "
            "models are not physics)"
        )
    return entries, notes


# --------------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------------
def _time_batches(
    sim: FastSim, energy: float, batches: Sequence[int], particle: int | None, seed: int
) -> tuple[dict[int, float], dict[int, float], float | None]:
    """Best wall and CPU ms per shower at each batch size, and the peak memory growth of one largest batch
    (measured in a separate, untimed run: the memory sampler would disturb the timing)."""
    ms_wall: dict[int, float] = {}
    ms_cpu: dict[int, float] = {}
    kw: dict[str, Any] = {"extrapolation": "allow"}
    for b in sorted(batches):
        e = np.full(b, energy)
        sim.sample(e, particle, seed=seed, batch_size=b, **kw)  # warm-up: allocator, kernels, thread pools
        repeats = int(min(200, max(3, 20_000 // b)))
        wall = cpu = math.inf
        for r in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            sim.sample(e, particle, seed=seed + r, batch_size=b, **kw)
            wall = min(wall, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
        ms_wall[b] = wall / b * 1e3
        ms_cpu[b] = cpu / b * 1e3
    big = max(batches)
    e = np.full(big, energy)
    if str(getattr(sim.backend, "device", "cpu")).startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
        sim.sample(e, particle, seed=seed, batch_size=big, **kw)
        return ms_wall, ms_cpu, torch.cuda.max_memory_allocated() / 1e6
    peak: dict[str, float] = {}
    with _peak_rss(peak):
        sim.sample(e, particle, seed=seed, batch_size=big, **kw)
    return ms_wall, ms_cpu, peak.get("mb")


def _make_sim(
    entry: ModelEntry, backend: str, precision: str, device: str, threads: int, onnx_cache: dict[str, Any]
) -> tuple[FastSim, float | None]:
    """A FastSim of the entry and, for float32 ONNX, its deviation from torch; ONNX variants share one export."""
    from caloforge.inference.fastsim import FastSim

    if backend == "torch":
        return FastSim(entry.model, name=entry.label, device=device, precision=precision, threads=threads), None
    from caloforge.inference.export import check_against_torch, onnx_model, read_onnx

    if "fp32" not in onnx_cache:
        proto = entry.onnx if entry.onnx is not None else onnx_model(entry.model, name=entry.label)
        info = read_onnx(proto)
        onnx_cache["fp32"] = proto
        onnx_cache["info"] = info
        onnx_cache["deviation"] = check_against_torch(proto, entry.model, info.convention)
    proto, info = onnx_cache["fp32"], onnx_cache["info"]
    if precision != "fp32":
        from caloforge.inference.quantize import convert_precision

        proto = convert_precision(proto, precision, info.convention)
    sim = FastSim.from_onnx(proto.SerializeToString(), device=device, threads=threads, name=entry.label)
    return sim, (onnx_cache["deviation"] if precision == "fp32" else None)


def run_benchmark(
    entries: Sequence[ModelEntry],
    *,
    batches: Sequence[int] = (1, 100, 10_000),
    variants: Sequence[tuple[str, str]] = DEFAULT_VARIANTS,
    devices: Sequence[str] = ("cpu",),
    threads: int = 2,
    energy: float = 50_000.0,
    sim_showers: int = 3,
    fidelity_showers: int = 2000,
    reference: ShowerSet | None = None,
    reference_source: str = "",
    classifier: str | None = None,
    seed: int = 0,
    notes: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> BenchmarkReport:
    """Time every entry on every (backend, precision) and device, and the reference simulation.

    Args:
        entries: the models (:func:`models_to_benchmark`).
        batches: batch sizes.
        variants: ``(backend, precision)`` pairs.
        devices: ``"cpu"`` and/or ``"cuda"`` (skipped with a note when no GPU is present).
        threads: CPU threads of the backends (the reference simulation runs on one core).
        energy: incident energy of every shower, MeV.
        sim_showers: reference-simulation showers per (geometry, particle) (0: no simulation).
        fidelity_showers: showers of each reduced-precision fidelity check (0: none).
        reference: a reference sample for fidelity against the reference (its energies are used there).
        reference_source: its file name.
        classifier: classifier preset for AUCs against the reference (``None``: none).
        seed: noise seed.
        notes: extra notes for the report.
        progress: called with a line per step.
    """
    import torch

    say = progress or (lambda _m: None)
    if not batches or min(batches) < 1:
        raise ModelError(f"batch sizes must be >= 1, got {list(batches)}")
    if threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    all_notes = list(notes)
    use_devices = []
    for d in devices:
        if d.startswith("cuda") and not torch.cuda.is_available():
            all_notes.append(f"device {d} skipped: no CUDA device is available to torch")
            continue
        use_devices.append(d)
    machine = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_before": _load(),
        "torch": torch.__version__,
        "onnxruntime": _ort_version(),
        "threads": threads,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    machine["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    simulations: dict[tuple[Geometry, str], SimTiming] = {}
    if sim_showers > 0:
        for entry in entries:
            key = _sim_key(entry)
            if key in simulations:
                continue
            geometry, kind = key
            say(f"reference simulation: {sim_showers} x {kind} {energy / 1e3:g} GeV in {geometry.name}")
            try:
                simulations[key] = time_reference_simulation(geometry, kind, energy, sim_showers, seed)
            except CaloforgeError as exc:
                simulations[key] = time_reference_simulation("calogan", "e+", energy, sim_showers, seed)
                simulations[key].note = f"(the model's {geometry.name}/{kind} cannot be simulated: {exc})"

    models = []
    for entry in entries:
        from caloforge.inference.fastsim import FastSim

        m = entry.model
        particle = m.preprocessing.particles[0] if m.preprocessing.particles else None
        sim_time = simulations.get(_sim_key(entry))
        base = FastSim(m, name=entry.label, threads=threads)
        onnx_cache: dict[str, Any] = {}
        results = []
        for device in use_devices:
            for backend, precision in variants:
                label = f"{entry.label}: {backend} {precision} on {device}"
                say(label)
                res = VariantResult(backend, precision, device, threads)
                clock = time.perf_counter()
                try:
                    sim, res.deviation = _make_sim(entry, backend, precision, device, threads, onnx_cache)
                except CaloforgeError as exc:
                    res.error = str(exc)
                    results.append(res)
                    continue
                res.setup_seconds = time.perf_counter() - clock
                size = getattr(sim.backend, "n_bytes", None)
                bytes_per = {"fp32": 4, "bf16": 2, "fp16": 2}.get(precision, 4)
                res.size_mb = (size if size is not None else m.n_parameters * bytes_per) / 1e6
                res.ms_wall, res.ms_cpu, res.peak_mb = _time_batches(sim, energy, batches, particle, seed)
                if sim_time is not None:
                    res.speedup = {b: sim_time.ms_wall / t for b, t in res.ms_wall.items() if t > 0}
                if precision != "fp32" and fidelity_showers > 0 and device == "cpu":
                    from caloforge.inference.fidelity import compare_sims

                    say(f"{label}: fidelity against torch fp32")
                    res.fidelity = compare_sims(
                        base,
                        sim,
                        n=fidelity_showers,
                        seed=seed,
                        reference=reference,
                        reference_source=reference_source,
                        classifier=classifier,
                    ).to_dict()
                results.append(res)
        models.append(
            {
                "label": entry.label,
                "family": entry.family,
                "trained": entry.trained,
                "source": entry.source,
                "geometry": m.geometry.name,
                "n_voxels": m.geometry.n_voxels,
                "n_parameters": m.n_parameters,
                "variants": [asdict(r) for r in results],
            }
        )
    machine["load_after"] = _load()
    return BenchmarkReport(list(batches), float(energy), machine, models, list(simulations.values()), all_notes)


def _sim_key(entry: ModelEntry) -> tuple[Geometry, str]:
    """The geometry and particle the reference simulation runs for a model (calogan e+ if it cannot)."""
    from caloforge.geometry import get_preset
    from caloforge.io import particle_name

    m = entry.model
    particle = particle_name(m.preprocessing.particles[0]) if m.preprocessing.particles else "e+"
    geometry = m.geometry if m.geometry.stack is not None else get_preset("calogan")
    return geometry, particle


def _ort_version() -> str:
    try:
        import onnxruntime

        return str(onnxruntime.__version__)
    except ImportError:
        return "not installed"


def write_report(report: BenchmarkReport, json_path: str | Path | None, markdown_path: str | Path | None) -> None:
    """Write the JSON and/or Markdown files (atomically)."""
    from caloforge.io.files import atomic_path

    if json_path is not None:
        with atomic_path(json_path) as tmp:
            Path(tmp).write_text(report.to_json() + "\n")
    if markdown_path is not None:
        with atomic_path(markdown_path) as tmp:
            Path(tmp).write_text(report.to_markdown())
