"""``FastSim``: load a trained model by name or path and sample showers in MeV.

>>> sim = FastSim.load("calogan-eplus")                           # doctest: +SKIP
>>> showers = sim.sample(np.full(1000, 50_000.0), seed=1)          # doctest: +SKIP
>>> showers.showers.shape                                          # doctest: +SKIP
(1000, 504)
>>> FastSim.load("model.onnx", threads=2)                          # doctest: +SKIP  (an exported file)
>>> FastSim.load("calogan-eplus", backend="onnx", precision="int8") # doctest: +SKIP

Sampling is split into batches; batch ``b`` draws its noise from a generator seeded with ``(seed, b)``, so
batches can be made by separate processes and the noise is the same on every device and backend. The noise is
drawn on the CPU with torch's generator and handed to a *backend* that maps it to showers (:data:`BACKENDS`):

- ``"torch"``: the model in PyTorch, precision ``fp32``, or ``bf16``/``fp16`` (weights and matrix products in
  the low precision, conditions and the conversion to MeV in float32);
- ``"onnx"``: onnxruntime on an exported graph (:mod:`caloforge.inference.export`), precision ``fp32``,
  ``fp16``, ``int8`` (dynamic quantisation) or ``int8-static`` (calibrated). A model folder is exported when it
  is loaded (tens of seconds); an ``.onnx`` file written by ``caloforge export`` is loaded as it is.

The same seed gives the same showers on every backend up to the backend's arithmetic: bitwise on one backend
and precision for any number of threads; float32 onnxruntime vs PyTorch within
:data:`caloforge.inference.export.EXPORT_TOLERANCE`; reduced precisions differ by design
(:mod:`caloforge.inference.fidelity` measures how much).

On the CPU both backends cut a batch into chunks of the model's ``inference_chunk`` rows and run them on
``threads`` worker threads, each chunk with single-threaded operations: the showers are bitwise the same for
any number of threads, and busy machines do not stall the fine-grained synchronisation of intra-op threads.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from caloforge.exceptions import ConfigError, ModelError
from caloforge.inference.spec import ModelSpec, canonical_precision
from caloforge.models.seeding import derive_seed, torch_generator

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from caloforge.geometry import Geometry
    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel

__all__ = ["BACKENDS", "ExtrapolationWarning", "FastSim", "TorchBackend"]

_NOISE_KEY = 11
#: relative margin outside the training energy range that is not called extrapolation (as the preprocessing's)
ENERGY_MARGIN = 0.05
Extrapolation = Literal["error", "warn", "allow"]


class ExtrapolationWarning(UserWarning):
    """Showers were requested outside the conditions the model was trained on."""


class TorchBackend:
    """Runs the model's deterministic map ``(z, E, particle, θ) → showers`` with PyTorch.

    Args:
        model: the loaded model (not modified: reduced precisions run on a copy).
        device: where to run.
        precision: ``"fp32"``; ``"bf16"`` or ``"fp16"`` run the network with weights in that type under
            ``torch.autocast`` while the conditions and the conversion to MeV stay float32 (energies in MeV
            overflow float16).
        threads: CPU worker threads over chunks (default: torch's intra-op thread count).
    """

    precisions = ("fp32", "bf16", "fp16")
    default_chunk = 2048

    def __init__(
        self,
        model: GenerativeModel,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        threads: int | None = None,
    ) -> None:
        precision = canonical_precision(precision)
        if precision not in self.precisions:
            raise ModelError(
                f"the torch backend runs in {', '.join(self.precisions)}, not {precision!r} "
                "(int8 runs on backend='onnx')"
            )
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        self.device = torch.device(device)
        self.threads = threads if threads is not None else torch.get_num_threads()
        self.precision = precision
        self.model = model.to(self.device).eval()
        self.dtype: torch.dtype | None = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.lowp: GenerativeModel | None = None
        if self.dtype is not None:
            # parameters in the low precision; buffers (normalisation statistics, resampling matrices) stay
            # float32, and autocast runs the matrix products in the low precision
            self.lowp = copy.deepcopy(self.model)
            for p in self.lowp.parameters():
                p.data = p.data.to(self.dtype)

    def _map(
        self, z: torch.Tensor, energy: torch.Tensor, particle: torch.Tensor | None, theta: torch.Tensor | None
    ) -> torch.Tensor:
        if self.lowp is None or self.dtype is None:
            out: torch.Tensor = self.model(z, energy, particle, theta)
            return out
        pre = self.model.preprocessing
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            cond = pre.condition(energy, particle, theta)
            x = self.lowp.decode(z, energy, cond)
        return pre.to_mev(x.float(), energy)

    def run(
        self,
        z: NDArray[np.float32],
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
    ) -> NDArray[np.float32]:
        """Showers ``(N, n_voxels)`` MeV for noise ``(N, latent_dim)``, energies (MeV), PDG ids, θ (rad)."""
        dev = self.device
        inputs = (
            torch.from_numpy(z).to(dev),
            torch.from_numpy(energy.astype(np.float32)).to(dev),
            None if particle is None else torch.from_numpy(particle).to(dev),
            None if theta is None else torch.from_numpy(theta.astype(np.float32)).to(dev),
        )

        def work(rows: slice) -> torch.Tensor:
            with torch.inference_mode():
                return self._map(*(None if t is None else t[rows] for t in inputs))  # type: ignore[arg-type]

        n = z.shape[0]
        if dev.type != "cpu":
            return np.ascontiguousarray(work(slice(0, n)).float().cpu().numpy())
        chunk = self.model.inference_chunk or self.default_chunk
        pieces = [slice(start, start + chunk) for start in range(0, n, chunk)]
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if self.threads > 1 and len(pieces) > 1:
                with ThreadPoolExecutor(min(self.threads, len(pieces))) as pool:
                    parts = list(pool.map(work, pieces))
            else:
                parts = [work(rows) for rows in pieces]
        finally:
            torch.set_num_threads(previous)
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        return np.ascontiguousarray(out.float().numpy())


def _onnx_backend(
    model: GenerativeModel, device: str | torch.device = "cpu", precision: str = "fp32", threads: int | None = None
) -> Any:
    """Export ``model`` to ONNX in memory, convert it to ``precision`` and run it with onnxruntime."""
    from caloforge.inference.export import onnx_model, read_onnx
    from caloforge.inference.ortbackend import OnnxBackend

    precision = canonical_precision(precision)
    if precision == "bf16":
        raise ModelError(
            "precision bf16 runs on the torch backend; the onnx backend runs fp32, fp16, int8, int8-static"
        )
    proto = onnx_model(model)
    info = read_onnx(proto)
    if precision != "fp32":
        from caloforge.inference.quantize import convert_precision

        proto = convert_precision(proto, precision, info.convention)
    return OnnxBackend(
        proto.SerializeToString(), info.convention, device=str(device), threads=threads, precision=precision
    )


#: backend name → factory(model, device, precision, threads)
BACKENDS: dict[str, Callable[..., Any]] = {"torch": TorchBackend, "onnx": _onnx_backend}


class FastSim:
    """A trained shower model ready to sample (see the module docstring).

    Args:
        model: the model.
        name: how it was found (pretrained name or folder), for metadata.
        path: its folder, if it was loaded from one.
        device: ``"cpu"``, ``"cuda"``...
        backend: a key of :data:`BACKENDS`.
        precision: the backend's numeric precision (``fp32``, ``fp16``, ``bf16``, ``int8``, ``int8-static``;
            ``float32`` etc. are accepted).
        threads: CPU threads (default: torch's intra-op thread count); the showers do not depend on it.
    """

    model: GenerativeModel | None

    def __init__(
        self,
        model: GenerativeModel,
        *,
        name: str = "",
        path: Path | None = None,
        device: str | torch.device = "cpu",
        backend: str = "torch",
        precision: str = "fp32",
        threads: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        self.model = model
        self.spec = ModelSpec.from_model(model)
        self.name = name or model.family
        self.path = path
        self.backend_name = backend
        self.precision = canonical_precision(precision)
        self.backend = BACKENDS[backend](model, device, self.precision, threads)

    @classmethod
    def from_onnx(
        cls,
        source: str | Path | bytes,
        *,
        device: str = "cpu",
        threads: int | None = None,
        name: str = "",
    ) -> FastSim:
        """A FastSim on an ONNX file written by ``caloforge export`` (either convention, any precision).

        Raises:
            ModelError: not a caloforge ONNX file, or onnxruntime cannot load it.
        """
        from caloforge.inference.export import read_onnx
        from caloforge.inference.ortbackend import OnnxBackend

        info = read_onnx(source)
        raw = source if isinstance(source, bytes) else info.proto.SerializeToString()
        sim = cls.__new__(cls)
        sim.model = None
        sim.spec = info.spec
        sim.name = name or (str(source) if not isinstance(source, bytes) else info.meta.get("caloforge.name", ""))
        sim.path = Path(source) if isinstance(source, str | Path) else None
        sim.backend_name = "onnx"
        sim.precision = info.precision
        sim.backend = OnnxBackend(raw, info.convention, device=device, threads=threads, precision=info.precision)
        return sim

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        *,
        device: str | torch.device = "cpu",
        backend: str | None = None,
        precision: str | None = None,
        threads: int | None = None,
        geometry: Geometry | str | None = None,
        particle: str | int | None = None,
        steps: int | None = None,
        solver: str | None = None,
        time_shift: float | None = None,
    ) -> FastSim:
        """Load a pretrained model by name, a model folder, a training run folder (its best model), or an
        ONNX file written by ``caloforge export``.

        Args:
            name_or_path: see :func:`caloforge.models.resolve_model_path`, or a ``.onnx`` file.
            device: where to run it.
            backend: ``"torch"`` (default for models) or ``"onnx"`` (default and only choice for ONNX files).
            precision: ``fp32`` (default), ``fp16``, ``bf16`` (torch), ``int8``/``int8-static`` (onnx); an ONNX
                file has its own precision.
            threads: CPU threads; the showers do not depend on it.
            geometry: if given, the model must generate this geometry (preset name, file or Geometry).
            particle: if given, the model must know this particle.
            steps, solver: for an ODE-sampled model (flowmatch), sample with this many solver steps per stage
                and this solver (``euler``, ``midpoint``, ``heun``) instead of the saved settings: fewer steps
                are faster (docs/flowmatching.md has fidelity against steps). The model's voxel cut stays the
                one calibrated for its saved settings.
            time_shift: for a flowmatch model, the shift σ of the solver's time grid (σ > 1: shorter steps near
                the data; see :class:`~caloforge.models.flowmatch.FlowMatchConfig`) instead of the saved one.

        Raises:
            ModelError: unknown model, unreadable folder or file, unknown backend or precision, or a model that
                does not fit ``geometry``/``particle``.
        """
        path_like = Path(name_or_path)
        if path_like.suffix.lower() == ".onnx" and path_like.is_file():
            if backend not in (None, "onnx"):
                raise ModelError(f"{str(path_like)!r} is an ONNX file; it runs on backend 'onnx', not {backend!r}")
            sim = cls.from_onnx(path_like, device=str(device), threads=threads, name=str(name_or_path))
            if precision is not None and canonical_precision(precision) != sim.precision:
                raise ModelError(
                    f"{str(path_like)!r} is a {sim.precision} model; export it again with --precision "
                    f"{canonical_precision(precision)} for that precision"
                )
        else:
            from caloforge.models.registry import resolve_model_path
            from caloforge.models.serialize import load_model

            path = resolve_model_path(name_or_path)
            chosen = backend or "torch"
            if chosen not in BACKENDS:
                raise ModelError(f"unknown backend {chosen!r}; available: {', '.join(BACKENDS)}")
            model = load_model(path)
            if steps is not None or solver is not None or time_shift is not None:
                from caloforge.models.flowmatch import FlowMatch

                if not isinstance(model, FlowMatch):
                    raise ModelError(
                        f"model {str(name_or_path)!r} ({model.family}) is not sampled by an ODE solver; "
                        "steps, solver and time_shift apply to flowmatch models"
                    )
                try:
                    model = model.with_sampling(
                        steps=steps,
                        energy_steps=steps,
                        solver=solver,  # type: ignore[arg-type]
                        time_shift=time_shift,
                    )
                except ConfigError as exc:
                    raise ModelError(f"steps/solver/time_shift: {exc}") from None
            sim = cls(
                model,
                name=str(name_or_path),
                path=path,
                device=device,
                backend=chosen,
                precision=precision or "fp32",
                threads=threads,
            )
        if geometry is not None:
            from caloforge.geometry import resolve_geometry

            g = resolve_geometry(geometry)
            if g != sim.geometry:
                raise ModelError(
                    f"model {str(name_or_path)!r} generates geometry {sim.geometry.name!r}, not {g.name!r} "
                    f"({sim.geometry.n_voxels} vs {g.n_voxels} voxels)"
                )
        if particle is not None:
            sim.spec.preprocessing.check_conditions(
                np.array([sim.energy_range[0]]), _particles(particle, 1), None, allow_extrapolation=True
            )
        return sim

    # ---- description -----------------------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def geometry(self) -> Geometry:
        return self.spec.geometry

    @property
    def latent_dim(self) -> int:
        return self.spec.latent_dim

    @property
    def particles(self) -> tuple[int, ...]:
        """PDG ids the model was trained on (empty: unspecified)."""
        return self.spec.preprocessing.particles

    @property
    def energy_range(self) -> tuple[float, float]:
        """Incident-energy range of the training sample, MeV."""
        pre = self.spec.preprocessing
        return pre.energy_min, pre.energy_max

    @property
    def threads(self) -> int:
        """CPU worker threads of the backend (the showers do not depend on it)."""
        return int(self.backend.threads)

    @threads.setter
    def threads(self, value: int) -> None:
        if value < 1:
            raise ModelError(f"threads must be >= 1, got {value}")
        self.backend.threads = int(value)

    @property
    def card(self) -> dict[str, Any]:
        from caloforge.models.serialize import read_card

        return read_card(self.path) if self.path is not None and self.path.is_dir() else {}

    # ---- sampling --------------------------------------------------------------------------------------
    def extrapolation_message(self, energy: ArrayLike, theta: ArrayLike | None = None) -> str | None:
        """A one-line description of requested conditions outside the training range, or ``None``.

        Energies within 5 % of the range (``ENERGY_MARGIN``) and angles within 1e-6 rad count as inside.
        """
        pre = self.spec.preprocessing
        e = np.atleast_1d(np.asarray(energy, dtype=np.float64))
        problems = []
        if e.size and (
            e.min() < pre.energy_min * (1 - ENERGY_MARGIN) or e.max() > pre.energy_max * (1 + ENERGY_MARGIN)
        ):
            problems.append(
                f"requested energies {e.min() / 1e3:.4g}–{e.max() / 1e3:.4g} GeV lie outside the model's training "
                f"range {pre.energy_min / 1e3:.4g}–{pre.energy_max / 1e3:.4g} GeV"
            )
        if theta is not None and pre.theta_range is not None:
            t = np.atleast_1d(np.asarray(theta, dtype=np.float64))
            lo, hi = pre.theta_range
            if t.size and (t.min() < lo - 1e-6 or t.max() > hi + 1e-6):
                problems.append(
                    f"requested angles {math.degrees(t.min()):.3g}–{math.degrees(t.max()):.3g} degrees lie outside "
                    f"the model's range {math.degrees(lo):.3g}–{math.degrees(hi):.3g} degrees"
                )
        return "; ".join(problems) if problems else None

    def check_conditions(
        self,
        energy: ArrayLike,
        particle: str | int | ArrayLike | None = None,
        theta: ArrayLike | None = None,
        *,
        allow_extrapolation: bool = False,
        extrapolation: Extrapolation | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64] | None, NDArray[np.float64] | None]:
        """Energies (MeV), PDG ids and θ (rad) as arrays, checked against what the model was trained for.

        Args:
            energy, particle, theta: the requested conditions.
            allow_extrapolation: accept conditions outside the training range silently (``extrapolation="allow"``).
            extrapolation: ``"error"`` (default unless ``allow_extrapolation``), ``"warn"`` (an
                :class:`ExtrapolationWarning`) or ``"allow"``.

        Raises:
            ModelError: non-finite or non-positive energies, non-finite angles, an unknown particle, an angle the
                model does not take, or (``"error"``) conditions outside the training range.
        """
        mode: Extrapolation = extrapolation or ("allow" if allow_extrapolation else "error")
        if mode not in ("error", "warn", "allow"):
            raise ModelError(f"extrapolation must be error, warn or allow, not {mode!r}")
        e = np.atleast_1d(np.asarray(energy, dtype=np.float64)).reshape(-1)
        bad = ~np.isfinite(e) | (e <= 0)
        if np.any(bad):
            raise ModelError(
                f"incident energies must be finite and > 0 MeV; {int(bad.sum())} of {e.size} are not "
                f"(first: {e[np.argmax(bad)]})"
            )
        p = _particles(particle, e.size)
        if p is None and len(self.particles) == 1:
            p = np.full(e.size, self.particles[0], dtype=np.int64)
        t = None
        if theta is not None:
            t = np.broadcast_to(np.asarray(theta, dtype=np.float64), e.shape).copy()
            if not np.all(np.isfinite(t)):
                raise ModelError("incidence angles (theta) must be finite; got NaN or inf")
        self.spec.preprocessing.check_conditions(e, p, t, allow_extrapolation=True)
        message = self.extrapolation_message(e, t)
        if message is not None:
            if mode == "error":
                raise ModelError(f"{message} (pass --allow-extrapolation to go on anyway)")
            if mode == "warn":
                warnings.warn(f"{message}: the showers are extrapolations", ExtrapolationWarning, stacklevel=2)
        return e, p, t

    def sample_batch(
        self,
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
        *,
        seed: int,
        index: int,
    ) -> ShowerSet:
        """Batch ``index`` of a sample with ``seed`` (conditions already checked): a ShowerSet in MeV."""
        from caloforge.io import ShowerSet

        generator = torch_generator(derive_seed(seed, _NOISE_KEY, index))
        z = torch.randn(energy.size, self.spec.latent_dim, generator=generator).numpy()
        showers = self.backend.run(z, energy, particle, theta)
        if not np.all(np.isfinite(showers)):
            raise ModelError(f"model {self.name!r} produced NaN or inf voxel energies")
        return ShowerSet.from_arrays(energy, showers, self.geometry, particle=particle, theta=theta, validate=False)

    def iter_sample(
        self,
        energy: ArrayLike,
        particle: str | int | ArrayLike | None = None,
        theta: ArrayLike | None = None,
        *,
        batch_size: int = 10_000,
        seed: int | None = None,
        allow_extrapolation: bool = False,
        extrapolation: Extrapolation | None = None,
    ) -> Iterator[ShowerSet]:
        """Like :meth:`sample`, one ShowerSet per batch (memory bounded by ``batch_size``)."""
        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        e, p, t = self.check_conditions(
            energy, particle, theta, allow_extrapolation=allow_extrapolation, extrapolation=extrapolation
        )
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
        for index, start in enumerate(range(0, e.size, batch_size)):
            sl = slice(start, start + batch_size)
            yield self.sample_batch(
                e[sl], None if p is None else p[sl], None if t is None else t[sl], seed=seed, index=index
            )

    def sample(
        self,
        energy: ArrayLike,
        particle: str | int | ArrayLike | None = None,
        theta: ArrayLike | None = None,
        *,
        batch_size: int = 10_000,
        seed: int | None = None,
        allow_extrapolation: bool = False,
        extrapolation: Extrapolation | None = None,
    ) -> ShowerSet:
        """Showers for incident energies ``(N,)`` MeV, as a ShowerSet in MeV.

        Args:
            energy: incident energies in MeV (a scalar gives one shower).
            particle: a name (``"e+"``) or PDG id for every shower, or ``(N,)`` ids; may be omitted for a
                single-particle model.
            theta: incidence angle(s) in rad, for models conditioned on θ.
            batch_size: showers per forward pass.
            seed: the same seed (and batch size) gives the same showers; ``None`` draws a fresh seed.
            allow_extrapolation: accept energies outside the training range.
            extrapolation: ``"error"``, ``"warn"`` or ``"allow"`` conditions outside the training range
                (overrides ``allow_extrapolation``).

        Raises:
            ModelError: conditions the model was not trained for.
        """
        from caloforge.io import ShowerSet

        parts = list(
            self.iter_sample(
                energy,
                particle,
                theta,
                batch_size=batch_size,
                seed=seed,
                allow_extrapolation=allow_extrapolation,
                extrapolation=extrapolation,
            )
        )
        if not parts:
            e = np.zeros(0)
            return ShowerSet.from_arrays(e, np.zeros((0, self.geometry.n_voxels), np.float32), self.geometry)
        return parts[0] if len(parts) == 1 else ShowerSet.concatenate(parts)


def _particles(particle: str | int | ArrayLike | None, n: int) -> NDArray[np.int64] | None:
    if particle is None:
        return None
    if isinstance(particle, str | int | np.integer):
        from caloforge.io import particle_code

        try:
            code = particle_code(particle)
        except Exception as exc:
            raise ModelError(str(exc)) from None
        return np.full(n, code, dtype=np.int64)
    return np.asarray(particle, dtype=np.int64).reshape(-1)
