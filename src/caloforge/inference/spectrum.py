"""Incident-energy spectra to generate showers at: one energy, a uniform or log-uniform range, a list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from caloforge.exceptions import ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["EnergySpectrum"]


@dataclass(frozen=True)
class EnergySpectrum:
    """Incident energies in MeV.

    Attributes:
        kind: ``"fixed"`` (``low``), ``"uniform"`` or ``"log"`` (log-uniform) in ``[low, high]``, or
            ``"discrete"`` (each of ``values`` with equal probability).
        low, high: range in MeV.
        values: the energies of a discrete spectrum, MeV.
    """

    kind: Literal["fixed", "uniform", "log", "discrete"]
    low: float
    high: float
    values: tuple[float, ...] = ()

    @classmethod
    def parse(
        cls, text: str, *, spectrum: str = "uniform", unit: float = 1000.0, option: str = "--energy"
    ) -> EnergySpectrum:
        """Parse ``"50"``, ``"1:100"`` or ``"1,10,100"`` given in units of ``unit`` MeV (GeV by default).

        Args:
            text: the energy option.
            spectrum: ``"uniform"`` or ``"log"`` for a range.
            unit: MeV per unit of ``text``.
            option: the option's name for error messages.

        Raises:
            ConfigError: unparseable text, non-positive energies, an empty range or an unknown spectrum.
        """
        if spectrum not in ("uniform", "log"):
            raise ConfigError(f"--spectrum must be uniform or log, got {spectrum!r}")
        t = text.strip()
        try:
            if ":" in t:
                lo_s, hi_s = t.split(":")
                numbers = [float(lo_s) * unit, float(hi_s) * unit]
            else:
                numbers = [float(v) * unit for v in t.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(f"{option}: {text!r} is not an energy, a range LOW:HIGH or a list A,B,C (GeV)") from None
        if not numbers or any(not np.isfinite(v) or v <= 0 for v in numbers):
            raise ConfigError(f"{option}: energies must be finite and > 0, got {text!r}")
        if ":" in t:
            lo, hi = numbers
            if hi <= lo:
                raise ConfigError(f"{option}: range {text!r} must be LOW:HIGH with 0 < LOW < HIGH")
            return cls("log" if spectrum == "log" else "uniform", lo, hi)
        if "," in t:
            return cls("discrete", min(numbers), max(numbers), tuple(numbers))
        return cls("fixed", numbers[0], numbers[0])

    def sample(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        """``n`` incident energies ``(n,)`` in MeV."""
        if self.kind == "fixed":
            return np.full(n, self.low)
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, n)
        if self.kind == "log":
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), n))
        return np.asarray(self.values, dtype=np.float64)[rng.integers(0, len(self.values), n)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "low_MeV": self.low, "high_MeV": self.high, "values_MeV": list(self.values)}
