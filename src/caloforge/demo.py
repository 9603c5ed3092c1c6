"""The main job end to end (``caloforge demo`` / ``make demo``).

1. simulate a fresh reference sample with the detailed Monte Carlo (:mod:`caloforge.detsim`);
2. generate showers at the same incident energies with a pretrained model (:class:`~caloforge.inference.FastSim`);
3. compare them with the community's metrics and write the HTML report (:mod:`caloforge.validation`);
4. summarise: the speed-up of generation over simulation measured in this run, classifier AUCs, and the
   worst separation powers.

Both timings are wall-clock time per shower on the same machine in the same process run, each using every
core it is given (simulation: worker processes; generation: torch threads).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """What the demo measured."""

    model: str
    geometry: str
    particle: str
    n_showers: int
    simulation_ms_per_shower: float
    generation_ms_per_shower: float
    speedup: float
    aucs: dict[str, float]
    worst_separation: list[tuple[str, float]]
    report: Path
    files: dict[str, Path] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "geometry": self.geometry,
            "particle": self.particle,
            "n_showers": self.n_showers,
            "simulation_ms_per_shower": self.simulation_ms_per_shower,
            "generation_ms_per_shower": self.generation_ms_per_shower,
            "speedup": self.speedup,
            "classifier_auc": self.aucs,
            "worst_separation_power": dict(self.worst_separation),
            "report": str(self.report),
            "files": {k: str(v) for k, v in self.files.items()},
        }


def run_demo(
    output: str | Path = "demo-output",
    *,
    model: str = "calogan-eplus",
    n: int = 2_000,
    seed: int = 1,
    workers: int | None = None,
    classifier: bool = True,
    say: Callable[[str], None] = print,
    sim_progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Simulate, generate, evaluate; return the measured summary.

    Args:
        output: folder for ``reference.h5``, ``generated.h5``, ``report/`` and ``summary.json``.
        model: pretrained model name or model/run folder.
        n: showers in each sample.
        seed: seeds the simulation, the generation and the evaluation.
        workers: simulation worker processes and generation threads (``None``: all cores).
        classifier: run the classifier two-sample test.
        say: receives one line per step.
        sim_progress: ``(done, total)`` callback for the simulation progress bar.

    Raises:
        ConfigError: ``n`` too small for the classifier split.
        ModelError: unknown model.
    """
    from caloforge import detsim
    from caloforge.exceptions import ConfigError
    from caloforge.inference import FastSim
    from caloforge.io import atomic_path, particle_name, write
    from caloforge.validation import EvaluationConfig, Timing, evaluate, write_report

    if n < 200:
        raise ConfigError(f"--n must be at least 200 for a meaningful comparison, got {n}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    cores = workers or os.cpu_count() or 1

    fast = FastSim.load(model, threads=cores)
    geometry = fast.geometry
    particles = fast.particles
    if not particles:
        raise ConfigError(f"model {model!r} does not say which particle it simulates")
    particle = particle_name(int(particles[0]))
    e_lo, e_hi = fast.energy_range
    say(f"model {model}: {geometry.name}, {particle}, {e_lo / 1e3:g}-{e_hi / 1e3:g} GeV")

    # 1. reference sample (uniform energies over the model's range, like the CaloGAN samples)
    say(f"simulating {n} {particle} showers with the reference Monte Carlo on {cores} cores ...")
    t0 = time.perf_counter()
    reference = detsim.simulate(
        geometry, particle, (e_lo, e_hi), n, seed=seed, spectrum="uniform", workers=cores, progress=sim_progress
    )
    sim_seconds = time.perf_counter() - t0
    assert not isinstance(reference, Path)
    ref_path = write(out / "reference.h5", reference)

    # 2. generated sample at the same energies; one warm-up batch so that the timing excludes start-up
    fast.sample(reference.energy[: min(100, n)], particle=particle, seed=seed + 1)
    t0 = time.perf_counter()
    generated = fast.sample(reference.energy, particle=particle, seed=seed + 1)
    gen_seconds = time.perf_counter() - t0
    gen_path = write(out / "generated.h5", generated)
    sim_ms = 1e3 * sim_seconds / n
    gen_ms = 1e3 * gen_seconds / n
    say(f"reference simulation {sim_ms:.1f} ms/shower, generation {gen_ms:.4f} ms/shower")

    # 3. evaluation
    label = Path(str(model)).name
    config = EvaluationConfig(seed=seed, classifier=classifier)
    evaluation = evaluate(
        reference,
        {label: generated},
        config=config,
        sources={"reference": str(ref_path), label: str(gen_path)},
        timings={label: Timing(gen_ms, device=f"cpu, {cores} threads", batch_size=10_000)},
        progress=say,
    )
    report = write_report(evaluation, out / "report")
    sample = evaluation.samples[label]
    aucs = {kind: float(r.auc) for kind, r in sample.classifier.items()}
    result = DemoResult(
        model=str(model),
        geometry=geometry.name,
        particle=particle,
        n_showers=n,
        simulation_ms_per_shower=sim_ms,
        generation_ms_per_shower=gen_ms,
        speedup=sim_ms / gen_ms if gen_ms > 0 else float("inf"),
        aucs=aucs,
        worst_separation=[(k, float(v)) for k, v in sample.worst_features(5)],
        report=report,
        files={"reference": ref_path, "generated": gen_path},
    )
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return result
