"""ONNX export: one self-contained file per model, the preprocessing folded in, checked against PyTorch.

The exported graph is the model's deterministic map from noise to showers (the noise is an input, so that a
caller with its own random numbers — Geant4, a C++ framework — gets showers, and caloforge's own
:class:`~caloforge.inference.FastSim` gets the same showers on every backend for one seed). Two I/O
conventions (:mod:`caloforge.inference.convention`): ``caloforge`` (named inputs, MeV out) and ``par04``
(Geant4 example Par04: one input vector, energy fractions in (r, φ, z) order).

The file is written by ``torch.onnx.export(..., dynamo=True, external_data=False)`` with a dynamic batch
dimension ``batch``, carries the model description (:class:`~caloforge.inference.spec.ModelSpec`), the
convention and the precision in ``metadata_props``, and is checked with onnxruntime against PyTorch on the
same noise before it is written: every cell must agree within ``|Δ| ≤ 1e-4·|x| + 1e-5·E_inc``
(:data:`EXPORT_TOLERANCE`): float32 rounding of differently ordered sums. Measured on the tiny test models:
CaloGAN and WGAN stay below 0.003 of it, flow matching (an ODE solved in float32) below 0.07. Reduced
precisions (:mod:`caloforge.inference.quantize`) differ by design; their fidelity against float32 is measured
(:mod:`caloforge.inference.fidelity`) and stored in the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from caloforge._version import __version__
from caloforge.exceptions import MissingExtraError, ModelError
from caloforge.inference.convention import (
    FORMAT,
    FORMAT_VERSION,
    PAR04_MAX_ANGLE_DEG,
    PAR04_MAX_ENERGY_MEV,
    CaloforgeIO,
    Convention,
    Par04IO,
    convention_from_metadata,
)
from caloforge.inference.spec import ModelSpec, canonical_precision

if TYPE_CHECKING:
    import onnx
    from numpy.typing import NDArray

    from caloforge.models.base import GenerativeModel

__all__ = [
    "EXPORT_TOLERANCE",
    "ExportResult",
    "OnnxFile",
    "convention_conditions",
    "deviation",
    "example_conditions",
    "export_onnx",
    "onnx_model",
    "read_onnx",
]

#: (rtol, atol per MeV of incident energy): the float32 agreement of onnxruntime with PyTorch
EXPORT_TOLERANCE = (1e-4, 1e-5)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingExtraError("onnx", "onnx") from None
    return onnx


def deviation(
    reference: NDArray[np.floating],
    other: NDArray[np.floating],
    energy: NDArray[np.floating],
    tolerance: tuple[float, float] = EXPORT_TOLERANCE,
) -> float:
    """Largest cell difference in units of the tolerance: ``max |a − b| / (rtol·|a| + atol·E_inc)``.

    ``≤ 1`` means every cell agrees within the tolerance. Shapes ``(N, n_voxels)`` and ``(N,)`` MeV.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ModelError(f"outputs of shapes {a.shape} and {b.shape} cannot be compared")
    if a.size == 0:
        return 0.0
    rtol, atol = tolerance
    scale = rtol * np.abs(a) + atol * np.asarray(energy, dtype=np.float64)[:, None]
    diff = np.abs(a - b)
    if not np.all(np.isfinite(b)):
        return math.inf
    return float(np.max(diff / scale))


# --------------------------------------------------------------------------------------------------
# the graphs that get exported
# --------------------------------------------------------------------------------------------------
class _CaloforgeGraph(nn.Module):
    """``(z, energy[, particle][, theta]) → showers`` MeV: the model's forward without CPU chunking."""

    def __init__(self, model: GenerativeModel, conv: CaloforgeIO) -> None:
        super().__init__()
        self.model = model
        self.with_particle = conv.with_particle
        self.with_theta = conv.with_theta

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        z, energy = inputs[0], inputs[1]
        rest = list(inputs[2:])
        particle = rest.pop(0) if self.with_particle else None
        theta = rest.pop(0) if self.with_theta else None
        pre = self.model.preprocessing
        cond = pre.condition(energy, particle, theta)
        return pre.to_mev(self.model.decode(z, energy, cond), energy)


