"""Which model families exist and which trained models ship with caloforge.

Families are looked up by name (``"calogan"``, ``"flowmatch"``, ``"wgan"``) and imported on first use. Pretrained models are
model folders (see :mod:`caloforge.models.serialize`) under ``caloforge/models/pretrained/<name>/`` inside the
installed package, plus folders listed in the environment variable ``CALOFORGE_MODEL_PATH``
(``os.pathsep``-separated; each holds ``<name>/`` model folders), which is how sites add their own models.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caloforge.exceptions import ModelError
from caloforge.models.serialize import (
    CARD_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_card,
    read_model_config,
    write_json,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from caloforge.geometry import Geometry
    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel
    from caloforge.models.preprocessing import Preprocessing

__all__ = [
    "MODEL_PATH_ENV",
    "PretrainedModel",
    "build_model",
    "evaluation_summary",
    "family_names",
    "get_family",
    "package_pretrained",
    "pretrained_models",
    "register_family",
    "resolve_model_path",
]

MODEL_PATH_ENV = "CALOFORGE_MODEL_PATH"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")

_FAMILIES: dict[str, str] = {
    "calogan": "caloforge.models.calogan:CaloGAN",
    "flowmatch": "caloforge.models.flowmatch:FlowMatch",
    "wgan": "caloforge.models.wgan:WGAN",
}
_REGISTERED: dict[str, type[GenerativeModel]] = {}


def family_names() -> list[str]:
    """Names of every model family."""
    return sorted({*_FAMILIES, *_REGISTERED})


def get_family(name: str) -> type[GenerativeModel]:
    """The model class of family ``name``.

    Raises:
        ModelError: unknown family; the message lists the known ones.
    """
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _FAMILIES:
        raise ModelError(f"unknown model family {name!r}; families: {', '.join(family_names())}")
    module, attr = _FAMILIES[name].split(":")
    cls: type[GenerativeModel] = getattr(importlib.import_module(module), attr)
    return cls


def register_family(cls: type[GenerativeModel]) -> type[GenerativeModel]:
    """Register a model class under ``cls.family`` (for families defined outside caloforge)."""
    _REGISTERED[cls.family] = cls
    return cls


# --------------------------------------------------------------------------------------------------
# pretrained models
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PretrainedModel:
    """A model folder found by name: where it is, its family, geometry, particles and card."""

    name: str
    path: Path
    family: str
    geometry: str
    particles: tuple[int, ...]
    card: dict[str, Any]
    builtin: bool


def package_model_dir() -> Path:
    """The folder of the pretrained models shipped inside the package."""
    return Path(__file__).resolve().parent / "pretrained"


def _search_dirs() -> list[tuple[Path, bool]]:
    dirs = [(package_model_dir(), True)]
    for entry in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep):
        if entry.strip():
            dirs.append((Path(entry.strip()).expanduser(), False))
    return dirs


def pretrained_models() -> dict[str, PretrainedModel]:
    """Every model found by name, in search order (the package first; the first of a name wins)."""
    found: dict[str, PretrainedModel] = {}
    for root, builtin in _search_dirs():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if folder.name in found or not (folder / CONFIG_FILE).is_file():
                continue
            try:
                config = read_model_config(folder)
            except ModelError:
                continue  # a broken folder is reported when it is loaded by path, not while listing
            geometry = config["geometry"]
            pre = config["preprocessing"]
            found[folder.name] = PretrainedModel(
                name=folder.name,
                path=folder,
                family=str(config["family"]),
                geometry=str(geometry.get("name", "?")) if isinstance(geometry, dict) else "?",
                particles=tuple(int(p) for p in pre.get("particles", ())) if isinstance(pre, dict) else (),
                card=read_card(folder),
                builtin=builtin,
            )
    return found


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The model folder meant by a pretrained name, a model folder, or a training run folder.

    A run folder (``caloforge train --out RUN``) resolves to ``RUN/best`` (else ``RUN/last``).

    Raises:
        ModelError: neither an existing folder nor a known name; the message lists the known names.
    """
    path = Path(name_or_path)
    if path.exists():
        for candidate in (path, path / "best", path / "last"):
            if (candidate / CONFIG_FILE).is_file() and (candidate / WEIGHTS_FILE).is_file():
                return candidate
        raise ModelError(f"{str(path)!r} is neither a model folder nor a training run with a saved model")
    models = pretrained_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)].path
    known = ", ".join(models) or "none installed"
    raise ModelError(
        f"unknown model {str(name_or_path)!r}: no such folder and no pretrained model of that name "
        f"(pretrained: {known}; `caloforge models` lists them)"
    )


