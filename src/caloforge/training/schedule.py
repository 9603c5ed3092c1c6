"""Learning-rate schedules: the factor applied to every optimizer's configured rate at a given step."""

from __future__ import annotations

import math

from caloforge.training.config import ScheduleConfig

__all__ = ["lr_factor"]


def lr_factor(schedule: ScheduleConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """The learning-rate factor at ``step`` (0-based) of a run of ``total_steps``.

    >>> lr_factor(ScheduleConfig(kind="cosine"), 50, 100, 10)
    0.5
    >>> lr_factor(ScheduleConfig(warmup_steps=10), 4, 100, 10)
    0.5
    """
    if schedule.warmup_steps and step < schedule.warmup_steps:
        return (step + 1) / schedule.warmup_steps
    if schedule.kind == "cosine":
        start = schedule.warmup_steps
        progress = (step - start) / max(total_steps - start, 1)
        return schedule.min_factor + (1 - schedule.min_factor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if schedule.kind == "exponential":
        return float(schedule.decay ** (step / max(steps_per_epoch, 1)))
    return 1.0
