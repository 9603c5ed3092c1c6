"""The whole evaluation of one reference sample against one or more generated samples.

:func:`evaluate` computes every number of EVALUATION.md and keeps what the report draws;
:meth:`Evaluation.metrics` is the JSON of ``report/metrics.json``; :mod:`caloforge.validation.report` writes the
HTML page. Only numpy and scipy are imported at module level; the classifier test imports torch and
scikit-learn when it runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import ConfigError, DataFormatError
from caloforge.validation.binning import (
    Binning,
    EnergyBin,
    breakdown_energy_bins,
    challenge_dataset,
    feature_binning,
    histogram,
    response_energy_bins,
    voxel_binning,
    voxel_extent,
    voxel_histogram,
)
from caloforge.validation.classifier import (
    CLASSIFIER_PRESETS,
    INPUT_KINDS,
    ClassifierConfig,
    ClassifierResult,
    classifier_inputs,
    classifier_test,
)
from caloforge.validation.metrics import (
    CorrelationComparison,
    DistanceEstimate,
    compare_correlations,
    frechet_physics_distance,
    kernel_physics_distance,
    ks_distance,
    memorisation,
    precision_recall_density_coverage,
    projection_mse,
    rank_correlation,
    separation_power_from_counts,
    wasserstein_1,
)
from caloforge.validation.observables import (
    FeatureSpec,
    ShowerFeatures,
    apply_threshold,
    average_projections,
    chunk_rows,
    feature_specs,
    high_level_vector,
    shower_features,
)
from caloforge.validation.response import ResolutionFit, ResponsePoint, fit_resolution, response_curve
from caloforge.validation.samples import check_comparable, check_sample

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from caloforge.geometry import Geometry
    from caloforge.io.showerset import ShowerSet

__all__ = [
    "Evaluation",
    "EvaluationConfig",
    "ReferenceResult",
    "SampleResult",
    "Timing",
    "energy_bin_response_binning",
    "evaluate",
]


@dataclass(frozen=True)
class EvaluationConfig:
    """Every setting of an evaluation (recorded in metrics.json and the report).

    Attributes:
        threshold: voxel threshold in MeV (``None``: the geometry's — CaloChallenge 1 MeV for dataset 1,
            15.15 keV for datasets 2/3).
        seed: seeds every random step (classifier, FPD/KPD batches, subsamples).
        classifier: run the classifier test.
        classifier_inputs: which inputs (``low``, ``low_normed``, ``high``).
        classifier_config: network and training settings.
        classifier_repeats: train the classifier this many times per input kind, each with its own seed (its own
            train/test/val split, initialisation and batch order; the first uses ``seed``), and report the mean
            AUC and JSD with their standard deviation over the runs. One run's AUC moves by a few hundredths
            with the seed (docs/evaluation.md); the generated sample itself is not redrawn.
        fpd_min_samples, fpd_max_samples, fpd_batches, fpd_points: FPD estimator (arXiv:2211.10295 defaults).
        kpd_batches, kpd_batch_size, kpd_degree: KPD estimator (paper: cubic kernel, 10 × 5,000).
        prdc_k, prdc_samples: k nearest neighbours and subsample size of precision/recall/density/coverage.
        memorisation_train, memorisation_queries: subsample sizes of the memorisation check.
        max_discrete_energies: at most this many distinct incident energies count as "discrete".
    """

    threshold: float | None = None
    seed: int = 0
    classifier: bool = True
    classifier_inputs: tuple[str, ...] = INPUT_KINDS
    classifier_config: ClassifierConfig = field(default_factory=lambda: CLASSIFIER_PRESETS["default"])
    classifier_repeats: int = 1
    fpd_min_samples: int = 20_000
    fpd_max_samples: int = 50_000
    fpd_batches: int = 20
    fpd_points: int = 10
    kpd_batches: int = 10
    kpd_batch_size: int = 5_000
    kpd_degree: int = 3
    prdc_k: int = 5
    prdc_samples: int = 5_000
    memorisation_train: int = 20_000
    memorisation_queries: int = 2_000
    max_discrete_energies: int = 20

    def __post_init__(self) -> None:
        unknown = set(self.classifier_inputs) - set(INPUT_KINDS)
        if unknown:
            raise ConfigError(
                f"unknown classifier inputs {', '.join(sorted(unknown))}; choose from {', '.join(INPUT_KINDS)}"
            )
        if self.classifier_repeats < 1:
            raise ConfigError(f"classifier_repeats must be >= 1, got {self.classifier_repeats}")
        if self.threshold is not None and self.threshold < 0:
            raise ConfigError(f"threshold must be >= 0 MeV, got {self.threshold}")

    @classmethod
    def quick(cls, **changes: Any) -> EvaluationConfig:
        """Settings for smoke runs (``caloforge evaluate --quick``): a small classifier for ≤ 5 epochs and
        fewer FPD/KPD/PRDC batches. The numbers are noisier; do not quote them."""
        base = cls(
            classifier_config=CLASSIFIER_PRESETS["quick"],
            fpd_batches=5,
            fpd_points=5,
            kpd_batches=5,
            kpd_batch_size=2_000,
            prdc_samples=2_000,
            memorisation_train=5_000,
            memorisation_queries=1_000,
        )
        return replace(base, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["classifier_inputs"] = list(self.classifier_inputs)
        out["classifier_config"]["split"] = list(self.classifier_config.split)
        return out


@dataclass(frozen=True)
class Timing:
    """Generation speed of a sample, shown in the summary table (from ``--timing``)."""

    ms_per_shower: float
    device: str | None = None
    batch_size: int | None = None

    @classmethod
    def parse(cls, text: str) -> Timing:
        """A number (ms per shower) or a JSON file ``{"ms_per_shower": 1.2, "device": "cpu", "batch_size": 1000}``.

        Raises:
            ConfigError: neither a positive number nor a readable JSON file with ``ms_per_shower``.
        """
        try:
            value = float(text)
        except ValueError:
            return cls._from_file(text)
        if not value > 0 or not math.isfinite(value):
            raise ConfigError(f"--timing must be a positive number of ms per shower, got {text!r}")
        return cls(value)

    @classmethod
    def _from_file(cls, text: str) -> Timing:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"--timing {text!r} is neither a number (ms per shower) nor a JSON file")
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--timing file {text!r} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or "ms_per_shower" not in data:
            raise ConfigError(f"--timing file {text!r} must hold an object with key 'ms_per_shower'")
        unknown = set(data) - {"ms_per_shower", "device", "batch_size"}
        if unknown:
            raise ConfigError(f"--timing file {text!r}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            value = float(data["ms_per_shower"])
            batch = None if data.get("batch_size") is None else int(data["batch_size"])
        except (TypeError, ValueError):
            raise ConfigError(f"--timing file {text!r}: ms_per_shower and batch_size must be numbers") from None
        if not value > 0 or not math.isfinite(value):
            raise ConfigError(f"--timing file {text!r}: ms_per_shower must be > 0")
        device = data.get("device")
        return cls(value, None if device is None else str(device), batch)


@dataclass
class ReferenceResult:
    """What the evaluation keeps of the reference sample."""

    source: str
    n_showers: int
    features: ShowerFeatures
    mean_shower: NDArray[np.float64]
    voxel_counts: NDArray[np.float64]
    projections: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]
    response: list[ResponsePoint]
    resolution_fit: ResolutionFit | None
    correlation: NDArray[np.float64]  # Spearman ρ between the features of Evaluation.correlation_names


@dataclass
class SampleResult:
    """Every number and plot input for one generated sample."""

    label: str
    source: str
    n_showers: int
    features: ShowerFeatures
    feature_metrics: dict[str, dict[str, float]]
    voxel_counts: NDArray[np.float64]
    voxel_separation: float
    mean_shower: NDArray[np.float64]
    projections: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]
    projection_mse: dict[str, float]
    response: list[ResponsePoint]
    resolution_fit: ResolutionFit | None
    energy_bins: list[dict[str, Any]]
    correlations: CorrelationComparison | None = None
    fpd: DistanceEstimate | None = None
    kpd: DistanceEstimate | None = None
    prdc: dict[str, float] | None = None
    memorisation: dict[str, float] | None = None
    classifier: dict[str, ClassifierResult] = field(default_factory=dict)
    classifier_runs: dict[str, list[ClassifierResult]] = field(default_factory=dict)
    timing: Timing | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def worst_features(self, n: int = 3) -> list[tuple[str, float]]:
        """The ``n`` features with the largest separation power."""
        items = [
            (k, v["separation_power"]) for k, v in self.feature_metrics.items() if math.isfinite(v["separation_power"])
        ]
        return sorted(items, key=lambda kv: -kv[1])[:n]

    def separation_summary(self) -> tuple[float, float]:
        """(mean, max) separation power over all features."""
        values = [v["separation_power"] for v in self.feature_metrics.values() if math.isfinite(v["separation_power"])]
        return (float(np.mean(values)), float(np.max(values))) if values else (float("nan"), float("nan"))

    def runs_of(self, kind: str) -> list[ClassifierResult]:
        """Every classifier run on ``kind`` inputs (the first is ``classifier[kind]``); empty if none ran."""
        return self.classifier_runs.get(kind) or ([self.classifier[kind]] if kind in self.classifier else [])

    def classifier_summary(self, kind: str) -> dict[str, float] | None:
        """AUC and JSD of the classifier on ``kind`` inputs: the mean over its runs, with the standard deviation
        (``ddof=1``; 0 for a single run) and the number of runs. ``None`` if it was not run."""
        runs = self.runs_of(kind)
        if not runs:
            return None
        auc = np.array([r.auc for r in runs])
        jsd = np.array([r.jsd for r in runs])
        std = (lambda x: float(np.std(x, ddof=1))) if len(runs) > 1 else (lambda x: 0.0)
        return {
            "auc": float(auc.mean()),
            "auc_std": std(auc),
            "jsd": float(jsd.mean()),
            "jsd_std": std(jsd),
            "runs": float(len(runs)),
        }


@dataclass
class Evaluation:
    """Result of :func:`evaluate`."""

    config: EvaluationConfig
    geometry: Geometry
    threshold: float
    specs: list[FeatureSpec]
    binnings: dict[str, Binning]
    voxel_binning: Binning
    breakdown_bins: list[EnergyBin]
    response_bins: list[EnergyBin]
    reference: ReferenceResult
    samples: dict[str, SampleResult]
    training: dict[str, Any] | None
    seconds: dict[str, float]
    correlation_names: tuple[str, ...] = ()

    def metrics(self) -> dict[str, Any]:
        """Every number, JSON-ready (NaN and inf become ``null``)."""
        from caloforge._version import __version__

        ref = self.reference
        out: dict[str, Any] = {
            "caloforge_version": __version__,
            "geometry": {
                "name": self.geometry.name,
                "n_layers": self.geometry.n_layers,
                "n_voxels": self.geometry.n_voxels,
                "calochallenge_dataset": challenge_dataset(self.geometry),
            },
            "threshold_MeV": self.threshold,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "reference": {
                "source": ref.source,
                "n_showers": ref.n_showers,
                "energy_MeV": [float(ref.features.energy.min()), float(ref.features.energy.max())],
                "response": [p.to_dict() for p in ref.response],
                "resolution_fit": None if ref.resolution_fit is None else ref.resolution_fit.to_dict(),
                "correlation": np.round(ref.correlation, 4).tolist(),
            },
            "correlation_features": list(self.correlation_names),
            "training": self.training,
            "binning": {
                name: {
                    "source": b.source,
                    "n_bins": b.n_bins,
                    "range": [float(b.edges[0]), float(b.edges[-1])],
                    "log": b.log,
                }
                for name, b in {**self.binnings, "voxel_energy": self.voxel_binning}.items()
            },
            "energy_bins": [
                {
                    "label": b.label,
                    "low_MeV": b.low,
                    "high_MeV": b.high,
                    "n_reference": int(b.mask(ref.features.energy).sum()),
                }
                for b in self.breakdown_bins
            ],
            "samples": {label: _sample_json(s) for label, s in self.samples.items()},
            "seconds": self.seconds,
        }
        return _json_clean(out)

    def summary_rows(self) -> list[tuple[str, dict[str, str]]]:
        """The summary table: ``(row label, {sample label: formatted value})``."""
        rows: list[tuple[str, dict[str, str]]] = []

        def add(name: str, fn: Callable[[SampleResult], str]) -> None:
            rows.append((name, {label: fn(s) for label, s in self.samples.items()}))

        add("showers", lambda s: f"{s.n_showers:,}")

        def auc(kind: str) -> Callable[[SampleResult], str]:
            def fmt(s: SampleResult) -> str:
                r = s.classifier_summary(kind)
                if r is None:
                    return "–"
                if r["runs"] == 1:
                    return f"{r['auc']:.3f} (JSD {r['jsd']:.3f})"
                return f"{r['auc']:.3f} ± {r['auc_std']:.3f} (JSD {r['jsd']:.3f}; mean ± sd of {r['runs']:.0f} runs)"

            return fmt

        for kind in self.config.classifier_inputs if self.config.classifier else ():
            title = {"low": "AUC low-level", "low_normed": "AUC low-level normalised", "high": "AUC high-level"}[kind]
            add(title, auc(kind))
        add("FPD × 10³", lambda s: _fmt_estimate(s.fpd, 1e3))
        add("KPD × 10³", lambda s: _fmt_estimate(s.kpd, 1e3))
        add("separation power: mean / max", lambda s: "{:.4f} / {:.4f}".format(*s.separation_summary()))
        add("worst separation powers", lambda s: ", ".join(f"{k} {v:.3f}" for k, v in s.worst_features(3)))
        add("voxel spectrum separation", lambda s: f"{s.voxel_separation:.4f}")
        add("largest rank-correlation difference", _fmt_correlation)
        add(
            "precision / recall / density / coverage / spread",
            lambda s: "–" if s.prdc is None else " / ".join(f"{s.prdc.get(k, np.nan):.3f}" for k in PRDC_KEYS),
        )
        add("projection MSE x / y / z", lambda s: " / ".join(f"{s.projection_mse[a]:.2e}" for a in "xyz"))
        ref_fit = self.reference.resolution_fit
        add(
            f"resolution a/√E ⊕ b (reference {_fmt_fit(ref_fit)})",
            lambda s: _fmt_fit(s.resolution_fit),
        )
        if self.training is not None:
            add(
                "memorisation: NN-distance ratio, copies",
                lambda s: (
                    "–"
                    if s.memorisation is None
                    else f"{s.memorisation['ratio']:.3f}, {100 * s.memorisation['copy_fraction']:.1f} %"
                ),
            )
        if any(s.timing is not None for s in self.samples.values()):
            add("time per shower", lambda s: "–" if s.timing is None else _fmt_timing(s.timing))
        return rows


def _fmt_correlation(s: SampleResult) -> str:
    worst = [] if s.correlations is None else s.correlations.worst(1)
    if not worst:
        return "–"
    a, b, r_ref, r_gen, pull = worst[0]
    return f"{a} × {b}: ρ {r_gen:+.2f} vs {r_ref:+.2f} ({pull:+.1f}σ)"


def _fmt_estimate(d: DistanceEstimate | None, factor: float) -> str:
    if d is None:
        return "–"
    return f"{d.value * factor:.3g} ± {d.error * factor:.2g}"


def _fmt_fit(fit: ResolutionFit | None) -> str:
    if fit is None:
        return "–"
    return f"a = {100 * fit.a:.1f} %·√GeV, b = {100 * fit.b:.2f} %"


def _fmt_timing(t: Timing) -> str:
    extra = ", ".join(x for x in (t.device, None if t.batch_size is None else f"batch {t.batch_size}") if x)
    return f"{t.ms_per_shower:.3g} ms" + (f" ({extra})" if extra else "")


def _classifier_json(s: SampleResult) -> dict[str, float]:
    """``auc_<kind>`` and ``jsd_<kind>`` (means over the runs), plus ``auc_<kind>_std`` / ``jsd_<kind>_std``
    when the classifier ran more than once."""
    summaries = {kind: r for kind in s.classifier if (r := s.classifier_summary(kind)) is not None}
    repeated = {kind: r for kind, r in summaries.items() if r["runs"] > 1}
    # the AUCs first: `caloforge models` lists the leading entries
    return {
        **{f"auc_{kind}": r["auc"] for kind, r in summaries.items()},
        **{f"jsd_{kind}": r["jsd"] for kind, r in summaries.items()},
        **{f"auc_{kind}_std": r["auc_std"] for kind, r in repeated.items()},
        **{f"jsd_{kind}_std": r["jsd_std"] for kind, r in repeated.items()},
    }


def _sample_json(s: SampleResult) -> dict[str, Any]:
    mean_sep, max_sep = s.separation_summary()
    return {
        "source": s.source,
        "n_showers": s.n_showers,
        "summary": {
            **_classifier_json(s),
            "fpd_x1e3": None if s.fpd is None else [s.fpd.value * 1e3, s.fpd.error * 1e3],
            "kpd_x1e3": None if s.kpd is None else [s.kpd.value * 1e3, s.kpd.error * 1e3],
            "separation_power_mean": mean_sep,
            "separation_power_max": max_sep,
            "worst_features": [[k, v] for k, v in s.worst_features(5)],
            "voxel_spectrum_separation_power": s.voxel_separation,
            "correlation_max_abs_difference": None if s.correlations is None else s.correlations.max_abs_difference(),
            "worst_correlations": [] if s.correlations is None else [list(w) for w in s.correlations.worst(5)],
            "ms_per_shower": None if s.timing is None else s.timing.ms_per_shower,
        },
        "features": s.feature_metrics,
        "correlation": None
        if s.correlations is None
        else {
            "generated": np.round(s.correlations.generated, 4).tolist(),
            "pull": np.round(s.correlations.pull, 2).tolist(),
        },
        "classifier": {k: r.to_dict() for k, r in s.classifier.items()},
        "classifier_runs": {
            k: [{"seed": r.seed, "auc": r.auc, "jsd": r.jsd, "best_epoch": r.best_epoch} for r in runs]
            for k, runs in s.classifier_runs.items()
        },
        "fpd": None if s.fpd is None else {"value": s.fpd.value, "error": s.fpd.error},
        "kpd": None if s.kpd is None else {"value": s.kpd.value, "error": s.kpd.error},
        "prdc": s.prdc,
        "projection_mse": s.projection_mse,
        "memorisation": s.memorisation,
        "response": [p.to_dict() for p in s.response],
        "resolution_fit": None if s.resolution_fit is None else s.resolution_fit.to_dict(),
        "energy_bins": s.energy_bins,
        "timing": None if s.timing is None else asdict(s.timing),
        "seconds": s.seconds,
    }


def _json_clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_clean(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


# --------------------------------------------------------------------------------------------------
# the computation
# --------------------------------------------------------------------------------------------------
def energy_bin_response_binning(reference_ratio: NDArray[np.float64], dataset: str | None, index: int) -> Binning:
    """E_tot/E_inc binning inside one energy bin: the CaloChallenge dataset-1 convention (20 bins in
    [0.4, 1.4]; [0.9, 1.1] for photons above the 4th energy, ``plot_Etot_Einc_discrete``), else 50 bins over
    the reference's 0.5–99.5 % range in that bin widened by 10 %."""
    if dataset in ("1-photons", "1-pions"):
        lo, hi = (0.9, 1.1) if index > 3 and dataset == "1-photons" else (0.4, 1.4)
        return Binning(np.linspace(lo, hi, 21), source="CaloChallenge")
    v = reference_ratio[np.isfinite(reference_ratio)]
    if v.size == 0:
        return Binning(np.linspace(0.0, 2.0, 51))
    lo, hi = np.percentile(v, [0.5, 99.5])
    pad = 0.1 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1e-3)
    return Binning(np.linspace(lo - pad, hi + pad, 51))


