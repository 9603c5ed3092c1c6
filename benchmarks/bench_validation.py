"""Speed of the validation: observables, histogram metrics, quick_metrics, FPD/KPD, PRDC and the classifier test
(``make bench``; prints a table, asserts nothing).

Two independent samples of N toy showers (``caloforge.validation.toy``, CaloGAN geometry: 3 layers, 504 voxels)
stand in for reference and generated showers. Targets from the issue: observables and histogram metrics for
100,000 × 504 showers in well under a minute on 2 cores; ``quick_metrics`` on 10,000 × 504 in well under a
second; the classifier test with the default settings on 2 × 100,000 showers in ≤ 10 minutes on 2 cores.

    python benchmarks/bench_validation.py                      # everything, N = 100 000 (~10 min)
    python benchmarks/bench_validation.py --skip-classifier    # the rest (~1 min)
    python benchmarks/bench_validation.py --classifier-preset calochallenge --classifier-inputs low
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

_CPU: list[float] = []  # CPU seconds of the last _timed call (all threads of this process)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _CPU[:] = [time.process_time() - cpu]
    return time.perf_counter() - start, out


def _cpu() -> str:
    # on a shared machine wall time overstates; CPU seconds / threads is what an idle machine would take
    return f"CPU {_CPU[0]:.0f} s" if _CPU else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="showers per sample (default 100000)")
    parser.add_argument("--geometry", default="calogan", help="preset geometry (default calogan, 504 voxels)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads of the numpy steps (default 2)")
    parser.add_argument(
        "--classifier-threads",
        type=int,
        default=None,
        help="torch threads of the classifier (default: the preset's, 1)",
    )
    parser.add_argument("--skip-classifier", action="store_true", help="do not time the classifier test")
    parser.add_argument("--classifier-preset", default="default", help="default, calochallenge or quick")
    parser.add_argument("--classifier-inputs", default="low,low_normed,high", help="comma-separated input kinds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    from caloforge.geometry import get_preset
    from caloforge.validation.binning import feature_binning, histogram, voxel_binning, voxel_extent, voxel_histogram
    from caloforge.validation.metrics import (
        frechet_physics_distance,
        kernel_physics_distance,
        ks_distance,
        precision_recall_density_coverage,
        separation_power_from_counts,
        wasserstein_1,
    )
    from caloforge.validation.observables import feature_specs, high_level_vector, shower_features
    from caloforge.validation.quick import quick_metrics
    from caloforge.validation.toy import toy_showers

    g = get_preset(args.geometry)
    rng = np.random.default_rng(args.seed)
    t_gen, (ref, gen) = _timed(lambda: (toy_showers(g, args.n, rng), toy_showers(g, args.n, rng)))
    rows: list[tuple[str, str, str]] = [
        ("toy generation (not part of the evaluation)", f"2 × {args.n:,} × {g.n_voxels}", f"{t_gen:.1f} s"),
    ]

    def observables_and_histograms() -> int:
        specs = feature_specs(g)
        f_ref = shower_features(ref.showers, ref.energy, g)
        f_gen = shower_features(gen.showers, gen.energy, g)
        c_ref, c_gen = f_ref.columns(specs), f_gen.columns(specs)
        for s in specs:
            b = feature_binning(s, c_ref[s.name], g, f_ref.threshold)
            separation_power_from_counts(histogram(c_ref[s.name], b), histogram(c_gen[s.name], b))
            ks_distance(c_ref[s.name], c_gen[s.name])
            wasserstein_1(c_ref[s.name], c_gen[s.name])
        top, low = voxel_extent(ref.showers, g.threshold)
        vb = voxel_binning(top, g.threshold, low)
        voxel_histogram(ref.showers, vb, g.threshold)
        voxel_histogram(gen.showers, vb, g.threshold)
        return len(specs)

    t_obs, n_specs = _timed(observables_and_histograms)
    rows.append(
        (
            "observables + histogram metrics (S, KS, W1, voxel spectrum)",
            f"2 × {args.n:,}, {n_specs} features",
            f"{t_obs:.1f} s ({_cpu()})",
        )
    )

    small_ref, small_gen = ref[:10_000], gen[:10_000]
    quick_metrics(small_ref, small_gen)  # warm-up (first calls build geometry caches)
    times = [_timed(lambda: quick_metrics(small_ref, small_gen))[0] for _ in range(5)]
    rows.append(("quick_metrics (median of 5)", f"2 × {len(small_ref):,}", f"{1000 * float(np.median(times)):.0f} ms"))

    h_ref = high_level_vector(shower_features(ref.showers, ref.energy, g))
    h_gen = high_level_vector(shower_features(gen.showers, gen.energy, g))
    t_fpd, fpd = _timed(lambda: frechet_physics_distance(h_ref, h_gen, seed=args.seed))
    rows.append(
        (
            "FPD (20k–50k, 10 × 20 batches)",
            f"{h_ref.shape[1]} features",
            f"{t_fpd:.1f} s (FPD×10³ = {1e3 * fpd.value:.3g} ± {1e3 * fpd.error:.2g})",
        )
    )
    t_kpd, kpd = _timed(lambda: kernel_physics_distance(h_ref, h_gen, seed=args.seed))
    rows.append(
        (
            "KPD (10 × 5000, cubic kernel)",
            f"{h_ref.shape[1]} features",
            f"{t_kpd:.1f} s (KPD×10³ = {1e3 * kpd.value:.3g} ± {1e3 * kpd.error:.2g})",
        )
    )
    floor = max(g.threshold / 10, 1e-3)
    t_prdc, _ = _timed(
        lambda: precision_recall_density_coverage(
            np.log10(np.maximum(ref.showers[:5000], floor)),
            np.log10(np.maximum(gen.showers[:5000], floor)),
            seed=args.seed,
        )
    )
    rows.append(("precision/recall/density/coverage", f"2 × 5,000 × {g.n_voxels}", f"{t_prdc:.1f} s"))

    if not args.skip_classifier:
        import torch

        from caloforge.validation.classifier import classifier_inputs, classifier_preset, classifier_test

        config = classifier_preset(args.classifier_preset)
        if args.classifier_threads is not None:
            config = config.with_changes(threads=args.classifier_threads)
        if config.threads is None:
            torch.set_num_threads(args.threads)
        f_ref = shower_features(ref.showers, ref.energy, g)
        f_gen = shower_features(gen.showers, gen.energy, g)
        total, total_cpu = 0.0, 0.0
        for kind in [k.strip() for k in args.classifier_inputs.split(",") if k.strip()]:
            t, result = _timed(
                lambda kind=kind: classifier_test(
                    classifier_inputs(kind, ref.showers, f_ref),
                    classifier_inputs(kind, gen.showers, f_gen),
                    config=config,
                    seed=args.seed,
                    inputs=kind,
                )
            )
            total += t
            total_cpu += _CPU[0]
            rows.append(
                (
                    f"classifier '{args.classifier_preset}' ({config.threads or args.threads} thr.), {kind} inputs",
                    f"2 × {args.n:,}",
                    f"{t:.0f} s ({_cpu()}; {result.epochs_run} epochs, best {result.best_epoch}; AUC {result.auc:.3f})",
                )
            )
        rows.append(
            (
                "classifier, all inputs",
                f"2 × {args.n:,}",
                f"{total:.0f} s = {total / 60:.1f} min (CPU {total_cpu:.0f} s)",
            )
        )

    width = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("step", "size", "time")
    width = [max(w, len(h)) for w, h in zip(width, header, strict=True)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"validation benchmark: {g.name}, {args.threads} threads, {os.cpu_count()} CPUs visible, load {load:.1f}")
    print(" | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)))
    print("-+-".join("-" * w for w in width))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
