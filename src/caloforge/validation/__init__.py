"""Validation of fast shower simulation: the community's observables, metrics, classifier test and report.

Layers (docs/evaluation.md): :mod:`~caloforge.validation.observables`, :mod:`~caloforge.validation.binning`,
:mod:`~caloforge.validation.metrics`, :mod:`~caloforge.validation.response` and
:mod:`~caloforge.validation.quick` use numpy and scipy only (the training loop imports them);
:mod:`~caloforge.validation.classifier` (torch, scikit-learn), :mod:`~caloforge.validation.plots`
(matplotlib, mplhep) and :mod:`~caloforge.validation.report` import their heavy dependencies when called.

>>> import numpy as np
>>> from caloforge.geometry import get_preset
>>> from caloforge.validation import quick_metrics, separation_power
>>> from caloforge.validation.toy import toy_showers
>>> g = get_preset("calogan")
>>> rng = np.random.default_rng(0)
>>> a, b = toy_showers(g, 2000, rng), toy_showers(g, 2000, rng)
>>> quick_metrics(a, b)["sep_mean"] < 0.05
True
>>> separation_power([0.1, 0.2], [0.7, 0.8], bins=[0.0, 0.5, 1.0])
1.0
"""

from __future__ import annotations

from caloforge.validation.binning import (
    Binning,
    EnergyBin,
    breakdown_energy_bins,
    feature_binning,
    response_energy_bins,
)
from caloforge.validation.evaluation import Evaluation, EvaluationConfig, Timing, evaluate
from caloforge.validation.metrics import (
    DistanceEstimate,
    frechet_physics_distance,
    kernel_physics_distance,
    ks_distance,
    memorisation,
    precision_recall_density_coverage,
    projection_mse,
    separation_power,
    separation_power_from_counts,
    wasserstein_1,
)
from caloforge.validation.observables import (
    FeatureSpec,
    ShowerFeatures,
    feature_specs,
    high_level_vector,
    shower_features,
)
from caloforge.validation.quick import quick_metrics
from caloforge.validation.report import write_report
from caloforge.validation.response import ResolutionFit, ResponsePoint, fit_resolution, response_curve

__all__ = [
    "Binning",
    "DistanceEstimate",
    "EnergyBin",
    "Evaluation",
    "EvaluationConfig",
    "FeatureSpec",
    "ResolutionFit",
    "ResponsePoint",
    "ShowerFeatures",
    "Timing",
    "breakdown_energy_bins",
    "evaluate",
    "feature_binning",
    "feature_specs",
    "fit_resolution",
    "frechet_physics_distance",
    "high_level_vector",
    "kernel_physics_distance",
    "ks_distance",
    "memorisation",
    "precision_recall_density_coverage",
    "projection_mse",
    "quick_metrics",
    "response_curve",
    "response_energy_bins",
    "separation_power",
    "separation_power_from_counts",
    "shower_features",
    "wasserstein_1",
    "write_report",
]
