"""The exceptions caloforge raises for bad input (STYLE.md #5).

Every error meant for a user derives from :class:`CaloforgeError`; its message is one line that names the
file, option or key at fault and what to do. The CLI prints it as ``error: <message>`` and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "CaloforgeError",
    "ConfigError",
    "DataFormatError",
    "GeometryError",
    "MissingExtraError",
    "ModelError",
    "SimulationError",
]


class CaloforgeError(Exception):
    """Base class of every user-facing caloforge error."""


class GeometryError(CaloforgeError, ValueError):
    """An unknown preset, a bad geometry file, or a geometry that does not fit the data."""


class DataFormatError(CaloforgeError, ValueError):
    """A shower file that is missing, corrupt, of an unknown layout, or holds invalid values."""


class ConfigError(CaloforgeError, ValueError):
    """A configuration (training, model, command option) with an unknown key or an impossible value."""


class SimulationError(CaloforgeError, RuntimeError):
    """The reference simulation was asked for something it cannot do."""


class ModelError(CaloforgeError, ValueError):
    """An unknown model, an incompatible checkpoint, or conditions a model cannot take."""


class MissingExtraError(CaloforgeError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is needed for this; install it with: pip install 'caloforge[{extra}]'")
        self.package = package
        self.extra = extra
