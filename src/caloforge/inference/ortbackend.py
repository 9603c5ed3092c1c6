"""The onnxruntime backend of :class:`~caloforge.inference.FastSim`.

A session runs an ONNX graph written by :func:`caloforge.inference.export.onnx_model` (either convention).
On the CPU a batch is cut into chunks of the model's ``inference_chunk`` rows, run on ``threads`` Python
threads against one session with a single intra-op thread (``session.run`` releases the GIL): the rows of a
chunk never depend on the thread count, so the showers are bitwise the same for any ``threads``. int8 graphs
with dynamic quantisation scale their activations per chunk, so their showers depend on the chunk (and batch)
size as well — the same seed and batch size still give the same showers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import MissingExtraError, ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from caloforge.inference.convention import Convention

__all__ = ["OnnxBackend", "make_session", "onnxruntime_module"]

_DEFAULT_CHUNK = 2048


def onnxruntime_module() -> Any:
    """``onnxruntime``, or a :class:`MissingExtraError` naming the extra."""
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError("onnxruntime", "onnx") from None
    return onnxruntime


def _providers(device: str) -> list[str]:
    ort = onnxruntime_module()
    kind = str(device).split(":")[0]
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelError(
                "device cuda with backend onnx needs onnxruntime-gpu (CUDAExecutionProvider is not available; "
                f"this onnxruntime has {', '.join(ort.get_available_providers())})"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ModelError(f"backend onnx runs on cpu or cuda, not {device!r}")


def make_session(model: bytes, *, threads: int = 1, device: str = "cpu") -> Any:
    """An onnxruntime session with ``threads`` intra-op threads, all graph optimisations, errors-only logging."""
    ort = onnxruntime_module()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: onnxruntime's warnings go to stderr, not to Python
    try:
        return ort.InferenceSession(model, sess_options=options, providers=_providers(device))
    except ModelError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot load the model: {first}") from None


class OnnxBackend:
    """Runs an exported graph with onnxruntime.

    Args:
        model: the serialised ONNX model.
        convention: its input/output convention (:mod:`caloforge.inference.convention`).
        device: ``"cpu"`` or ``"cuda"`` (needs onnxruntime-gpu).
        threads: CPU worker threads over chunks (default: torch's intra-op thread count).
        precision: the graph's precision (for the record; the graph already is in it).
    """

    def __init__(
        self,
        model: bytes,
        convention: Convention,
        *,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "fp32",
    ) -> None:
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        if threads is None:
            import torch

            threads = torch.get_num_threads()
        self.convention = convention
        self.device = str(device)
        self.precision = precision
        self.threads = threads
        self.n_bytes = len(model)
        self.session = make_session(model, threads=1, device=self.device)
        self.chunk = convention.spec.inference_chunk or _DEFAULT_CHUNK
        self.output = convention.output_names[0]

    def run(
        self,
        z: NDArray[np.float32],
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
    ) -> NDArray[np.float32]:
        """Showers ``(N, n_voxels)`` MeV for noise ``(N, latent_dim)``, energies (MeV), PDG ids, θ (rad)."""
        feed = self.convention.feed(z, energy, particle, theta)
        n = z.shape[0]
        if n == 0:
            return np.zeros((0, self.convention.spec.geometry.n_voxels), dtype=np.float32)

        def work(rows: slice) -> NDArray[Any]:
            out: NDArray[Any] = self.session.run([self.output], {k: v[rows] for k, v in feed.items()})[0]
            return out

        if self.device != "cpu":
            raw = work(slice(0, n))
        else:
            pieces = [slice(start, start + self.chunk) for start in range(0, n, self.chunk)]
            if self.threads > 1 and len(pieces) > 1:
                with ThreadPoolExecutor(min(self.threads, len(pieces))) as pool:
                    parts = list(pool.map(work, pieces))
            else:
                parts = [work(rows) for rows in pieces]
            raw = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return self.convention.showers(raw, energy)
