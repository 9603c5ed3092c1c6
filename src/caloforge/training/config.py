"""The training configuration: one typed dataclass, validated once, saved in every run and checkpoint.

A YAML/JSON file (configs/ holds examples; docs/models.md documents every key) is merged with command-line
overrides and validated by :func:`load_train_config`. Unknown keys are errors naming the key; the family's
sections (``model_config``, ``trainer``) are checked against the family's own dataclasses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from caloforge.exceptions import ConfigError
from caloforge.models.config import from_dict, iter_checks, load_config_file, merge, to_dict

if TYPE_CHECKING:
    from caloforge.models.base import GenerativeModel

__all__ = [
    "DataConfig",
    "ScheduleConfig",
    "TrainConfig",
    "load_train_config",
    "resume_compatible",
]

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class DataConfig:
    """Where the training showers come from and how they are split.

    Attributes:
        path: the training file (any layout caloforge reads); the CLI's ``--data``.
        geometry: preset or geometry file for files that name none.
        val_fraction: fraction held out for the per-epoch validation (split with the run's seed).
        val_max: at most this many held-out showers are compared per validation.
        max_showers: use only the first N showers of the file (quick tests).
    """

    path: str = ""
    geometry: str | None = None
    val_fraction: float = 0.1
    val_max: int = 10_000
    max_showers: int | None = None

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.path, "path", "is required (the training file; --data on the command line)"),
            (not 0 < self.val_fraction < 1, "val_fraction", f"must be in (0, 1), got {self.val_fraction}"),
            (self.val_max < 1, "val_max", "must be >= 1"),
            (self.max_showers is not None and self.max_showers < 2, "max_showers", "must be >= 2"),
        )


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule, a factor applied to every optimizer's configured rate.

    Attributes:
        kind: ``"constant"``, ``"cosine"`` (to ``min_factor`` at the end of the configured ``epochs``; ``max_steps``
            stops earlier without changing it) or ``"exponential"`` (× ``decay`` per epoch).
        warmup_steps: linear warm-up from 0 over this many steps.
        min_factor: final factor of the cosine schedule.
        decay: per-epoch factor of the exponential schedule.
    """

    kind: Literal["constant", "cosine", "exponential"] = "constant"
    warmup_steps: int = 0
    min_factor: float = 0.0
    decay: float = 0.95

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (self.warmup_steps < 0, "warmup_steps", "must be >= 0"),
            (not 0 <= self.min_factor <= 1, "min_factor", "must be in [0, 1]"),
            (not 0 < self.decay <= 1, "decay", "must be in (0, 1]"),
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (docs/models.md, "Training configuration").

    Attributes:
        model: the model family (``caloforge models`` lists them).
        model_config: the family's model options (its ``Config`` dataclass).
        trainer: the family's training options: learning rates, update ratio, critics.
        data: the training sample.
        seed: seeds the split, the weights, the batches and every noise draw.
        batch_size: showers per batch, over all processes (divisible by the number of DDP processes).
        epochs: passes over the training split.
        max_steps: stop after this many steps (generator updates) even if epochs remain.
        schedule: the learning-rate schedule.
        ema_decay: decay of the exponential moving average of the generator's weights (0: off); the EMA
            weights are validated and saved.
        grad_clip: clip each optimizer step's gradient norm to this (``null``: no clipping).
        checkpoint_every: also write the checkpoint every this many steps (it is always written at the end of
            every epoch and of the run).
        log_every: write losses to log.csv every this many steps.
        select_metric: the validation metric that picks the best model (lower is better).
        divergence_threshold: stop when a loss is NaN/inf or its magnitude exceeds this.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda``, ``cuda:N``.
        threads: CPU threads per process (``null``: torch's default, or cores / processes under torchrun).
        tensorboard: also write TensorBoard logs to RUN/tb if ``tensorboard`` is installed.
    """

    model: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)
    trainer: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 0
    batch_size: int = 256
    epochs: int = 50
    max_steps: int | None = None
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ema_decay: float = 0.999
    grad_clip: float | None = None
    checkpoint_every: int = 1000
    log_every: int = 50
    select_metric: str = "sep_mean"
    divergence_threshold: float = 1.0e6
    device: str = "auto"
    threads: int | None = None
    tensorboard: bool = True

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.model, "model", "is required (a model family; --model on the command line)"),
            (self.seed < 0, "seed", "must be >= 0"),
            (self.batch_size < 1, "batch_size", "must be >= 1"),
            (self.epochs < 1, "epochs", "must be >= 1"),
            (self.max_steps is not None and self.max_steps < 1, "max_steps", "must be >= 1"),
            (not 0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)"),
            (self.grad_clip is not None and not self.grad_clip > 0, "grad_clip", "must be > 0 or null"),
            (self.checkpoint_every < 1, "checkpoint_every", "must be >= 1"),
            (self.log_every < 1, "log_every", "must be >= 1"),
            (not self.divergence_threshold > 0, "divergence_threshold", "must be > 0"),
            (not _DEVICE.match(self.device), "device", f"must be auto, cpu, cuda or cuda:N, got {self.device!r}"),
            (self.threads is not None and self.threads < 1, "threads", "must be >= 1"),
        )

    # ---- the family's sections ---------------------------------------------------------------------------
    def family(self) -> type[GenerativeModel]:
        from caloforge.models.registry import get_family

        try:
            return get_family(self.model)
        except Exception as exc:
            raise ConfigError(f"model: {exc}") from None

    def family_configs(self, source: str = "") -> tuple[Any, Any]:
        """The family's model and trainer dataclasses (validated; errors name ``model_config.*``/``trainer.*``)."""
        cls = self.family()
        model_cfg: Any = from_dict(cls.Config, self.model_config, source=source, path="model_config")
        trainer_cfg: Any = from_dict(cls.trainer_class().Config, self.trainer, source=source, path="trainer")
        return model_cfg, trainer_cfg

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_dict(self)
        return out


# keys a resumed run may change: how long it runs and how it reports
RESUMABLE_CHANGES = frozenset({"epochs", "max_steps", "checkpoint_every", "log_every", "threads", "tensorboard"})


def load_train_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The training config from a YAML/JSON file (optional) with ``overrides`` (nested dict) on top.

    Raises:
        ConfigError: unreadable file, unknown keys, bad values, an unknown family, or bad family options.
    """
    source = str(path) if path is not None else ""
    data = load_config_file(path) if path is not None else {}
    if overrides:
        data = merge(data, overrides)
    cfg = from_dict(TrainConfig, data, source=source)
    model_cfg, trainer_cfg = cfg.family_configs(source)
    # store the family sections complete (defaults filled in), so that the run records every value used
    from dataclasses import replace

    return replace(cfg, model_config=to_dict(model_cfg), trainer=to_dict(trainer_cfg))


def resume_compatible(saved: TrainConfig, requested: TrainConfig) -> None:
    """Raise :class:`ConfigError` if ``requested`` differs from the run's ``saved`` config beyond run length.

    Only :data:`RESUMABLE_CHANGES` may differ between a run and its continuation.
    """
    a, b = saved.to_dict(), requested.to_dict()
    for key in a:
        if key in RESUMABLE_CHANGES:
            continue
        if a[key] != b.get(key):
            raise ConfigError(
                f"cannot resume: {key} differs from the run's config.json ({a[key]!r} there, {b.get(key)!r} now); "
                f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change when resuming"
            )
