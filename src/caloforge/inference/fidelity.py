"""What reduced precision costs: fidelity of a precision variant against float32, and against a reference.

The float32 and the reduced-precision model generate showers from the same noise and conditions (FastSim's
seeded noise), so their difference is the arithmetic alone. Measured with caloforge's validation metrics
(docs/evaluation.md), the way the community reports it:

- separation powers of every high-level feature (CaloChallenge binning, ranges from the float32 sample):
  mean and worst (max) — 0 means identical histograms;
- the 3DGAN projection MSE: mean squared difference of the average x, y, z energy projections divided by the
  float32 sample's mean total energy (the quantisation study of Rehm et al. 2021 compares float32 and int8
  this way);
- per-shower differences: relative change of E_tot, and the RMS cell difference in units of E_inc;
- with a reference sample (e.g. the detailed simulation): the worst separation power of float32 and of the
  variant against the reference, its growth, and optionally the classifier AUC of each (high-level inputs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import ModelError

if TYPE_CHECKING:
    import onnx
    from numpy.typing import NDArray

    from caloforge.inference.fastsim import FastSim
    from caloforge.io import ShowerSet

__all__ = [
    "Fidelity",
    "ReferenceComparison",
    "compare_onnx",
    "compare_samples",
    "compare_sims",
    "fidelity_energies",
    "separation_powers",
]


def separation_powers(reference: ShowerSet, other: ShowerSet) -> dict[str, float]:
    """Separation power of every high-level feature of ``other`` against ``reference`` (its binning).

    Thresholds and binnings as :func:`caloforge.validation.evaluate` (the geometry's threshold, CaloChallenge
    conventions, ranges from ``reference``).
    """
    from caloforge.validation.binning import feature_binning, histogram
    from caloforge.validation.metrics import separation_power_from_counts
    from caloforge.validation.observables import feature_specs, shower_features

    g = reference.geometry
    t = float(g.threshold)
    specs = feature_specs(g)
    ref_cols = shower_features(reference.showers, reference.energy, g, t).columns(specs)
    cols = shower_features(other.showers, other.energy, g, t).columns(specs)
    out = {}
    for spec in specs:
        binning = feature_binning(spec, ref_cols[spec.name], g, t)
        out[spec.name] = separation_power_from_counts(
            histogram(ref_cols[spec.name], binning), histogram(cols[spec.name], binning)
        )
    return out


def _summary(sep: dict[str, float]) -> tuple[float, float, str]:
    finite = {k: v for k, v in sep.items() if math.isfinite(v)}
    if not finite:
        return math.nan, math.nan, ""
    worst = max(finite, key=lambda k: finite[k])
    return float(np.mean(list(finite.values()))), finite[worst], worst


def _projection_mse(reference: ShowerSet, other: ShowerSet) -> dict[str, float]:
    from caloforge.validation.metrics import projection_mse
    from caloforge.validation.observables import average_projections

    g = reference.geometry
    t = float(g.threshold)
    scale = float(np.mean(reference.total_energy())) if len(reference) else 1.0
    ref = average_projections(reference.showers, g, t)
    oth = average_projections(other.showers, g, t)
    return {axis: projection_mse(ref[axis][1], oth[axis][1], scale) for axis in ("x", "y", "z")}


@dataclass
class ReferenceComparison:
    """float32 and a variant, each against a reference sample (separation powers, projection MSE, AUC)."""

    source: str
    n_showers: int
    sep_max_fp32: float
    sep_max_variant: float
    sep_mean_fp32: float
    sep_mean_variant: float
    projection_mse_fp32: float
    projection_mse_variant: float
    auc_fp32: float | None = None
    auc_variant: float | None = None

    @property
    def sep_max_growth(self) -> float:
        return self.sep_max_variant - self.sep_max_fp32


@dataclass
class Fidelity:
    """A precision variant against float32 on the same noise (see the module docstring).

    Attributes:
        precision: the variant.
        n_showers: showers per sample.
        sep_mean, sep_max, sep_worst_feature: separation powers of the variant against float32.
        projection_mse: ``{x, y, z}`` 3DGAN projection MSE against float32 (dimensionless).
        etot_rel_median, etot_rel_max: ``|ΔE_tot| / E_tot`` per shower.
        cell_rms_over_einc: RMS of the cell differences divided by E_inc.
        reference: both against a reference sample, if one was given.
    """

    precision: str
    n_showers: int
    sep_mean: float
    sep_max: float
    sep_worst_feature: str
    projection_mse: dict[str, float]
    etot_rel_median: float
    etot_rel_max: float
    cell_rms_over_einc: float
    reference: ReferenceComparison | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.reference is not None:
            out["reference"]["sep_max_growth"] = self.reference.sep_max_growth
        return out

    def summary(self) -> str:
        """One line for terminals."""
        text = (
            f"{self.precision} vs fp32 on {self.n_showers} showers: separation power mean {self.sep_mean:.2g}, "
            f"max {self.sep_max:.2g} ({self.sep_worst_feature}); projection MSE max "
            f"{max(self.projection_mse.values()):.2g}; |dE_tot|/E_tot median {self.etot_rel_median:.2g}"
        )
        if self.reference is not None:
            r = self.reference
            text += f"; worst separation vs reference {r.sep_max_fp32:.3g} -> {r.sep_max_variant:.3g}"
            if r.auc_fp32 is not None and r.auc_variant is not None:
                text += f", AUC {r.auc_fp32:.3f} -> {r.auc_variant:.3f}"
        return text


def _auc(reference: ShowerSet, sample: ShowerSet, preset: str, seed: int) -> float:
    from caloforge.validation.classifier import classifier_inputs, classifier_preset, classifier_test
    from caloforge.validation.observables import shower_features

    g = reference.geometry
    t = float(g.threshold)
    x_ref = classifier_inputs("high", reference.showers, shower_features(reference.showers, reference.energy, g, t))
    x_gen = classifier_inputs("high", sample.showers, shower_features(sample.showers, sample.energy, g, t))
    return float(classifier_test(x_ref, x_gen, config=classifier_preset(preset), seed=seed, inputs="high").auc)


def compare_samples(
    base: ShowerSet,
    variant: ShowerSet,
    precision: str,
    *,
    reference: ShowerSet | None = None,
    reference_source: str = "",
    classifier: str | None = None,
    seed: int = 0,
) -> Fidelity:
    """Fidelity of ``variant`` against ``base`` (float32 showers of the same noise and conditions).

    Args:
        base, variant: the float32 and reduced-precision samples, row by row of the same noise.
        precision: the variant's name.
        reference: an independent reference sample of the same readout (optional).
        reference_source: its file name for the record.
        classifier: a classifier preset (``quick``, ``default``...) to also train reference vs each sample
            (``None``: no classifier).
        seed: seeds the classifier.

    Raises:
        ModelError: samples that do not line up (different sizes or energies).
    """
    if len(base) != len(variant) or not np.array_equal(base.energy, variant.energy):
        raise ModelError("fidelity: the two samples must hold the same showers' conditions, row by row")
    sep_mean, sep_max, worst = _summary(separation_powers(base, variant))
    e0 = base.total_energy().astype(np.float64)
    e1 = variant.total_energy().astype(np.float64)
    rel = np.abs(e1 - e0) / np.maximum(e0, 1e-12)
    diff = variant.showers.astype(np.float64) - base.showers.astype(np.float64)
    cell_rms = float(np.sqrt(np.mean((diff / base.energy[:, None]) ** 2)))
    ref_cmp = None
    if reference is not None:
        from caloforge.validation.samples import check_comparable

        check_comparable(reference, base, reference_source or "reference", "the generated sample")
        m0, x0, _ = _summary(separation_powers(reference, base))
        m1, x1, _ = _summary(separation_powers(reference, variant))
        ref_cmp = ReferenceComparison(
            source=reference_source,
            n_showers=len(reference),
            sep_max_fp32=x0,
            sep_max_variant=x1,
            sep_mean_fp32=m0,
            sep_mean_variant=m1,
            projection_mse_fp32=max(_projection_mse(reference, base).values()),
            projection_mse_variant=max(_projection_mse(reference, variant).values()),
        )
        if classifier is not None:
            ref_cmp.auc_fp32 = _auc(reference, base, classifier, seed)
            ref_cmp.auc_variant = _auc(reference, variant, classifier, seed)
    return Fidelity(
        precision=precision,
        n_showers=len(base),
        sep_mean=sep_mean,
        sep_max=sep_max,
        sep_worst_feature=worst,
        projection_mse=_projection_mse(base, variant),
        etot_rel_median=float(np.median(rel)) if rel.size else math.nan,
        etot_rel_max=float(np.max(rel)) if rel.size else math.nan,
        cell_rms_over_einc=cell_rms,
        reference=ref_cmp,
    )


def fidelity_energies(sim: FastSim, n: int, seed: int = 0) -> NDArray[np.float64]:
    """``n`` energies (MeV) log-uniform over the model's training range."""
    lo, hi = sim.energy_range
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n)) if hi > lo else np.full(n, lo)