def package_pretrained(
    source: str | Path,
    name: str,
    *,
    dest: str | Path | None = None,
    card: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Copy a trained model into a pretrained-model folder ``<dest>/<name>/`` and write its card.

    Args:
        source: a model folder or a training run (its ``best`` model).
        name: the pretrained name (lower case letters, digits, ``.``, ``_``, ``+``, ``-``).
        dest: the folder of named models (default: the package's ``pretrained`` folder, for a source checkout).
        card: entries merged over the source's card (metrics of the evaluation, sample, command...).
        overwrite: replace an existing model of that name.

    Raises:
        ModelError: bad name, existing target without ``overwrite``, or a source that is not a model.
    """
    if not _NAME.match(name):
        raise ModelError(f"pretrained name {name!r} must be lower case letters, digits, '.', '_', '+' or '-'")
    folder = resolve_model_path(source)
    config = read_model_config(folder)
    target = Path(dest) if dest is not None else package_model_dir()
    target = target / name
    if target.exists() and not overwrite:
        raise ModelError(f"{str(target)!r} exists; pass overwrite to replace it")
    target.mkdir(parents=True, exist_ok=True)
    for file in (WEIGHTS_FILE, CONFIG_FILE):
        tmp = target / (file + ".partial")
        shutil.copyfile(folder / file, tmp)
        tmp.replace(target / file)
    merged = {**read_card(folder), **(card or {})}
    merged["name"] = name
    merged.setdefault("family", config["family"])
    write_json(target / CARD_FILE, merged)
    return target


def build_model(
    family: str,
    geometry: Geometry,
    *,
    data: ShowerSet | None = None,
    preprocessing: Preprocessing | None = None,
    config: Mapping[str, Any] | Any = None,
    seed: int | None = None,
) -> GenerativeModel:
    """A new, untrained model of ``family`` for ``geometry``.

    Args:
        family: the family name.
        geometry: the readout the model generates.
        data: a training sample to fit the preprocessing and the model's data-dependent statistics on
            (:meth:`GenerativeModel.fit_data`); or give ``preprocessing`` alone.
        preprocessing: a ready preprocessing.
        config: the family config, as its dataclass or a plain dict (unknown keys are errors).
        seed: seeds the weight initialisation without touching the global random state.

    Raises:
        ModelError: unknown family, a geometry the family cannot model, neither data nor preprocessing.
        ConfigError: an invalid config.
    """
    import torch

    cls = get_family(family)
    cfg = config if isinstance(config, cls.Config) else cls.config_from_dict(config)
    cls.check_geometry(geometry)
    if preprocessing is None:
        if data is None:
            raise ModelError("build_model needs a training sample (data) or a preprocessing")
        preprocessing = cls.fit_preprocessing(data, cfg)
    if seed is None:
        model = cls(cfg, geometry, preprocessing)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(cfg, geometry, preprocessing)
    if data is not None:
        model.fit_data(data)
    return model


def evaluation_summary(report: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    """The model-card metrics of one generated sample in a ``caloforge evaluate`` metrics.json.

    A JSON object that is not such a report is returned unchanged (hand-written metrics).

    Args:
        report: the parsed metrics.json.
        label: which generated sample (needed when the report holds several).

    Raises:
        ModelError: several samples and no (or an unknown) ``label``.
    """
    samples = report.get("samples")
    if not isinstance(samples, dict) or "reference" not in report:
        return dict(report)
    if label is None:
        if len(samples) != 1:
            raise ModelError(f"the report holds samples {', '.join(samples)}; choose one with --label")
        label = next(iter(samples))
    if label not in samples:
        raise ModelError(f"the report has no sample {label!r}; it holds {', '.join(samples)}")
    sample = samples[label]
    reference = report["reference"]
    return {
        **sample.get("summary", {}),
        "generated": {"source": sample.get("source"), "n_showers": sample.get("n_showers")},
        "reference": {"source": reference.get("source"), "n_showers": reference.get("n_showers")},
        "caloforge_version": report.get("caloforge_version"),
    }