class _Par04Graph(nn.Module):
    """``[z, E/1,024,000 MeV, angle/90°, g0, g1] → deposited energy / E`` in (r, φ, z) order."""

    def __init__(self, model: GenerativeModel, conv: Par04IO) -> None:
        super().__init__()
        self.model = model
        self.latent = conv.spec.latent_dim
        self.particle = conv.particle if len(conv.spec.preprocessing.particles) > 1 else None
        self.with_theta = conv.spec.preprocessing.theta_range is not None
        self.inverse_scale = 1.0 / conv.spec.geometry.energy_scale
        self.perm: torch.Tensor
        self.register_buffer("perm", torch.from_numpy(conv.permutation()), persistent=False)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        z = inputs[:, : self.latent]
        energy = inputs[:, self.latent] * PAR04_MAX_ENERGY_MEV
        particle = None
        if self.particle is not None:
            particle = torch.full_like(energy, float(self.particle)).to(torch.int64)
        theta = None
        if self.with_theta:
            # Par04's angle is to the barrel axis (90° = normal incidence); caloforge's θ to the stack normal
            theta = (90.0 - inputs[:, self.latent + 1] * PAR04_MAX_ANGLE_DEG) * (math.pi / 180.0)
        pre = self.model.preprocessing
        cond = pre.condition(energy, particle, theta)
        showers = pre.to_mev(self.model.decode(z, energy, cond), energy)
        fractions = showers * self.inverse_scale / energy.unsqueeze(1)
        return fractions.index_select(1, self.perm)


def example_conditions(
    spec: ModelSpec, n: int, seed: int = 0, particle: int | None = None
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.int64] | None, NDArray[np.float64] | None]:
    """Noise and conditions spread over the model's training range: ``(z, energy MeV, particle, theta rad)``.

    Energies are log-uniform in the training range (its ends included), particles cycle through the trained
    ones (or are all ``particle``), angles are uniform in the trained range — the inputs of export checks and
    of calibrations.
    """
    rng = np.random.default_rng(seed)
    pre = spec.preprocessing
    lo, hi = pre.energy_min, pre.energy_max
    energy = np.exp(rng.uniform(math.log(lo), math.log(hi), n)) if hi > lo else np.full(n, lo)
    energy[: min(n, 2)] = [lo, hi][: min(n, 2)]
    codes: NDArray[np.int64] | None = None
    if particle is not None:
        codes = np.full(n, particle, dtype=np.int64)
    elif pre.particles:
        codes = np.asarray(pre.particles, dtype=np.int64)[np.arange(n) % len(pre.particles)]
    theta = None
    if pre.theta_range is not None:
        theta = rng.uniform(pre.theta_range[0], pre.theta_range[1], n)
    z = rng.standard_normal((n, spec.latent_dim)).astype(np.float32)
    return z, energy, codes, theta


def convention_conditions(
    conv: Convention, n: int, seed: int = 0
) -> tuple[NDArray[np.float32], NDArray[np.float64], NDArray[np.int64] | None, NDArray[np.float64] | None]:
    """:func:`example_conditions` that a graph of convention ``conv`` accepts (a Par04 graph: its one particle)."""
    return example_conditions(conv.spec, n, seed, conv.particle if isinstance(conv, Par04IO) else None)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what torch's exporter says that is no business of the user's.

    - FutureWarning "`isinstance(treespec, LeafSpec)` is deprecated": raised inside torch.export itself.
    - UserWarning "The axis name: batch will not be used, since it shares the same shape constraints ...":
      the inputs share one batch dimension by design, and the name ``batch`` is used all the same.
    - log records "torchvision is not installed. Skipping torchvision::nms" (and friends): caloforge needs none.
    """
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
            )
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
            yield
    finally:
        logger.setLevel(level)


def set_metadata(proto: onnx.ModelProto, entries: dict[str, str]) -> None:
    """Set (replace) ``metadata_props`` entries of an ONNX model in place."""
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in entries]
    del proto.metadata_props[:]
    for key, value in [*keep, *entries.items()]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def metadata(proto: onnx.ModelProto) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX model as a dict."""
    return {p.key: p.value for p in proto.metadata_props}