def compare_sims(
    base: FastSim,
    variant: FastSim,
    *,
    energy: NDArray[np.float64] | None = None,
    particle: str | int | None = None,
    n: int = 2000,
    seed: int = 0,
    batch_size: int = 10_000,
    reference: ShowerSet | None = None,
    reference_source: str = "",
    classifier: str | None = None,
) -> Fidelity:
    """Generate the same showers with two FastSims (float32 and a variant) and compare them.

    With a ``reference``, its own energies (and particles, angles) are used, so that all three samples share
    their conditions.
    """
    if reference is not None:
        energy = reference.energy
        p: Any = reference.particle if reference.particle is not None else particle
        theta = reference.theta if base.spec.preprocessing.theta_range is not None else None
    else:
        energy = fidelity_energies(base, n, seed) if energy is None else energy
        p, theta = particle, None
        par04 = getattr(getattr(variant.backend, "convention", None), "particle", None)
        if p is None and par04 is not None:  # a Par04 graph simulates its one particle
            p = par04
        if p is None and len(base.particles) > 1:  # every particle the model knows, in turn
            p = np.asarray(base.particles, dtype=np.int64)[np.arange(len(energy)) % len(base.particles)]
    kw: dict[str, Any] = {"seed": seed, "batch_size": batch_size, "extrapolation": "allow"}
    a = base.sample(energy, p, theta, **kw)
    b = variant.sample(energy, p, theta, **kw)
    return compare_samples(
        a,
        b,
        variant.precision,
        reference=reference,
        reference_source=reference_source,
        classifier=classifier,
        seed=seed,
    )


def compare_onnx(fp32: onnx.ModelProto, variant: onnx.ModelProto, *, n: int = 2000, seed: int = 0) -> Fidelity:
    """Fidelity of a reduced-precision ONNX graph against its float32 original (one thread each)."""
    from caloforge.inference.fastsim import FastSim

    base = FastSim.from_onnx(fp32.SerializeToString(), threads=1)
    other = FastSim.from_onnx(variant.SerializeToString(), threads=1)
    return compare_sims(base, other, n=n, seed=seed)
