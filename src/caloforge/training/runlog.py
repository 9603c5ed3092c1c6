"""What a run writes while it trains: ``log.csv`` (losses), ``metrics.csv`` (validation) and TensorBoard.

Only the main process writes. On resume, rows after the checkpoint's step are dropped first, so that the
logs of a resumed run read as those of an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

__all__ = ["RunLog"]


class _CsvTable:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file():
            with open(path, newline="") as f:
                header = next(csv.reader(f), None)
            self.columns = header or None

    def truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [r for r in rows if int(float(r["step"])) <= step]
        if len(keep) == len(rows) or self.columns is None:
            return
        tmp = self.path.with_name(self.path.name + ".partial")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(keep)
        tmp.replace(self.path)

    def append(self, row: dict[str, Any]) -> None:
        if self.columns is None:
            self.columns = list(row)
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, self.columns).writeheader()
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore", restval="").writerow(
                {k: _fmt(v) for k, v in row.items()}
            )


def _fmt(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return value


class RunLog:
    """CSV (and optional TensorBoard) logs of a run folder; a no-op when ``enabled`` is false."""

    def __init__(self, folder: Path, *, enabled: bool, tensorboard: bool, resume_step: int | None = None) -> None:
        self.enabled = enabled
        self.tb: Any = None
        if not enabled:
            return
        self.losses = _CsvTable(folder / "log.csv")
        self.metrics = _CsvTable(folder / "metrics.csv")
        if resume_step is not None:
            self.losses.truncate_after(resume_step)
            self.metrics.truncate_after(resume_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                return
            self.tb = SummaryWriter(str(folder / "tb"), purge_step=resume_step)

    def log_losses(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.losses.append({"step": step, "epoch": epoch, **values})
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(f"train/{key}", value, step)

    def log_metrics(self, step: int, epoch: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.metrics.append({"step": step, "epoch": epoch, **values})
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(f"val/{key}", value, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None
