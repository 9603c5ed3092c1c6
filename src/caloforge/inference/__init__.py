"""Inference: ``FastSim`` (load a model by name or path and sample showers in MeV) and streaming generation.

>>> from caloforge.inference import EnergySpectrum
>>> EnergySpectrum.parse("1:100", spectrum="log").kind
'log'
"""

from __future__ import annotations

from caloforge.inference.fastsim import BACKENDS, FastSim, TorchBackend
from caloforge.inference.generate import generate_to_file
from caloforge.inference.spectrum import EnergySpectrum

__all__ = ["BACKENDS", "EnergySpectrum", "FastSim", "TorchBackend", "generate_to_file"]
