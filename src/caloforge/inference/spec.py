"""What a backend needs to know about a model besides its weights, and the names of numeric precisions.

A :class:`ModelSpec` is the part of a model that stays the same whichever runtime maps noise to showers: the
family, the noise width, the preprocessing (condition encoding, training ranges), the geometry, the parameter
count and the rows per CPU pass. It travels inside exported ONNX files (``metadata_props``), so that an ONNX
file alone is enough for :class:`~caloforge.inference.FastSim` to check conditions and label its output.

>>> canonical_precision("float16"), canonical_precision("int8")
('fp16', 'int8')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from caloforge.exceptions import CaloforgeError, ModelError

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.models.base import GenerativeModel
    from caloforge.models.preprocessing import Preprocessing

__all__ = ["PRECISIONS", "ModelSpec", "canonical_precision"]

#: precision name → what it means (docs/deployment.md has the measured cost of each)
PRECISIONS: dict[str, str] = {
    "fp32": "float32 everywhere",
    "fp16": "float16 matrix products and activations; inputs, conditions and MeV outputs float32",
    "bf16": "bfloat16 matrix products and activations (torch backend); conditions and MeV outputs float32",
    "int8": "int8 weights, activations quantised per batch at run time (onnxruntime dynamic quantisation)",
    "int8-static": "int8 weights and activations with scales calibrated on noise + conditions (onnxruntime static)",
}
_ALIASES = {
    "float32": "fp32",
    "float": "fp32",
    "float16": "fp16",
    "half": "fp16",
    "bfloat16": "bf16",
    "int8-dynamic": "int8",
    "qint8": "int8",
    "int8-calibrated": "int8-static",
}


def canonical_precision(name: str) -> str:
    """The canonical name (``fp32``, ``fp16``, ``bf16``, ``int8``, ``int8-static``) of a precision or alias.

    Raises:
        ModelError: an unknown precision; the message lists the known ones.
    """
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in PRECISIONS:
        raise ModelError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    return key


@dataclass(frozen=True)
class ModelSpec:
    """A model without its weights.

    Attributes:
        family: registry name of the family.
        latent_dim: width of the noise ``z``.
        preprocessing: condition encoding, training ranges and voxel transform.
        geometry: the readout the model generates.
        n_parameters: number of generator parameters.
        inference_chunk: rows per CPU pass (0: a backend's default).
        weights_sha256: SHA-256 of the safetensors weights the spec was made from ("" if unknown).
    """

    family: str
    latent_dim: int
    preprocessing: Preprocessing
    geometry: Geometry
    n_parameters: int
    inference_chunk: int = 0
    weights_sha256: str = ""

    @classmethod
    def from_model(cls, model: GenerativeModel, weights_sha256: str = "") -> ModelSpec:
        return cls(
            family=model.family,
            latent_dim=int(model.latent_dim),
            preprocessing=model.preprocessing,
            geometry=model.geometry,
            n_parameters=int(model.n_parameters),
            inference_chunk=int(model.inference_chunk),
            weights_sha256=weights_sha256,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "latent_dim": self.latent_dim,
            "preprocessing": self.preprocessing.to_dict(),
            "geometry": self.geometry.to_dict(),
            "n_parameters": self.n_parameters,
            "inference_chunk": self.inference_chunk,
            "weights_sha256": self.weights_sha256,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "") -> ModelSpec:
        """Parse :meth:`to_json` output.

        Raises:
            ModelError: not JSON, a missing key, or an invalid preprocessing or geometry (named with ``source``).
        """
        from caloforge.geometry import geometry_from_dict
        from caloforge.models.preprocessing import Preprocessing

        where = f"{source}: " if source else ""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{where}the caloforge model description is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{where}the caloforge model description is not a JSON object")
        missing = [k for k in ("family", "latent_dim", "preprocessing", "geometry", "n_parameters") if k not in data]
        if missing:
            raise ModelError(f"{where}the caloforge model description lacks {', '.join(missing)}")
        try:
            return cls(
                family=str(data["family"]),
                latent_dim=int(data["latent_dim"]),
                preprocessing=Preprocessing.from_dict(data["preprocessing"], source=source),
                geometry=geometry_from_dict(data["geometry"], source=source),
                n_parameters=int(data["n_parameters"]),
                inference_chunk=int(data.get("inference_chunk", 0)),
                weights_sha256=str(data.get("weights_sha256", "")),
            )
        except ModelError:
            raise
        except CaloforgeError as exc:
            raise ModelError(str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}invalid caloforge model description ({exc})") from None
