"""Calibrate a saved model on its training sample, as the training loop does before each validation.

For a run trained before the loop calibrated models (flowmatch's ``voxel_cut``, docs/flowmatching.md): loads
the run's ``config.json``, takes the same training split (same data options and seed) and the same calibration
seed as :func:`caloforge.training.train`, and writes the calibrated model to ``--out``.

    python scripts/calibrate_model.py runs/calogan-eplus-fm --model best --out runs/calogan-eplus-fm/calibrated

``--steps``/``--solver``/``--time-shift`` first change a flowmatch model's sampling (the cut depends on it), then calibrate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from caloforge.exceptions import CaloforgeError
from caloforge.models.seeding import derive_seed
from caloforge.models.serialize import load_model, read_card, save_model
from caloforge.training import load_train_config
from caloforge.training.data import load_training_data
from caloforge.training.loop import _CALIBRATION_KEY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder (has config.json and the model folder)")
    parser.add_argument("--model", default="best", help="model folder inside the run (default: best)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the calibrated model")
    parser.add_argument("--steps", type=int, default=None, help="flowmatch: sample with this many solver steps")
    parser.add_argument("--solver", default=None, help="flowmatch: euler, midpoint or heun")
    parser.add_argument("--energy-steps", type=int, default=None, help="flowmatch: stage 1's steps (default: --steps)")
    parser.add_argument("--time-shift", type=float, default=None, help="flowmatch: the solver's time-grid shift")
    args = parser.parse_args(argv)
    try:
        cfg = load_train_config(args.run / "config.json")
        model = load_model(args.run / args.model)
        sampling = (args.steps, args.energy_steps, args.solver, args.time_shift)
        if any(option is not None for option in sampling):
            if not hasattr(model, "with_sampling"):
                raise CaloforgeError(f"--steps/--solver/--time-shift: a {model.family} model has no solver settings")
            model = model.with_sampling(
                steps=args.steps,
                energy_steps=args.energy_steps or args.steps,
                solver=args.solver,
                time_shift=args.time_shift,
            )
        train_set, _ = load_training_data(cfg.data, cfg.seed)
        model.eval()
        model.calibrate(train_set, derive_seed(cfg.seed, _CALIBRATION_KEY))
        card = read_card(args.run / args.model)
        card.setdefault("training", {})["calibration"] = (
            f"scripts/calibrate_model.py {args.run} --model {args.model}"
            + (f" --steps {args.steps}" if args.steps is not None else "")
            + (f" --energy-steps {args.energy_steps}" if args.energy_steps is not None else "")
            + (f" --solver {args.solver}" if args.solver is not None else "")
            + (f" --time-shift {args.time_shift}" if args.time_shift is not None else "")
            + ": the training loop's calibration on its training split"
        )
        save_model(model, args.out, card=card)
    except CaloforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"calibrated {args.run / args.model} -> {args.out}: {getattr(model.config, 'voxel_cut', None)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
