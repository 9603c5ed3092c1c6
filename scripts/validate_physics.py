"""Physics validation of the reference simulation (``make validate``).

Prints a table of target vs measured for every check of PHYSICS.md §10 that the simulation covers
(caloforge.detsim.validation: electromagnetic rows V1–V17, V25; caloforge.detsim.hadron_validation: hadronic
rows V18–V23 and calogan π+ vs e+); docs/validation.md explains the rows outside their tolerance.

Usage: python scripts/validate_physics.py [--quick] [--only {all,em,hadronic}] [--workers N] [--markdown FILE]
       [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fast subset only (as in the tests)")
    parser.add_argument(
        "--only", choices=("all", "em", "hadronic"), default="all", help="run only the EM or the hadronic rows"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)

    from caloforge.detsim.validation import format_table, run_validation

    t0 = time.perf_counter()
    rows = run_validation(
        quick=args.quick, workers=args.workers, log=lambda msg: print(msg, flush=True), only=args.only
    )
    elapsed = time.perf_counter() - t0
    table = format_table(rows)
    n_ok = sum(r.ok for r in rows)
    summary = f"{n_ok}/{len(rows)} rows within tolerance ({len(rows) - n_ok} outside: see docs/validation.md); {elapsed / 60:.1f} min"
    print()
    print(table)
    print()
    print(summary)
    if args.markdown:
        args.markdown.write_text(table + "\n\n" + summary + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "quantity": r.quantity,
                        "conditions": r.conditions,
                        "target": [float(t) for t in r.target] if isinstance(r.target, tuple) else float(r.target),
                        "tolerance": float(r.tolerance),
                        "relative": bool(r.relative),
                        "measured": float(r.measured),
                        "ok": bool(r.ok),
                        "source": r.source,
                    }
                    for r in rows
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
