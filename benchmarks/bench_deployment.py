"""Deployment benchmark (``make bench``; prints a table, asserts nothing): ``caloforge benchmark`` as a script.

Every shipped pretrained model and any given with ``--model`` — or, when there are none, every family at its
default size with random weights on the calogan geometry — on the torch backend (fp32, bf16) and onnxruntime
(fp32, fp16, int8 dynamic, int8 static): ms per shower at batch 1, 100 and 10,000 at 50 GeV, parameters, size,
peak memory, fidelity of each reduced precision against fp32 on the same noise, and the speed-up over the
reference simulation (caloforge.detsim, 3 showers of e+ at 50 GeV on one core, timed in the same process).

Targets (issue 8; measured, not asserted): int8 ≥ 1.5× faster than fp32 onnxruntime at batch 10,000 on the CPU
with the worst separation power growing by ≤ 0.005; the fastest model ≥ 10⁴× faster per shower than the
reference simulation at 50 GeV. Timings on a shared machine are upper bounds (the load average is printed).

    python benchmarks/bench_deployment.py
    python benchmarks/bench_deployment.py --model runs/calogan-eplus --json bench.json --markdown bench.md
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="pretrained name, model or run folder")
    parser.add_argument("--family", action="append", help="random-weight families to time (default: all)")
    parser.add_argument("--geometry", default="calogan", help="geometry of the random-weight models")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the models (default 2)")
    parser.add_argument("--batches", default="1,100,10000", help="batch sizes, comma-separated")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (cpu, and cuda when present)")
    parser.add_argument("--energy", type=float, default=50.0, help="incident energy in GeV (default 50)")
    parser.add_argument("--sim-showers", type=int, default=3, help="reference-simulation showers")
    parser.add_argument("--fidelity-showers", type=int, default=2000, help="showers per fidelity check")
    parser.add_argument("--json", default=None, help="write the report as JSON")
    parser.add_argument("--markdown", default=None, help="write the table as Markdown")
    args = parser.parse_args(argv)

    from caloforge.exceptions import CaloforgeError
    from caloforge.inference.benchmark import models_to_benchmark, run_benchmark, write_report

    try:
        entries, notes = models_to_benchmark(args.model, geometry=args.geometry, families=args.family)
        report = run_benchmark(
            entries,
            batches=[int(b) for b in args.batches.split(",")],
            devices=["cpu", "cuda"] if args.device == "auto" else [args.device],
            threads=args.threads,
            energy=args.energy * 1000.0,
            sim_showers=args.sim_showers,
            fidelity_showers=args.fidelity_showers,
            notes=notes,
            progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True),
        )
    except CaloforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report.print_table()
    write_report(report, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