def onnx_model(
    model: GenerativeModel,
    *,
    par04: bool = False,
    particle: str | int | None = None,
    opset: int | None = None,
    name: str = "",
    weights_sha256: str = "",
) -> onnx.ModelProto:
    """The float32 ONNX graph of ``model`` (not yet checked against PyTorch: :func:`export_onnx` does that).

    Args:
        model: the model (moved to the CPU for tracing).
        par04: the Par04 convention instead of caloforge's.
        particle: the particle baked into a Par04 graph (needed for multi-particle models).
        opset: ONNX opset (default: torch's).
        name: the model's name (pretrained name or folder) for the metadata.
        weights_sha256: SHA-256 of the weights, recorded in the metadata.

    Raises:
        ModelError: ``par04`` for a readout Par04 cannot use, or a model the exporter cannot trace.
        MissingExtraError: onnx/onnxscript are not installed.
    """
    _onnx()
    spec = ModelSpec.from_model(model, weights_sha256)
    conv: Convention
    if par04:
        code = None
        if particle is not None:
            from caloforge.io import particle_code

            code = particle_code(particle)
        conv = Par04IO.for_spec(spec, code)
    else:
        conv = CaloforgeIO(spec)
    z, energy, part, theta = convention_conditions(conv, 4, seed=0)
    feed = conv.feed(z, energy, part, theta)
    args = tuple(torch.from_numpy(feed[k]) for k in conv.input_names)
    model = model.to("cpu").eval()
    graph: nn.Module
    if isinstance(conv, Par04IO):
        graph = _Par04Graph(model, conv)
    else:
        assert isinstance(conv, CaloforgeIO)
        graph = _CaloforgeGraph(model, conv)
    graph.eval()
    batch = torch.export.Dim("batch")
    shapes = tuple({0: batch} for _ in args)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                graph,
                args,
                None,
                input_names=list(conv.input_names),
                output_names=list(conv.output_names),
                # _CaloforgeGraph.forward takes *inputs: one entry holding a spec per tensor
                dynamic_shapes=(shapes,) if isinstance(graph, _CaloforgeGraph) else shapes,
                opset_version=opset,
                dynamo=True,
                external_data=False,
                optimize=True,
                verbose=False,
            )
    except ModelError:
        raise
    except Exception as exc:  # the exporter's errors are long; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot export the {spec.family} model to ONNX: {first}") from exc
    assert program is not None
    proto = program.model_proto
    proto.producer_name = "caloforge"
    proto.producer_version = __version__
    proto.doc_string = (
        f"caloforge {spec.family} model {name or ''} ({spec.geometry.name}, {spec.geometry.n_voxels} voxels); "
        f"convention {conv.name}. "
        + conv.metadata()["caloforge.inputs"]
        + " -> "
        + conv.metadata()["caloforge.outputs"]
    )
    entries = {
        "caloforge.format": FORMAT,
        "caloforge.format_version": str(FORMAT_VERSION),
        "caloforge.version": __version__,
        "caloforge.name": name,
        "caloforge.model": spec.to_json(),
        "caloforge.precision": "fp32",
        "caloforge.tolerance": (
            f"fp32 onnxruntime vs PyTorch on the same noise: |diff| <= {EXPORT_TOLERANCE[0]:g}*|x| + "
            f"{EXPORT_TOLERANCE[1]:g}*E_inc per cell (MeV)"
        ),
        "caloforge.torch_version": torch.__version__,
        **conv.metadata(),
    }
    set_metadata(proto, entries)
    return proto


@dataclass(frozen=True)
class OnnxFile:
    """An ONNX model written by caloforge, with what it declares about itself."""

    proto: onnx.ModelProto
    spec: ModelSpec
    convention: Convention
    precision: str
    meta: dict[str, str]
    source: str = ""


def read_onnx(source: str | Path | onnx.ModelProto | bytes) -> OnnxFile:
    """Read an ONNX model written by caloforge (``caloforge export``).

    Raises:
        ModelError: not an ONNX file, or one without caloforge's metadata (a foreign model cannot be run by
            FastSim: it does not say what its inputs mean).
    """
    onnx = _onnx()
    label = "ONNX model" if not isinstance(source, str | Path) else str(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"ONNX file {str(path)!r} does not exist")
        try:
            proto = onnx.load_model(str(path), load_external_data=False)
        except Exception as exc:
            raise ModelError(f"{str(path)!r} is not a readable ONNX file ({type(exc).__name__})") from None
    elif isinstance(source, bytes):
        proto = onnx.load_model_from_string(source)
    else:
        proto = source
    meta = metadata(proto)
    if meta.get("caloforge.format") != FORMAT or "caloforge.model" not in meta:
        raise ModelError(
            f"{label} was not written by caloforge export (no caloforge metadata), so its inputs are unknown"
        )
    version = meta.get("caloforge.format_version", "0")
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise ModelError(f"{label}: caloforge ONNX format version {version} is newer than this caloforge reads")
    spec = ModelSpec.from_json(meta["caloforge.model"], source=label)
    conv = convention_from_metadata(meta, spec, label)
    precision = canonical_precision(meta.get("caloforge.precision", "fp32"))
    return OnnxFile(proto, spec, conv, precision, meta, label)


