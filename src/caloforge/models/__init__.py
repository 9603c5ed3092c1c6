"""Generative shower models: one module per family, a small protocol, a registry, saving and loading.

>>> from caloforge.geometry import get_preset
>>> from caloforge.models import Preprocessing, build_model
>>> pre = Preprocessing(energy_min=1e3, energy_max=1e5)
>>> model = build_model("wgan", get_preset("calogan"), preprocessing=pre, seed=0)
>>> import torch
>>> model.sample(torch.full((2,), 5e4), generator=torch.Generator().manual_seed(1)).shape
torch.Size([2, 504])

Families: ``calogan`` (:mod:`caloforge.models.calogan`), ``flowmatch`` (:mod:`caloforge.models.flowmatch`),
``wgan`` (:mod:`caloforge.models.wgan`).
docs/models.md describes them, their papers, deviations and training recipes.
"""

from __future__ import annotations

from caloforge.models.base import Batch, FamilyTrainer, GenerativeModel, GradSync
from caloforge.models.preprocessing import Preprocessing, layer_energies_to_u, u_to_layer_energies
from caloforge.models.registry import (
    MODEL_PATH_ENV,
    PretrainedModel,
    build_model,
    evaluation_summary,
    family_names,
    get_family,
    package_pretrained,
    pretrained_models,
    register_family,
    resolve_model_path,
)
from caloforge.models.serialize import (
    MODEL_FORMAT_VERSION,
    load_model,
    read_card,
    read_model_config,
    save_model,
)

__all__ = [
    "MODEL_FORMAT_VERSION",
    "MODEL_PATH_ENV",
    "Batch",
    "FamilyTrainer",
    "GenerativeModel",
    "GradSync",
    "Preprocessing",
    "PretrainedModel",
    "build_model",
    "evaluation_summary",
    "family_names",
    "get_family",
    "layer_energies_to_u",
    "load_model",
    "package_pretrained",
    "pretrained_models",
    "read_card",
    "read_model_config",
    "register_family",
    "resolve_model_path",
    "save_model",
    "u_to_layer_energies",
]