def _mean_shower(showers: NDArray[np.floating], threshold: float) -> NDArray[np.float64]:
    total = np.zeros(showers.shape[1])
    step = chunk_rows(showers.shape[1])
    for lo in range(0, showers.shape[0], step):
        total += apply_threshold(showers[lo : lo + step], threshold).sum(axis=0, dtype=np.float64)
    return total / max(showers.shape[0], 1)


def _cap(limit: int, n_voxels: int, budget: int = 50_000_000) -> int:
    # bounds the float64 working arrays of the nearest-neighbour metrics to ~budget × 8 bytes
    return max(min(limit, budget // max(n_voxels, 1)), 100)


def _rows(n: int, limit: int, rng: np.random.Generator) -> NDArray[np.int64]:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, size=limit, replace=False))


def _log_voxels(showers: NDArray[np.floating], threshold: float) -> NDArray[np.float64]:
    # log10 of the voxel energies; empty voxels sit at a floor a decade below the threshold
    floor = threshold / 10.0 if threshold > 0 else 1e-3
    return np.log10(np.maximum(np.asarray(showers, dtype=np.float64), floor))


def _scaled_voxels(s: ShowerSet, rows: NDArray[np.int64], threshold: float) -> NDArray[np.float64]:
    return apply_threshold(s.showers[rows], threshold).astype(np.float64) / s.energy[rows, None]


