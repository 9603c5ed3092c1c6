"""Reduced-precision variants of an exported float32 graph: float16, int8 (dynamic), int8 (static, calibrated).

All three start from the float32 graph of :func:`caloforge.inference.export.onnx_model`, whose constant
sub-graphs are first folded by onnxruntime's hardware-independent ("basic") optimisations, so that every
weight is an initializer. The graph's inputs and outputs stay float32 in every variant.

- ``fp16`` (our converter; onnxconverter-common is not a dependency): a node computes in float16 when its op
  has float16 kernels (:data:`FP16_OPS`) and every float tensor it reads or writes stays below
  :data:`FP16_LIMIT` in magnitude on calibration inputs (noise + conditions over the training range, ends
  included) and it is not in the decoding tail (a path to an output that passes no learned product: the
  conversion of network outputs to energies). Everything else — energies in MeV, the conversion to MeV, nodes
  that write the graph's outputs — stays float32, with Cast nodes at the borders. The limit leaves a factor 16
  below float16's largest value (65504) for extrapolation.
- ``int8``: ``onnxruntime.quantization.quantize_dynamic`` on MatMul and Gemm, except products with a
  non-negative constant matrix (sums and resamplings, see :func:`_aggregation_products`) and products with
  fewer than 1/:data:`SMALL_PRODUCT` of the largest product's weights (:func:`_small_products`): 7-bit int8
  weights (``reduce_range``) with one scale per output channel, activations quantised to uint8 with a scale
  computed per run over the whole input tensor (so a shower depends slightly on the other showers of its
  chunk; FastSim's chunks are fixed, so the same seed and batch size still give the same showers). This is the
  scheme of the 3DGAN int8 study (Rehm et al. 2021, EVALUATION.md).
- ``int8-static``: ``quantize_static`` (QDQ format, MinMax calibration) on MatMul and Gemm, with scales
  calibrated on noise + conditions drawn over the training range (a generator's inputs are noise and
  conditions, so no showers are needed).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import MissingExtraError, ModelError
from caloforge.inference.spec import canonical_precision

if TYPE_CHECKING:
    import onnx
    from numpy.typing import NDArray

    from caloforge.inference.convention import Convention

__all__ = [
    "FP16_LIMIT",
    "FP16_OPS",
    "CalibrationReader",
    "convert_precision",
    "fold_constants",
    "gemm_as_matmul",
    "to_float16",
    "to_int8_dynamic",
    "to_int8_static",
]

#: largest magnitude a float16 node may see on calibration inputs (float16 max 65504, 16× headroom)
FP16_LIMIT = 4096.0
#: ops that run in float16 (onnxruntime has CPU and CUDA float16 kernels for them)
FP16_OPS = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Max", "Min", "Sum",
        "MatMul", "Gemm",
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
        "Transpose", "Reshape", "Concat", "Slice", "Gather", "Pad", "Unsqueeze", "Squeeze", "Expand",
        "Flatten", "Identity", "Split", "Tile", "ReduceSum", "Cast",
    }
)  # fmt: skip
#: ops that read a float tensor of either precision without a Cast (they use only its shape)
_SHAPE_OPS = frozenset({"Shape", "Size"})
_QUANT_OPS = ["MatMul", "Gemm"]
#: products with fewer than 1/SMALL_PRODUCT of the largest product's constant weights stay float32 in the dynamic
#: int8 graph (:func:`_small_products`)
SMALL_PRODUCT = 16


def _modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise MissingExtraError("onnx and onnxruntime", "onnx") from None
    return onnx, onnxruntime


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime.quantization logs advice ("Please consider to run pre-processing...") on the root logger;
    caloforge does the pre-processing, so keep it off the user's terminal while quantising."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _copy_metadata(source: onnx.ModelProto, target: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    from caloforge.inference.export import metadata, set_metadata

    set_metadata(target, {**metadata(source), "caloforge.precision": precision})
    target.doc_string = source.doc_string
    target.producer_name = source.producer_name
    target.producer_version = source.producer_version
    return target


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """The graph after onnxruntime's basic (hardware-independent) optimisations: constants folded, so every
    weight the network multiplies with is an initializer. Metadata is kept."""
    onnx, ort = _modules()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(out)
        options.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
        folded = onnx.load_model(str(out))
    return _copy_metadata(model, folded, _precision_of(model))


def _precision_of(model: onnx.ModelProto) -> str:
    for p in model.metadata_props:
        if p.key == "caloforge.precision":
            return p.value
    return "fp32"


# --------------------------------------------------------------------------------------------------
# calibration inputs
# --------------------------------------------------------------------------------------------------
class CalibrationReader:
    """Feeds of noise + conditions over the training range, in batches (an onnxruntime CalibrationDataReader).

    Args:
        convention: the graph's input convention.
        n: number of samples.
        batch: samples per feed.
        seed: seeds the noise and the conditions.
    """

    def __init__(self, convention: Convention, n: int = 512, batch: int = 64, seed: int = 0) -> None:
        from caloforge.inference.export import convention_conditions

        if n < 1:
            raise ModelError(f"calibration needs at least one sample, got {n}")
        z, energy, particle, theta = convention_conditions(convention, n, seed)
        self.feeds = [
            convention.feed(
                z[i : i + batch],
                energy[i : i + batch],
                None if particle is None else particle[i : i + batch],
                None if theta is None else theta[i : i + batch],
            )
            for i in range(0, n, batch)
        ]
        self._next = 0

    def get_next(self) -> dict[str, NDArray[Any]] | None:
        if self._next >= len(self.feeds):
            return None
        self._next += 1
        return self.feeds[self._next - 1]

    def rewind(self) -> None:
        self._next = 0

    def __iter__(self) -> Iterator[dict[str, NDArray[Any]]]:
        return iter(self.feeds)


# --------------------------------------------------------------------------------------------------
# float16
# --------------------------------------------------------------------------------------------------
def _tensor_ranges(model: onnx.ModelProto, names: list[str], reader: CalibrationReader) -> dict[str, float]:
    """Largest |value| (inf if non-finite) of each named float tensor over the calibration feeds."""
    onnx, ort = _modules()
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    peak = dict.fromkeys(names, 0.0)
    for feed in reader:
        values = session.run(names, feed)
        for name, v in zip(names, values, strict=True):
            arr = np.asarray(v)
            if arr.size:
                m = float(np.max(np.abs(arr))) if np.all(np.isfinite(arr)) else float("inf")
                peak[name] = max(peak[name], m)
    return peak


def to_float16(model: onnx.ModelProto, reader: CalibrationReader, limit: float = FP16_LIMIT) -> onnx.ModelProto:
    """Mixed float16/float32 version of a (constant-folded) float32 graph; see the module docstring.

    Raises:
        ModelError: a graph with control flow (sub-graphs), which this converter does not handle.
    """
    onnx, _ = _modules()
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ModelError(f"fp16: the graph has control flow ({node.op_type}); export it in fp32")
    elem: dict[str, int] = {}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        elem[vi.name] = vi.type.tensor_type.elem_type
    inits = {t.name: t for t in graph.initializer}
    for t in graph.initializer:
        elem[t.name] = t.data_type
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    elem[node.output[0]] = a.t.data_type
                    constants[node.output[0]] = a.t
    is_float = {name for name, t in elem.items() if t == TensorProto.FLOAT}
    outputs = {o.name for o in graph.output}
    measured = sorted(
        {n for node in graph.node for n in [*node.input, *node.output] if n in is_float and n not in inits and n}
    )
    peak = _tensor_ranges(model, measured, reader)

    def small(name: str) -> bool:
        if name in inits:
            return bool(np.all(np.abs(numpy_helper.to_array(inits[name])) < limit))
        if name in constants:
            return bool(np.all(np.abs(numpy_helper.to_array(constants[name])) < limit))
        return peak.get(name, np.inf) < limit

    # the decoding tail stays float32: every node with a path to an output that passes no learned product
    # (MatMul/Gemm other than the sums of _aggregation_products). It turns network outputs into energies
    # (u-parameters -> layer energies, shares x layer energies, the give-back of the voxel cut); in float16,
    # E_tot/E_inc, a ~0.1 %-wide peak, falls on float16's grid of 2^-11 (calogan-eplus-wgan: 0.14 against
    # float32 before, docs/deployment.md)
    sums = set(_aggregation_products(model))
    producer = {o: k for k, node in enumerate(graph.node) for o in node.output}
    tail: set[int] = set()  # node indices
    todo = [producer[o] for o in outputs if o in producer]
    while todo:
        k = todo.pop()
        node = graph.node[k]
        if k in tail or (node.op_type in _QUANT_OPS and node.name not in sums):
            continue
        tail.add(k)
        todo.extend(producer[i] for i in node.input if i in producer)
    lowp = []
    for k, node in enumerate(graph.node):
        floats = [n for n in [*node.input, *node.output] if n in is_float]
        ok = (
            k not in tail
            and node.op_type in FP16_OPS
            and bool(floats)
            and not (set(node.output) & outputs)
            and all(small(n) for n in floats)
            and all(n in is_float or elem.get(n) != TensorProto.DOUBLE for n in node.output)
        )
        if ok and node.op_type == "Cast":  # only float→float or int→float casts change their target
            to = next(a.i for a in node.attribute if a.name == "to")
            ok = to == TensorProto.FLOAT
        lowp.append(ok)

    half_of: dict[str, str] = {}  # float32 tensor → its float16 twin
    full_of: dict[str, str] = {}  # float16 tensor → its float32 twin
    produced_half: set[str] = set()
    new_inits = []
    new_nodes: list[Any] = []

    def want_half(name: str) -> str:
        if name in produced_half:
            return name
        if name not in half_of:
            twin = f"{name}__fp16"
            half_of[name] = twin
            if name in inits:
                new_inits.append(numpy_helper.from_array(numpy_helper.to_array(inits[name]).astype(np.float16), twin))
            elif name in constants:
                value = numpy_helper.from_array(numpy_helper.to_array(constants[name]).astype(np.float16), twin)
                new_nodes.append(helper.make_node("Constant", [], [twin], value=value, name=f"{twin}_const"))
            else:
                new_nodes.append(helper.make_node("Cast", [name], [twin], to=TensorProto.FLOAT16, name=f"{twin}_cast"))
        return half_of[name]

    def want_full(name: str) -> str:
        if name not in produced_half:
            return name
        if name not in full_of:
            twin = f"{name}__fp32"
            full_of[name] = twin
            new_nodes.append(helper.make_node("Cast", [name], [twin], to=TensorProto.FLOAT, name=f"{twin}_cast"))
        return full_of[name]

    for node, half in zip(list(graph.node), lowp, strict=True):
        if half:
            for i, name in enumerate(node.input):
                if name in is_float:
                    node.input[i] = want_half(name)
            for a in node.attribute:
                if node.op_type == "Cast" and a.name == "to":
                    a.i = TensorProto.FLOAT16
            produced_half.update(n for n in node.output if n in is_float)
        elif node.op_type not in _SHAPE_OPS:
            for i, name in enumerate(node.input):
                if name:
                    node.input[i] = want_full(name)
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(new_inits)
    del graph.value_info[:]  # the types changed; onnxruntime infers them again
    used = {n for node in graph.node for n in node.input}
    keep = [t for t in graph.initializer if t.name in used or t.name in outputs]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    return _copy_metadata(model, model, "fp16")


# --------------------------------------------------------------------------------------------------
# int8
# --------------------------------------------------------------------------------------------------
def _preprocess(model: onnx.ModelProto, folder: Path) -> Path:
    """onnxruntime's recommended pre-processing before quantisation (shape inference, basic optimisation)."""
    onnx, _ = _modules()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = folder / "fp32.onnx"
    target = folder / "pre.onnx"
    onnx.save_model(model, str(source))
    try:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference gives up on some dynamic graphs; ONNX's own still works
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    # after the pre-processing: its optimiser fuses MatMul + Add back into Gemm
    processed = gemm_as_matmul(onnx.load_model(str(target)))
    _aggregation_products(processed)  # names every node, so that exclusions can name them
    onnx.save_model(processed, str(target))
    return target


