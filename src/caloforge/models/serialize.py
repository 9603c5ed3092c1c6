"""Saving and loading models: a folder with safetensors weights and a JSON config (no pickles).

A model folder holds

=====================  ===================================================================================
``model.safetensors``  the generator's weights (float32), written with ``safetensors.torch.save_file``
``config.json``        ``format`` = ``"caloforge-model"``, ``format_version``, ``family``, ``model`` (the
                       family's config), ``preprocessing``, ``geometry`` (the geometry JSON of
                       docs/geometry.md), ``weights`` (file name, SHA-256, parameter count) and
                       ``caloforge_version``; optionally ``metadata`` (how the model was made)
``card.json``          optional model card: training sample and command, metrics, date (docs/models.md)
=====================  ===================================================================================

Every file is written under a temporary name and renamed; the config records the SHA-256 of the weights so
that a folder whose files do not belong together is refused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caloforge._version import __version__
from caloforge.exceptions import CaloforgeError, ModelError
from caloforge.io.files import atomic_path

if TYPE_CHECKING:
    import torch

    from caloforge.models.base import GenerativeModel

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "WEIGHTS_FILE",
    "load_model",
    "read_card",
    "read_model_config",
    "save_model",
    "write_json",
]

MODEL_FORMAT = "caloforge-model"
MODEL_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return Path(path)


def save_model(
    model: GenerativeModel,
    path: str | Path,
    *,
    card: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save a model into folder ``path`` (created if needed); returns the folder.

    Args:
        model: the model (its current weights are saved, moved to CPU).
        path: the folder.
        card: model card written to ``card.json``.
        metadata: JSON-serialisable description of how the model was made (stored in the config).
    """
    from safetensors.torch import save_file

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": MODEL_FORMAT, "family": model.family})
    config: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        **model.spec(),
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": _sha256(folder / WEIGHTS_FILE),
            "n_parameters": model.n_parameters,
        },
        "caloforge_version": __version__,
    }
    if metadata:
        config["metadata"] = metadata
    write_json(folder / CONFIG_FILE, config)
    if card is not None:
        write_json(folder / CARD_FILE, card)
    return folder


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The validated top level of a model folder's ``config.json``.

    Raises:
        ModelError: no config, bad JSON, another format, a newer format version, a missing key.
    """
    folder = Path(path)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise ModelError(f"{str(folder)!r} is not a caloforge model folder (no {CONFIG_FILE})")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise ModelError(f"{config_path}: not a caloforge model config (format is not {MODEL_FORMAT!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelError(f"{config_path}: format_version must be a positive integer, got {version!r}")
    if version > MODEL_FORMAT_VERSION:
        raise ModelError(
            f"{config_path}: saved in model format version {version}, but this caloforge ({__version__}) reads "
            f"up to {MODEL_FORMAT_VERSION}; upgrade caloforge"
        )
    for key in ("family", "model", "preprocessing", "geometry", "weights"):
        if key not in config:
            raise ModelError(f"{config_path}: key {key!r} is missing")
    return config


def read_card(path: str | Path) -> dict[str, Any]:
    """The model card of a model folder (``{}`` if it has none)."""
    card_path = Path(path) / CARD_FILE
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{card_path}: not valid JSON ({exc})") from None
    return card if isinstance(card, dict) else {}


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> GenerativeModel:
    """Load a model folder written by :func:`save_model`, in eval mode on ``device``.

    Raises:
        ModelError: not a model folder, an unknown family, an invalid config, weights that do not match the
            config (hash, missing or unexpected tensors, shapes).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from caloforge.geometry import geometry_from_dict
    from caloforge.models.preprocessing import Preprocessing
    from caloforge.models.registry import get_family

    folder = Path(path)
    if folder.is_file() and folder.name == CONFIG_FILE:
        folder = folder.parent
    config = read_model_config(folder)
    source = str(folder / CONFIG_FILE)
    family = get_family(str(config["family"]))
    try:
        geometry = geometry_from_dict(config["geometry"], source=f"{source} (geometry)")
        preprocessing = Preprocessing.from_dict(config["preprocessing"], source=source)
        model_config = family.config_from_dict(config["model"], source=source)
        model = family(model_config, geometry, preprocessing)
    except ModelError:
        raise
    except CaloforgeError as exc:
        raise ModelError(str(exc)) from None
    weights = config["weights"]
    weights_path = (
        folder / str(weights.get("file", WEIGHTS_FILE)) if isinstance(weights, dict) else folder / WEIGHTS_FILE
    )
    if not weights_path.is_file():
        raise ModelError(f"{str(folder)!r}: weights file {weights_path.name!r} is missing")
    expected = weights.get("sha256") if isinstance(weights, dict) else None
    if expected and _sha256(weights_path) != expected:
        raise ModelError(f"{weights_path}: the weights do not match {CONFIG_FILE} (SHA-256 differs); re-save the model")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{weights_path}: cannot read safetensors weights ({exc})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelError(
            f"{weights_path}: weights do not fit the {family.family} model described in {CONFIG_FILE} "
            f"(missing: {', '.join(missing[:5]) or 'none'}; unexpected: {', '.join(unexpected[:5]) or 'none'})"
        )
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ModelError(
                f"{weights_path}: tensor {key!r} has shape {tuple(state[key].shape)}, the config implies {tuple(value.shape)}"
            )
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
