"""Inference: ``FastSim`` (load a model by name, path or ONNX file and sample showers in MeV), streaming
generation, ONNX export (caloforge's and Geant4 Par04's conventions), reduced precision and benchmarks.

Modules: ``fastsim`` (FastSim, the torch backend), ``ortbackend`` (the onnxruntime backend), ``spec`` (a model
without weights; precision names), ``convention`` (ONNX input/output conventions), ``export`` (ONNX export,
checked against PyTorch), ``quantize`` (fp16, int8 dynamic/static), ``fidelity`` (what a precision costs),
``benchmark`` (time per shower beside the reference simulation), ``generate`` (streaming to HDF5),
``spectrum`` (energy spectra). onnx/onnxruntime are imported only by the functions that need them.

>>> from caloforge.inference import EnergySpectrum
>>> EnergySpectrum.parse("1:100", spectrum="log").kind
'log'
"""

from __future__ import annotations

from caloforge.inference.fastsim import BACKENDS, ExtrapolationWarning, FastSim, TorchBackend
from caloforge.inference.generate import generate_to_file
from caloforge.inference.spec import PRECISIONS, ModelSpec, canonical_precision
from caloforge.inference.spectrum import EnergySpectrum

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "EnergySpectrum",
    "ExtrapolationWarning",
    "FastSim",
    "ModelSpec",
    "TorchBackend",
    "canonical_precision",
    "generate_to_file",
]
