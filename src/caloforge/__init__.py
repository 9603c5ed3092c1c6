"""caloforge: fast simulation of particle showers in calorimeters.

The package is organised as the data flows (docs/architecture.md):
``geometry`` → ``io`` → ``detsim`` / ``models`` → ``training`` / ``inference`` → ``validation`` / ``events``
→ ``cli``. Importing :mod:`caloforge` itself is cheap; subpackages import their heavy dependencies
(numba, torch, matplotlib) when first used.
"""

from caloforge._version import __version__

__all__ = ["__version__"]