def check_against_torch(
    proto: onnx.ModelProto,
    model: GenerativeModel,
    conv: Convention,
    *,
    n: int = 64,
    seed: int = 0,
) -> float:
    """Run the graph with onnxruntime and the model with PyTorch on the same noise; the :func:`deviation`."""
    from caloforge.inference.ortbackend import make_session

    z, energy, particle, theta = convention_conditions(conv, n, seed)
    session = make_session(proto.SerializeToString(), threads=1)
    out = session.run(None, conv.feed(z, energy, particle, theta))[0]
    showers = conv.showers(out, energy)
    model = model.to("cpu").eval()
    with torch.inference_mode():
        reference = model(
            torch.from_numpy(z),
            torch.from_numpy(energy.astype(np.float32)),
            None if particle is None else torch.from_numpy(particle),
            None if theta is None else torch.from_numpy(theta.astype(np.float32)),
        ).numpy()
    return deviation(reference, showers, energy)


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the ONNX file.
        convention: ``caloforge`` or ``par04``.
        precision: the file's precision.
        n_bytes: file size.
        deviation: the float32 graph's largest difference from PyTorch in tolerance units (≤ 1 passes).
        fidelity: reduced precision only: its fidelity against float32 (:class:`~caloforge.inference.fidelity.Fidelity`).
        inputs, outputs: the graph's input and output descriptions.
        par04_macro: the Par04 macro commands for this model (Par04 convention only).
    """

    path: Path
    convention: str
    precision: str
    n_bytes: int
    deviation: float
    inputs: str
    outputs: str
    fidelity: dict[str, Any] | None = None
    par04_macro: str = ""


def _resolve(model: GenerativeModel | str | Path) -> tuple[GenerativeModel, str, str]:
    from caloforge.models.base import GenerativeModel

    if isinstance(model, GenerativeModel):
        return model, model.family, ""
    from caloforge.models.registry import resolve_model_path
    from caloforge.models.serialize import load_model, read_model_config

    folder = resolve_model_path(model)
    config = read_model_config(folder)
    weights = config.get("weights")
    sha = str(weights.get("sha256", "")) if isinstance(weights, dict) else ""
    return load_model(folder), str(model), sha


def export_onnx(
    model: GenerativeModel | str | Path,
    output: str | Path,
    *,
    par04: bool = False,
    precision: str = "fp32",
    particle: str | int | None = None,
    opset: int | None = None,
    calibration_showers: int = 512,
    fidelity_showers: int = 2000,
    seed: int = 0,
) -> ExportResult:
    """Export a model to one self-contained ONNX file, checked against PyTorch.

    Args:
        model: a model, or a pretrained name, model folder or training run.
        output: the ``.onnx`` file (written atomically).
        par04: write Geant4 Par04's convention (one input vector, energy fractions in r, φ, z order).
        precision: ``fp32``, ``fp16``, ``int8`` (dynamic) or ``int8-static`` (calibrated).
        particle: the particle of a Par04 graph (multi-particle models).
        opset: ONNX opset (default: torch's exporter default).
        calibration_showers: noise + condition samples for ``int8-static`` calibration and fp16 range checks.
        fidelity_showers: showers generated with float32 and the reduced precision to measure the fidelity
            (0: skip).
        seed: seeds the check, calibration and fidelity inputs.

    Raises:
        ModelError: an unknown model, a readout Par04 cannot use, a graph that disagrees with PyTorch, a
            precision the exporter does not produce (``bf16``: torch backend only).
    """
    onnx = _onnx()
    precision = canonical_precision(precision)
    if precision == "bf16":
        raise ModelError("precision bf16 runs on the torch backend only; export fp32, fp16, int8 or int8-static")
    net, name, sha = _resolve(model)
    proto = onnx_model(net, par04=par04, particle=particle, opset=opset, name=name, weights_sha256=sha)
    info = read_onnx(proto)
    dev = check_against_torch(proto, net, info.convention, seed=seed)
    if not dev <= 1.0:
        raise ModelError(
            f"the exported graph disagrees with PyTorch by {dev:.3g} x the tolerance "
            f"(|diff| <= {EXPORT_TOLERANCE[0]:g}|x| + {EXPORT_TOLERANCE[1]:g} E_inc); the file was not written"
        )
    fidelity = None
    final = proto
    if precision != "fp32":
        from caloforge.inference.quantize import convert_precision

        final = convert_precision(proto, precision, info.convention, calibration_showers=calibration_showers, seed=seed)
        if fidelity_showers > 0:
            from caloforge.inference.fidelity import compare_onnx

            fidelity = compare_onnx(proto, final, n=fidelity_showers, seed=seed + 1).to_dict()
            set_metadata(final, {"caloforge.fidelity": json.dumps(fidelity)})
    from caloforge.io.files import atomic_path

    out = Path(output)
    with atomic_path(out) as tmp:
        onnx.save_model(final, str(tmp), save_as_external_data=False)
    conv_meta = info.convention.metadata()
    return ExportResult(
        path=out,
        convention=info.convention.name,
        precision=precision,
        n_bytes=out.stat().st_size,
        deviation=dev,
        inputs=conv_meta["caloforge.inputs"],
        outputs=conv_meta["caloforge.outputs"],
        fidelity=fidelity,
        par04_macro=info.convention.macro() if isinstance(info.convention, Par04IO) else "",
    )