def evaluate(
    reference: ShowerSet,
    generated: Mapping[str, ShowerSet],
    *,
    config: EvaluationConfig | None = None,
    train: ShowerSet | None = None,
    sources: Mapping[str, str] | None = None,
    timings: Mapping[str, Timing] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Compare each generated sample with the reference: every metric of EVALUATION.md.

    Args:
        reference: the reference (detailed-simulation) showers; it sets every binning.
        generated: ``{label: showers}`` of the samples to judge, same readout as the reference.
        config: settings (default :class:`EvaluationConfig`).
        train: the generator's training showers, for the memorisation check (must not overlap ``reference``).
        sources: ``{label or "reference" or "training": file name}`` for the report.
        timings: ``{label: Timing}`` generation speeds for the summary table.
        progress: optional callable told about each step.

    Raises:
        DataFormatError: an empty sample or one with NaN/inf/negative values.
        GeometryError: samples with different readouts.
        ConfigError: impossible settings (e.g. too few showers for the classifier split).
    """
    cfg = config or EvaluationConfig()
    sources = dict(sources or {})
    timings = dict(timings or {})
    say = progress or (lambda _msg: None)
    if not generated:
        raise DataFormatError("nothing to evaluate: give at least one generated sample")
    ref_name = sources.get("reference", "reference sample")
    check_sample(reference, ref_name)
    for label, g in generated.items():
        check_sample(g, sources.get(label, f"generated sample {label!r}"))
        check_comparable(reference, g, ref_name, sources.get(label, f"generated sample {label!r}"))
    if train is not None:
        check_sample(train, sources.get("training", "training sample"))
        check_comparable(reference, train, ref_name, sources.get("training", "training sample"))
    unknown = set(timings) - set(generated)
    if unknown:
        raise ConfigError(f"timings given for unknown samples: {', '.join(sorted(unknown))}")

    geometry = reference.geometry
    t = float(geometry.threshold if cfg.threshold is None else cfg.threshold)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    say(f"reference: {len(reference):,} showers, high-level features")
    ref_feat = shower_features(reference.showers, reference.energy, geometry, t)
    specs = feature_specs(geometry)
    ref_cols = ref_feat.columns(specs)
    corr_names, ref_corr_inputs = _correlation_inputs(ref_feat, ref_cols)
    binnings = {s.name: feature_binning(s, ref_cols[s.name], geometry, t) for s in specs}
    ref_hist = {name: histogram(values, binnings[name]) for name, values in ref_cols.items()}
    top, low = voxel_extent(reference.showers, t)
    vox_binning = voxel_binning(top, t, low)
    breakdown = breakdown_energy_bins(reference.energy, cfg.max_discrete_energies)
    resp_bins = response_energy_bins(reference.energy, max_discrete=cfg.max_discrete_energies)
    ref_response = response_curve(ref_feat.e_total, ref_feat.energy, resp_bins)
    ref_result = ReferenceResult(
        source=ref_name,
        n_showers=len(reference),
        features=ref_feat,
        mean_shower=_mean_shower(reference.showers, t),
        voxel_counts=voxel_histogram(reference.showers, vox_binning, t),
        projections=average_projections(reference.showers, geometry, t),
        response=ref_response,
        resolution_fit=fit_resolution(ref_response),
        correlation=rank_correlation(ref_corr_inputs),
    )
    ref_high = high_level_vector(ref_feat)
    ref_mean_etot = float(ref_feat.e_total.mean())
    seconds["reference"] = time.perf_counter() - clock

    ref_inputs: dict[str, NDArray[np.float32]] = {}
    samples: dict[str, SampleResult] = {}
    for label, gen in generated.items():
        stage: dict[str, float] = {}
        clock = time.perf_counter()
        say(f"{label}: {len(gen):,} showers, features and histogram metrics")
        feat = shower_features(gen.showers, gen.energy, geometry, t)
        cols = feat.columns(specs)
        fm: dict[str, dict[str, float]] = {}
        for spec in specs:
            r_vals, g_vals = ref_cols[spec.name], cols[spec.name]
            h_gen = histogram(g_vals, binnings[spec.name])
            ks, ks_p = ks_distance(r_vals, g_vals)
            fm[spec.name] = {
                "separation_power": separation_power_from_counts(ref_hist[spec.name], h_gen),
                "ks": ks,
                "ks_pvalue": ks_p,
                "w1": wasserstein_1(r_vals, g_vals),
                "mean_reference": float(np.mean(r_vals)),
                "mean_generated": float(np.mean(g_vals)),
                "in_range_reference": float(ref_hist[spec.name].sum() / max(len(r_vals), 1)),
                "in_range_generated": float(h_gen.sum() / max(len(g_vals), 1)),
            }
        vox_counts = voxel_histogram(gen.showers, vox_binning, t)
        projections = average_projections(gen.showers, geometry, t)
        mse = {
            axis: projection_mse(ref_result.projections[axis][1], projections[axis][1], ref_mean_etot)
            for axis in ("x", "y", "z")
        }
        response = response_curve(feat.e_total, feat.energy, resp_bins)
        result = SampleResult(
            label=label,
            source=sources.get(label, label),
            n_showers=len(gen),
            features=feat,
            feature_metrics=fm,
            voxel_counts=vox_counts,
            voxel_separation=separation_power_from_counts(ref_result.voxel_counts, vox_counts),
            mean_shower=_mean_shower(gen.showers, t),
            projections=projections,
            projection_mse=mse,
            response=response,
            resolution_fit=fit_resolution(response),
            energy_bins=_energy_bin_breakdown(ref_feat, feat, specs, binnings, breakdown, geometry),
            correlations=compare_correlations(
                corr_names, ref_result.correlation, len(reference), _correlation_inputs(feat, cols)[1]
            ),
            timing=timings.get(label),
        )
        stage["histograms"] = time.perf_counter() - clock

        clock = time.perf_counter()
        say(f"{label}: FPD and KPD")
        high = high_level_vector(feat)
        result.fpd = frechet_physics_distance(
            ref_high,
            high,
            min_samples=cfg.fpd_min_samples,
            max_samples=cfg.fpd_max_samples,
            num_batches=cfg.fpd_batches,
            num_points=cfg.fpd_points,
            seed=cfg.seed,
        )
        result.kpd = kernel_physics_distance(
            ref_high,
            high,
            num_batches=cfg.kpd_batches,
            batch_size=cfg.kpd_batch_size,
            degree=cfg.kpd_degree,
            seed=cfg.seed,
        )
        stage["fpd_kpd"] = time.perf_counter() - clock

        clock = time.perf_counter()
        say(f"{label}: precision, recall, density, coverage")
        rng = np.random.default_rng(cfg.seed)
        n_prdc = _cap(cfg.prdc_samples, geometry.n_voxels)
        r_rows = _rows(len(reference), n_prdc, rng)
        g_rows = _rows(len(gen), n_prdc, rng)
        result.prdc = precision_recall_density_coverage(
            _log_voxels(apply_threshold(reference.showers[r_rows], t), t),
            _log_voxels(apply_threshold(gen.showers[g_rows], t), t),
            k=cfg.prdc_k,
            max_samples=n_prdc,
            seed=cfg.seed,
        )
        stage["prdc"] = time.perf_counter() - clock

        if train is not None:
            clock = time.perf_counter()
            say(f"{label}: memorisation check against the training sample")
            rng = np.random.default_rng(cfg.seed)
            n_train = _cap(cfg.memorisation_train, geometry.n_voxels, 100_000_000)
            n_query = _cap(cfg.memorisation_queries, geometry.n_voxels)
            tr = _rows(len(train), n_train, rng)
            rr = _rows(len(reference), n_query, rng)
            gr = _rows(len(gen), n_query, rng)
            result.memorisation = memorisation(
                _scaled_voxels(train, tr, t),
                _scaled_voxels(reference, rr, t),
                _scaled_voxels(gen, gr, t),
                max_train=n_train,
                max_queries=n_query,
                seed=cfg.seed,
            )
            stage["memorisation"] = time.perf_counter() - clock

        if cfg.classifier:
            for kind in cfg.classifier_inputs:
                clock = time.perf_counter()
                say(f"{label}: classifier test on {kind} inputs")
                if kind not in ref_inputs:
                    ref_inputs[kind] = classifier_inputs(kind, reference.showers, ref_feat)
                gen_inputs = classifier_inputs(kind, gen.showers, feat)
                runs: list[ClassifierResult] = []
                for seed in _classifier_seeds(cfg.seed, cfg.classifier_repeats):
                    if cfg.classifier_repeats > 1:
                        say(f"{label}: classifier on {kind} inputs, run {len(runs) + 1}/{cfg.classifier_repeats}")
                    runs.append(
                        classifier_test(
                            ref_inputs[kind],
                            gen_inputs,
                            config=cfg.classifier_config,
                            seed=seed,
                            inputs=kind,
                            progress=say,
                        )
                    )
                result.classifier[kind] = runs[0]
                if len(runs) > 1:
                    result.classifier_runs[kind] = runs
                stage[f"classifier_{kind}"] = time.perf_counter() - clock
        result.seconds = stage
        samples[label] = result

    training = (
        None if train is None else {"source": sources.get("training", "training sample"), "n_showers": len(train)}
    )
    return Evaluation(
        config=cfg,
        geometry=geometry,
        threshold=t,
        specs=specs,
        binnings=binnings,
        voxel_binning=vox_binning,
        breakdown_bins=breakdown,
        response_bins=resp_bins,
        reference=ref_result,
        samples=samples,
        training=training,
        seconds=seconds,
        correlation_names=corr_names,
    )


def _correlation_inputs(
    features: ShowerFeatures, columns: Mapping[str, NDArray[np.float64]]
) -> tuple[tuple[str, ...], NDArray[np.float64]]:
    """The rank correlations' variables: their names and values ``(N, 1 + n_features)``, E_inc first, then every
    histogrammed feature."""
    return ("e_inc", *columns), np.column_stack([features.energy, *columns.values()])


def _classifier_seeds(seed: int, repeats: int) -> list[int]:
    """``seed`` for the first classifier run, then independent 32-bit seeds (numpy ``SeedSequence``)."""
    extra = np.random.SeedSequence([seed, 0xC1A5]).generate_state(max(repeats - 1, 0), dtype=np.uint32)
    return [seed, *(int(x) for x in extra)]


PRDC_KEYS = ("precision", "recall", "density", "coverage", "spread")  # shown by the summary table and the report
_MIN_BIN_ENTRIES = 10  # per sample, in range, for a separation power inside one energy bin


def _energy_bin_breakdown(
    ref: ShowerFeatures,
    gen: ShowerFeatures,
    specs: list[FeatureSpec],
    binnings: dict[str, Binning],
    bins: list[EnergyBin],
    geometry: Geometry,
) -> list[dict[str, Any]]:
    """Per incident-energy bin: sample sizes, response and resolution, separation powers (global binnings;
    E_tot/E_inc with the bin's own binning; NaN where either sample has fewer than 10 entries in range)."""
    ds = challenge_dataset(geometry)
    out = []
    for i, b in enumerate(bins):
        rm, gm = b.mask(ref.energy), b.mask(gen.energy)
        entry: dict[str, Any] = {"label": b.label, "n_reference": int(rm.sum()), "n_generated": int(gm.sum())}
        if rm.sum() < 2 or gm.sum() < 2:
            entry["note"] = "too few showers in this bin"
            out.append(entry)
            continue
        rsub, gsub = ref.subset(rm), gen.subset(gm)
        seps = {}
        for spec in specs:
            binning = binnings[spec.name]
            if spec.family == "etot_over_einc":
                binning = energy_bin_response_binning(rsub.etot_over_einc, ds, i)
            h_ref, h_gen = histogram(rsub.column(spec), binning), histogram(gsub.column(spec), binning)
            # a handful of entries in range gives S up to 1 by chance: not a finding
            enough = min(h_ref.sum(), h_gen.sum()) >= _MIN_BIN_ENTRIES
            seps[spec.name] = separation_power_from_counts(h_ref, h_gen) if enough else float("nan")
        finite = [(k, v) for k, v in seps.items() if math.isfinite(v)]
        worst = sorted(finite, key=lambda kv: -kv[1])[:3]
        r_ratio, g_ratio = rsub.etot_over_einc, gsub.etot_over_einc
        entry.update(
            {
                "separation_power_etot_over_einc": seps["etot_over_einc"],
                "separation_power_mean": float(np.mean([v for _, v in finite])) if finite else None,
                "separation_power_max": worst[0][1] if worst else None,
                "worst_features": [[k, v] for k, v in worst],
                "response_reference": float(r_ratio.mean()),
                "response_generated": float(g_ratio.mean()),
                "resolution_reference": float(r_ratio.std() / r_ratio.mean()) if r_ratio.mean() > 0 else None,
                "resolution_generated": float(g_ratio.std() / g_ratio.mean()) if g_ratio.mean() > 0 else None,
                "separation_powers": seps,
            }
        )
        out.append(entry)
    return out
