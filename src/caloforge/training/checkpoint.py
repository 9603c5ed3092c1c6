"""Training checkpoints: one file, written atomically, from which a run resumes exactly.

The checkpoint is a dict of plain values and tensors (loadable with ``torch.load(weights_only=True)``):
``format``, ``version``, ``config`` (the TrainConfig dict), ``spec`` (family, model config, preprocessing,
geometry), ``model``, ``ema``, ``trainer`` (critics and optimizers), ``step``, ``epoch``, ``best_metric``,
``best_step`` and ``rng`` (the training random generator's state of every process).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from caloforge.exceptions import ConfigError
from caloforge.io.files import partial_path

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "caloforge-checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` under a temporary name, then rename (a crash never leaves half a file)."""
    final = Path(path)
    tmp = partial_path(final)
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}, tmp)
    os.replace(tmp, final)
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (tensors on CPU).

    Raises:
        ConfigError: missing, unreadable, or not a caloforge checkpoint of a known version.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no checkpoint to resume from: {str(p)!r} does not exist")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ConfigError(
            f"{p}: cannot read the checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{p}: not a caloforge training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(
            f"{p}: checkpoint version {state.get('version')!r}; this caloforge reads {CHECKPOINT_VERSION}"
        )
    return dict(state)