def gemm_as_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every Gemm as Transpose/MatMul/Mul/Add, so that MatMul quantisation covers it.

    onnxruntime's quantiser names the transposed copy of a Gemm input after the input, so two Gemms with
    ``transB`` on one tensor (CaloGAN's per-layer dense layers all read ``[z·E, c]``) produce a duplicate
    name and an invalid model; explicit Transpose nodes with unique names avoid that.
    """
    onnx, _ = _modules()
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes: list[Any] = []
    added = []
    for k, node in enumerate(graph.node):
        if node.op_type != "Gemm":
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        operands = []
        for name, flag in ((node.input[0], attrs.get("transA", 0)), (node.input[1], attrs.get("transB", 0))):
            if not flag:
                operands.append(name)
            elif name in inits:
                twin = f"{name}__T{k}"
                added.append(numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(inits[name]).T), twin))
                operands.append(twin)
            else:
                twin = f"{name}__T{k}"
                nodes.append(helper.make_node("Transpose", [name], [twin], perm=[1, 0], name=f"{twin}_transpose"))
                operands.append(twin)
        has_c = len(node.input) > 2 and bool(node.input[2])
        out = node.output[0]
        product = f"{out}__mm" if (alpha != 1.0 or has_c) else out
        nodes.append(helper.make_node("MatMul", operands, [product], name=f"{node.name or out}_matmul"))
        if alpha != 1.0:
            scaled = f"{out}__alpha" if has_c else out
            added.append(numpy_helper.from_array(np.array(alpha, dtype=np.float32), f"{out}__alpha_value"))
            nodes.append(helper.make_node("Mul", [product, f"{out}__alpha_value"], [scaled]))
            product = scaled
        if has_c:
            bias = node.input[2]
            if beta != 1.0:
                added.append(numpy_helper.from_array(np.array(beta, dtype=np.float32), f"{out}__beta_value"))
                nodes.append(helper.make_node("Mul", [bias, f"{out}__beta_value"], [f"{out}__c"]))
                bias = f"{out}__c"
            nodes.append(helper.make_node("Add", [product, bias], [out]))
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    used = {n for node in graph.node for n in node.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    onnx.checker.check_model(model)
    return model


def _aggregation_products(model: onnx.ModelProto) -> list[str]:
    """Names of MatMul nodes whose constant operand has no negative entry (after naming unnamed nodes).

    Learned weight matrices have entries of both signs; non-negative constant matrices are sums and
    resamplings (flow matching's voxel→layer membership, CaloGAN's cell-overlap resampling). Quantising those
    zeroes the small entries of a sum that the network then divides by, so they stay float32 (they cost little).
    """
    _modules()
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    out = []
    for k, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{k}"
        if node.op_type not in _QUANT_OPS:
            continue
        for name in node.input[:2]:
            if name in inits and float(np.min(numpy_helper.to_array(inits[name]))) >= 0.0:
                out.append(node.name)
                break
    return out


def _small_products(model: onnx.ModelProto, fraction: int = SMALL_PRODUCT) -> list[str]:
    """Names of MatMul/Gemm nodes whose constant operand has fewer than 1/``fraction`` of the entries of the
    graph's largest constant operand of a MatMul/Gemm.

    Such products cost little, so int8 saves almost no time on them, but they often act on single numbers
    where a per-tensor uint8 scale over a whole batch is coarse. In calogan-eplus's graph (largest: the
    adaLN maps, 128 → 768) they are the per-voxel head (5 → 16 → 1) and the per-voxel skip weights (12 time
    features → 504 voxels) of stage 2, the time-feature inputs (16 → 128) and the output layer of the stage-1
    MLP (128 → 3): under 2 % of the multiply-adds. Keeping them float32 took the worst separation power of
    its int8 graph against float32 from 0.079 to 0.0041 at the same speed (2026-11-24, AMD EPYC with AVX2,
    together with ``reduce_range``; docs/deployment.md).
    """
    _modules()
    inits = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    sizes = {
        node.name: max(inits[name] for name in node.input[:2] if name in inits)
        for node in model.graph.node
        if node.op_type in _QUANT_OPS and any(name in inits for name in node.input[:2])
    }
    limit = max(sizes.values(), default=0) / fraction
    return [name for name, size in sizes.items() if size < limit]


def to_int8_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """7-bit int8 weights, per-run uint8 activations on MatMul and Gemm (``quantize_dynamic``)."""
    onnx, _ = _modules()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp, _quiet_quantizer():
        pre = _preprocess(model, Path(tmp))
        out = Path(tmp) / "int8.onnx"
        graph = onnx.load_model(str(pre))
        quantize_dynamic(
            str(pre),
            str(out),
            op_types_to_quantize=_QUANT_OPS,
            nodes_to_exclude=_aggregation_products(graph) + _small_products(graph),
            weight_type=QuantType.QInt8,
            # weights in 7 bits: x86 CPUs without VNNI (AVX2, AVX-512F) multiply uint8 by int8 with VPMADDUBSW,
            # whose int16 pair sums saturate with 8-bit weights (onnxruntime's quantisation docs; OpenVINO's
            # "saturation issue"). On an AVX2 AMD EPYC this halved the worst separation power of calogan-eplus
            # against float32 (docs/deployment.md)
            reduce_range=True,
            # one weight scale per output column: on calogan-eplus-wgan this halved the worst separation power
            # against fp32 (0.011 -> 0.006) at 5 % of the speed (docs/deployment.md)
            per_channel=True,
            # CaloGAN's locally connected layers multiply weights from the left (weight @ activations): the
            # default (constant B only) would leave them in float32
            extra_options={"MatMulConstBOnly": False},
        )
        quantized = onnx.load_model(str(out))
    return _copy_metadata(model, quantized, "int8")


def to_int8_static(model: onnx.ModelProto, reader: CalibrationReader) -> onnx.ModelProto:
    """int8 weights and activations with MinMax-calibrated scales on MatMul and Gemm (``quantize_static``, QDQ)."""
    onnx, _ = _modules()
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp, _quiet_quantizer():
        pre = _preprocess(model, Path(tmp))
        out = Path(tmp) / "int8s.onnx"
        reader.rewind()
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=_QUANT_OPS,
            nodes_to_exclude=_aggregation_products(onnx.load_model(str(pre))),
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=False,
            calibrate_method=CalibrationMethod.MinMax,
        )
        quantized = onnx.load_model(str(out))
    return _copy_metadata(model, quantized, "int8-static")


def convert_precision(
    model: onnx.ModelProto,
    precision: str,
    convention: Convention,
    *,
    calibration_showers: int = 512,
    seed: int = 0,
) -> onnx.ModelProto:
    """The ``precision`` variant (``fp32``, ``fp16``, ``int8``, ``int8-static``) of a float32 export.

    Raises:
        ModelError: ``bf16`` (torch backend only) or an unknown precision.
    """
    precision = canonical_precision(precision)
    if precision == "fp32":
        return model
    if precision == "bf16":
        raise ModelError("precision bf16 runs on the torch backend only")
    folded = fold_constants(model)
    if precision == "int8":
        return to_int8_dynamic(folded)
    reader = CalibrationReader(convention, n=calibration_showers, seed=seed)
    if precision == "fp16":
        return to_float16(folded, reader)
    return to_int8_static(folded, reader)
