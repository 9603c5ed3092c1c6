"""Which groups of high-level features let the classifier tell a generated sample from the reference.

Trains the high-level classifier of ``caloforge evaluate`` (preset ``default``) on one group of the
CaloChallenge high-level inputs at a time (always with log10 E_inc), then on all inputs but that group, and
prints the AUCs (mean ± standard deviation over ``--repeats`` classifier seeds). Groups: energies (layer and
total), centres of energy, widths, sparsities, each layer's features, and ``--group NAME=col,col`` of your own
(column names as printed by ``--list``: ``log_e_layer_0``, ``ec_x_layer_0``, ``width_r_layer_2``, ...).

    python scripts/classifier_groups.py heldout.h5 gen.h5 --repeats 3
    python scripts/classifier_groups.py heldout.h5 gen.h5 --group y01=ec_y_layer_0,ec_y_layer_1 --only-custom
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from numpy.typing import NDArray

from caloforge.exceptions import CaloforgeError
from caloforge.validation.classifier import classifier_test
from caloforge.validation.observables import ShowerFeatures, high_level_vector, layer_axes, shower_features
from caloforge.validation.samples import load_sample


def column_names(features: ShowerFeatures) -> list[str]:
    """Names of the columns of :func:`~caloforge.validation.observables.high_level_vector`, in its order."""
    n_layers = features.geometry.n_layers
    has_x, has_y = layer_axes(features.geometry)
    per_layer = lambda name, keep: [f"{name}_layer_{i}" for i in range(n_layers) if keep[i]]  # noqa: E731
    every = (True,) * n_layers
    return [
        "log_e_inc",
        *per_layer("log_e", every),
        *per_layer("ec_x", has_x),
        *per_layer("ec_y", has_y),
        *per_layer("width_x", has_x),
        *per_layer("width_y", has_y),
        "log_e_total",
        *per_layer("sparsity", every),
        *per_layer("ec_r", every),
        *per_layer("width_r", every),
    ]


def default_groups(names: list[str], n_layers: int) -> dict[str, list[str]]:
    groups = {
        "energies": [n for n in names if n.startswith("log_e_") and n != "log_e_inc"],
        "centres": [n for n in names if n.startswith("ec_")],
        "widths": [n for n in names if n.startswith("width_")],
        "sparsities": [n for n in names if n.startswith("sparsity_")],
    }
    for i in range(n_layers):
        groups[f"layer {i}"] = [n for n in names if n.endswith(f"_layer_{i}")]
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="reference shower file (e.g. held-out detailed simulation)")
    parser.add_argument("generated", help="generated shower file")
    parser.add_argument("--repeats", type=int, default=3, help="classifier seeds per row (default 3)")
    parser.add_argument("--max-showers", type=int, default=None, help="at most this many showers per sample")
    parser.add_argument("--group", action="append", default=[], help="NAME=col,col,...: a group of your own")
    parser.add_argument("--only-custom", action="store_true", help="only the --group groups")
    parser.add_argument("--list", action="store_true", help="print the column names and stop")
    args = parser.parse_args(argv)
    try:
        ref = load_sample(args.reference, role="reference", max_showers=args.max_showers)
        gen = load_sample(args.generated, role="generated", geometry=ref.geometry, max_showers=args.max_showers)
        f_ref = shower_features(ref.showers, ref.energy, ref.geometry)
        f_gen = shower_features(gen.showers, gen.energy, ref.geometry)
    except CaloforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    names = column_names(f_ref)
    x_ref, x_gen = high_level_vector(f_ref), high_level_vector(f_gen)
    assert len(names) == x_ref.shape[1]
    if args.list:
        print("\n".join(names))
        return 0
    groups = {} if args.only_custom else default_groups(names, ref.geometry.n_layers)
    for spec in args.group:
        name, _, cols = spec.partition("=")
        chosen = [c for c in cols.split(",") if c]
        unknown = [c for c in chosen if c not in names]
        if not name or not chosen or unknown:
            print(
                f"error: --group {spec!r}: give NAME=col,col with columns from --list; unknown: {unknown}",
                file=sys.stderr,
            )
            return 2
        groups[name] = chosen

    def auc(columns: list[str]) -> str:
        index = [0] + [names.index(c) for c in columns]
        values: NDArray[np.float64] = np.array(
            [classifier_test(x_ref[:, index], x_gen[:, index], seed=s, inputs="high").auc for s in range(args.repeats)]
        )
        return f"{values.mean():.3f} ± {values.std():.3f}"

    features = [n for n in names if n != "log_e_inc"]
    print(f"{'inputs (with log10 E_inc)':<40} {'AUC':>15} {'all but these':>15}")
    print(f"{'all':<40} {auc(features):>15}")
    for name, columns in groups.items():
        rest = [c for c in features if c not in columns]
        print(f"{name:<40} {auc(columns):>15} {auc(rest) if rest else '':>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
