"""``FastSim``: load a trained model by name or path and sample showers in MeV.

>>> sim = FastSim.load("calogan-eplus")                           # doctest: +SKIP
>>> showers = sim.sample(np.full(1000, 50_000.0), seed=1)          # doctest: +SKIP
>>> showers.showers.shape                                          # doctest: +SKIP
(1000, 504)

Sampling is split into batches; batch ``b`` draws its noise from a generator seeded with ``(seed, b)``, so
batches can be made by separate processes and the noise is the same on every device. The noise is drawn on the
CPU with torch's generator and handed to a *backend* that maps it to showers: ``"torch"`` today; an ONNX
runtime backend and reduced ``precision`` plug in through :data:`BACKENDS`.

On the CPU the torch backend cuts a batch into chunks of the model's ``inference_chunk`` rows and runs them
on ``threads`` worker threads, each chunk with single-threaded operations: the showers are bitwise the same for
any number of threads, and busy machines do not stall the fine-grained synchronisation of intra-op threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from caloforge.exceptions import ModelError
from caloforge.models.seeding import derive_seed, torch_generator

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from caloforge.geometry import Geometry
    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel

__all__ = ["BACKENDS", "FastSim", "TorchBackend"]

_NOISE_KEY = 11


class TorchBackend:
    """Runs the model's deterministic map ``(z, E, particle, θ) → showers`` with PyTorch.

    Args:
        model: the loaded model.
        device: where to run.
        precision: ``"float32"`` (the only precision of this backend).
        threads: CPU worker threads over chunks (default: torch's intra-op thread count).
    """

    precisions = ("float32",)
    default_chunk = 2048

    def __init__(
        self,
        model: GenerativeModel,
        device: str | torch.device = "cpu",
        precision: str = "float32",
        threads: int | None = None,
    ) -> None:
        if precision not in self.precisions:
            raise ModelError(f"the torch backend runs in {', '.join(self.precisions)}, not {precision!r}")
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        self.device = torch.device(device)
        self.threads = threads if threads is not None else torch.get_num_threads()
        self.model = model.to(self.device).eval()

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
                return self.model(*(None if t is None else t[rows] for t in inputs))

        n = z.shape[0]
        if dev.type != "cpu":
            return np.ascontiguousarray(work(slice(0, n)).cpu().numpy())
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
        return np.ascontiguousarray(out.numpy())


#: backend name → factory(model, device, precision, threads); other backends (ONNX, int8) register here
BACKENDS: dict[str, Callable[..., Any]] = {"torch": TorchBackend}


class FastSim:
    """A trained shower model ready to sample (see the module docstring).

    Args:
        model: the model.
        name: how it was found (pretrained name or folder), for metadata.
        path: its folder, if it was loaded from one.
        device: ``"cpu"``, ``"cuda"``...
        backend: a key of :data:`BACKENDS`.
        precision: the backend's numeric precision.
        threads: CPU threads (default: torch's intra-op thread count).
    """

    def __init__(
        self,
        model: GenerativeModel,
        *,
        name: str = "",
        path: Path | None = None,
        device: str | torch.device = "cpu",
        backend: str = "torch",
        precision: str = "float32",
        threads: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        self.model = model
        self.name = name or model.family
        self.path = path
        self.backend_name = backend
        self.precision = precision
        self.backend = BACKENDS[backend](model, device, precision, threads)

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        *,
        device: str | torch.device = "cpu",
        backend: str = "torch",
        precision: str = "float32",
        threads: int | None = None,
        geometry: Geometry | str | None = None,
        particle: str | int | None = None,
    ) -> FastSim:
        """Load a pretrained model by name, a model folder, or a training run folder (its best model).

        Args:
            name_or_path: see :func:`caloforge.models.resolve_model_path`.
            device, backend, precision, threads: where and how to run it.
            geometry: if given, the model must generate this geometry (preset name, file or Geometry).
            particle: if given, the model must know this particle.

        Raises:
            ModelError: unknown model, unreadable folder, or a model that does not fit ``geometry``/``particle``.
        """
        from caloforge.models.registry import resolve_model_path
        from caloforge.models.serialize import load_model

        path = resolve_model_path(name_or_path)
        sim = cls(
            load_model(path),
            name=str(name_or_path),
            path=path,
            device=device,
            backend=backend,
            precision=precision,
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
            sim.model.preprocessing.check_conditions(
                np.array([sim.energy_range[0]]), _particles(particle, 1), None, allow_extrapolation=True
            )
        return sim

    # ---- description -----------------------------------------------------------------------------------
    @property
    def geometry(self) -> Geometry:
        return self.model.geometry

    @property
    def particles(self) -> tuple[int, ...]:
        """PDG ids the model was trained on (empty: unspecified)."""
        return self.model.preprocessing.particles

    @property
    def energy_range(self) -> tuple[float, float]:
        """Incident-energy range of the training sample, MeV."""
        pre = self.model.preprocessing
        return pre.energy_min, pre.energy_max

    @property
    def card(self) -> dict[str, Any]:
        from caloforge.models.serialize import read_card

        return read_card(self.path) if self.path is not None else {}

    # ---- sampling --------------------------------------------------------------------------------------
    def check_conditions(
        self,
        energy: ArrayLike,
        particle: str | int | ArrayLike | None = None,
        theta: ArrayLike | None = None,
        *,
        allow_extrapolation: bool = False,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64] | None, NDArray[np.float64] | None]:
        """Energies (MeV), PDG ids and θ (rad) as arrays, checked against what the model was trained for.

        Raises:
            ModelError: an energy outside the training range, an unknown particle, an angle the model does not take.
        """
        e = np.atleast_1d(np.asarray(energy, dtype=np.float64)).reshape(-1)
        p = _particles(particle, e.size)
        if p is None and len(self.particles) == 1:
            p = np.full(e.size, self.particles[0], dtype=np.int64)
        t = None
        if theta is not None:
            t = np.broadcast_to(np.asarray(theta, dtype=np.float64), e.shape).copy()
        self.model.preprocessing.check_conditions(e, p, t, allow_extrapolation=allow_extrapolation)
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
        z = torch.randn(energy.size, self.model.latent_dim, generator=generator).numpy()
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
    ) -> Iterator[ShowerSet]:
        """Like :meth:`sample`, one ShowerSet per batch (memory bounded by ``batch_size``)."""
        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        e, p, t = self.check_conditions(energy, particle, theta, allow_extrapolation=allow_extrapolation)
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

        Raises:
            ModelError: conditions the model was not trained for.
        """
        from caloforge.io import ShowerSet

        parts = list(
            self.iter_sample(
                energy, particle, theta, batch_size=batch_size, seed=seed, allow_extrapolation=allow_extrapolation
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
