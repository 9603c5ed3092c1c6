"""Fidelity and speed of a flow-matching model against the number of ODE steps (docs/flowmatching.md).

For each step count the model samples showers at the incident energies (and particles) of a held-out reference
sample, and the script reports the classifier AUCs (low- and high-level inputs, caloforge.validation's
classifier test), the mean separation power of the quick metrics, and the generation time per shower at batch
10,000 through FastSim on ``--threads`` CPU threads. Distilled models (``--distilled``) are evaluated with their
own solver settings. Prints a Markdown table and writes the rows as JSON.

    python scripts/flowmatch_steps.py --model runs/fm-eplus --reference eplus_heldout.h5 \\
        --steps 1,2,4,8,16,32 --distilled runs/fm-eplus-reflow --json steps.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np


def _time_per_shower(sim: Any, energy: np.ndarray, particle: Any, batch: int, repeats: int = 2) -> float:
    """Best wall-clock milliseconds per shower over ``repeats`` batches of ``batch`` showers (after a warm-up)."""
    e = np.resize(energy, batch)
    p = None if particle is None else np.resize(particle, batch)
    sim.sample(e[: min(batch, 1000)], p if p is None else p[: min(batch, 1000)], seed=0)
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        sim.sample(e, p, seed=100 + r, batch_size=batch)
        best = min(best, time.perf_counter() - t0)
    return best / batch * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="flowmatch model folder, run folder or pretrained name")
    parser.add_argument("--reference", required=True, help="held-out reference showers (not in the training file)")
    parser.add_argument("--steps", default="1,2,4,8,16,32", help="solver steps to evaluate, comma-separated")
    parser.add_argument("--solver", default=None, help="euler, midpoint or heun (default: the model's)")
    parser.add_argument(
        "--time-shift", type=float, default=None, help="shift of the solver's time grid (default: the model's)"
    )
    parser.add_argument(
        "--energy-steps", type=int, default=None, help="stage 1's steps for every row (default: as stage 2's)"
    )
    parser.add_argument("--distilled", action="append", default=[], help="distilled models (their own settings)")
    parser.add_argument("--n", type=int, default=None, help="use at most N reference showers")
    parser.add_argument("--classifier-preset", default="default", help="default, calochallenge or quick")
    parser.add_argument(
        "--inputs", default="low,high", help="classifier inputs, comma-separated ('none': no classifier)"
    )
    parser.add_argument(
        "--train",
        default=None,
        help="training file: recalibrate the voxel cut of every step count on it (FlowMatch.calibrate), as the "
        "training loop does for the model's own settings; without it every step count uses the model's cut",
    )
    parser.add_argument("--no-timing", action="store_true", help="skip the timing (e.g. while other jobs run)")
    parser.add_argument("--threads", type=int, default=2, help="FastSim threads for the timing (default 2)")
    parser.add_argument("--batch", type=int, default=10_000, help="timing batch size (default 10,000)")
    parser.add_argument("--seed", type=int, default=1, help="generation seed")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)

    import torch

    from caloforge.inference import FastSim
    from caloforge.io import read
    from caloforge.models import load_model, resolve_model_path
    from caloforge.validation import quick_metrics, shower_features
    from caloforge.validation.classifier import classifier_inputs, classifier_preset, classifier_test

    torch.set_num_threads(args.threads)
    reference = read(args.reference, stop=args.n)
    ref_features = shower_features(reference.showers, reference.energy, reference.geometry)
    kinds = [] if args.inputs == "none" else args.inputs.split(",")
    ref_inputs = {kind: classifier_inputs(kind, reference.showers, ref_features) for kind in kinds}
    preset = classifier_preset(args.classifier_preset)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"reference {args.reference}: {len(reference):,} showers; classifier preset {args.classifier_preset}; "
        f"timing: FastSim, {args.threads} threads, batch {args.batch:,}, load average {load:.2f}",
        file=sys.stderr,
    )

    base = load_model(resolve_model_path(args.model))
    candidates: list[tuple[str, Any]] = [
        (
            args.model,
            base.with_sampling(  # type: ignore[attr-defined]
                steps=int(s), energy_steps=args.energy_steps or int(s), solver=args.solver, time_shift=args.time_shift
            ),
        )
        for s in args.steps.split(",")
    ]
    candidates += [(path, load_model(resolve_model_path(path))) for path in args.distilled]
    if args.train:
        training = read(args.train, stop=5_000)
        for _, model in candidates[: len(candidates) - len(args.distilled)]:
            model.calibrate(training, seed=args.seed + 1000)

    rows = []
    for name, model in candidates:
        sim = FastSim(model, threads=args.threads)
        ms = math.nan if args.no_timing else _time_per_shower(sim, reference.energy, reference.particle, args.batch)
        generated = sim.sample(reference.energy, reference.particle, seed=args.seed, batch_size=args.batch)
        features = shower_features(generated.showers, generated.energy, reference.geometry)
        row: dict[str, Any] = {
            "model": name,
            "solver": model.config.solver,
            "steps": model.config.steps,
            "energy_steps": model.config.energy_steps or model.config.steps,
            "time_shift": model.config.time_shift,
            "evaluations": list(model.config.evaluations),
            "ms_per_shower": ms,
            "sep_mean": quick_metrics(reference, generated)["sep_mean"],
            "voxel_cut_MeV": None if model.config.voxel_cut is None else list(model.config.voxel_cut),
            "n_reference": len(reference),
        }
        for kind, ref_x in ref_inputs.items():
            result = classifier_test(
                ref_x, classifier_inputs(kind, generated.showers, features), config=preset, seed=0, inputs=kind
            )
            row[f"auc_{kind}"] = result.auc
            row[f"n_per_class_{kind}"] = result.n_per_class
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    print(
        "| model | solver | steps | time shift | evaluations (stage 1, 2) | "
        + " | ".join(f"AUC {k}" for k in kinds)
        + " | sep. power (mean) | ms/shower |"
    )
    print("|---|---|---|---|---|" + "---|" * len(kinds) + "---|---|")
    for r in rows:
        aucs = " | ".join(f"{r[f'auc_{k}']:.3f}" for k in kinds)
        print(
            f"| {r['model']} | {r['solver']} | {r['steps']} | {r['time_shift']:g} | "
            f"{r['evaluations'][0]}, {r['evaluations'][1]} | {aucs} | "
            f"{r['sep_mean']:.4f} | {r['ms_per_shower']:.3f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
