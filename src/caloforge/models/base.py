"""The model protocol and the family interface that training talks to.

Every generative model is a :class:`GenerativeModel`: an ``nn.Module`` with a typed config, a
:class:`~caloforge.models.preprocessing.Preprocessing` and a :class:`~caloforge.geometry.Geometry`. Sampling
is split into noise and a deterministic map so that other backends (ONNX, quantised) can reuse the map:

- ``forward(z, energy, particle=None, theta=None) -> (N, n_voxels)`` MeV, with ``z`` of shape
  ``(N, latent_dim)`` drawn from N(0, 1);
- ``sample(energy, particle=None, theta=None, generator=None) -> (N, n_voxels)`` MeV draws ``z`` and calls it.

Training goes through the family's :class:`FamilyTrainer` (``model.trainer_class()``): it owns the critics,
the optimizers and the update ratio, and exposes one ``training_step(batches) -> losses``. The loop in
:mod:`caloforge.training` never asks which family it trains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from caloforge.models.config import from_dict, to_dict

if TYPE_CHECKING:
    from caloforge.geometry import Geometry
    from caloforge.io import ShowerSet
    from caloforge.models.preprocessing import Preprocessing

__all__ = ["Batch", "FamilyTrainer", "GenerativeModel", "GradSync"]

#: called with the parameters of one optimizer after ``backward`` (DDP averages gradients across processes)
GradSync = Callable[[list[nn.Parameter]], None]


@dataclass
class Batch:
    """One batch of training showers on the training device.

    Attributes:
        x: network data ``(N, n_voxels)`` (the preprocessing's ``to_data`` of the voxel energies).
        energy: incident energies ``(N,)`` in MeV.
        cond: condition vectors ``(N, n_conditions)``.
    """

    x: torch.Tensor
    energy: torch.Tensor
    cond: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


class GenerativeModel(nn.Module, ABC):
    """Base class of every shower generator (see the module docstring for the protocol).

    Subclasses set the class attributes, implement :meth:`decode`, :attr:`latent_dim`,
    :meth:`fit_preprocessing` and :meth:`trainer_class`, and may refuse geometries in :meth:`check_geometry`.

    Attributes:
        family: registry name of the family (``"calogan"``).
        summary: one line for ``caloforge models``.
        papers: arXiv ids (or report numbers) of the papers the family implements.
        Config: the family's model-config dataclass.
        inference_chunk: rows per pass when sampling on the CPU without gradients (keeps activations in cache;
            FastSim also spreads the chunks over threads); 0 = all.
    """

    family: ClassVar[str]
    summary: ClassVar[str]
    papers: ClassVar[tuple[str, ...]]
    Config: ClassVar[type]
    inference_chunk: ClassVar[int] = 0

    def __init__(self, config: Any, geometry: Geometry, preprocessing: Preprocessing) -> None:
        super().__init__()
        self.check_geometry(geometry)
        self.config = config
        self.geometry = geometry
        self.preprocessing = preprocessing

    # ---- what a family provides ----------------------------------------------------------------------
    @classmethod
    def check_geometry(cls, geometry: Geometry) -> None:
        """Raise :class:`~caloforge.exceptions.ModelError` if the family cannot model ``geometry``."""

    @classmethod
    @abstractmethod
    def fit_preprocessing(cls, data: ShowerSet, config: Any) -> Preprocessing:
        """The preprocessing of this family fitted on a training sample."""

    @classmethod
    @abstractmethod
    def trainer_class(cls) -> type[FamilyTrainer]:
        """The family's trainer."""

    @property
    @abstractmethod
    def latent_dim(self) -> int:
        """Width of the noise ``z``."""

    @abstractmethod
    def decode(self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Noise ``(N, latent_dim)``, energies ``(N,)`` MeV and conditions → network data ``(N, n_voxels)``."""

    @classmethod
    def config_from_dict(cls, data: Mapping[str, Any] | None, source: str = "") -> Any:
        """The family's config from a plain dict (unknown keys are errors)."""
        return from_dict(cls.Config, data or {}, source=source, path="model")

    def fit_data(self, data: ShowerSet) -> None:
        """Data-dependent initialisation from the training sample (:func:`~caloforge.models.build_model` calls it
        for a new model; a loaded or resumed model gets the fitted values from its weights).

        A family whose network needs statistics of the sample beyond :class:`Preprocessing` (e.g. per-voxel
        standardisation) keeps them in buffers and fits them here; by default there is nothing to fit.
        """

    def calibrate(self, data: ShowerSet, seed: int) -> None:
        """Adjust sampling-time settings after training so that samples match ``data`` (training showers);
        the training loop calls it before every validation, so saved models are calibrated. By default nothing.

        Args:
            data: training showers (never the sample the model is judged on).
            seed: seed of any noise the calibration draws.
        """

    # ---- the protocol ---------------------------------------------------------------------------------
    def forward(
        self,
        z: torch.Tensor,
        energy: torch.Tensor,
        particle: torch.Tensor | None = None,
        theta: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Showers ``(N, n_voxels)`` in MeV for noise ``z (N, latent_dim)``, energies ``(N,)`` MeV, PDG ids, θ (rad)."""
        dtype = self._dtype()
        energy = energy.to(dtype)
        cond = self.preprocessing.condition(energy, particle, None if theta is None else theta.to(dtype))
        chunk = self.inference_chunk
        if chunk and z.shape[0] > chunk and z.device.type == "cpu" and not torch.is_grad_enabled():
            x = torch.cat(
                [
                    self.decode(zc, ec, cc)
                    for zc, ec, cc in zip(z.split(chunk), energy.split(chunk), cond.split(chunk), strict=True)
                ]
            )
        else:
            x = self.decode(z, energy, cond)
        return self.preprocessing.to_mev(x, energy)

    def sample(
        self,
        energy: torch.Tensor,
        particle: torch.Tensor | None = None,
        theta: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw showers ``(N, n_voxels)`` in MeV for incident energies ``(N,)`` MeV.

        Args:
            energy: incident energies, MeV.
            particle: PDG ids ``(N,)`` (needed when the model knows several particles).
            theta: incidence angles ``(N,)`` in rad, for models conditioned on θ.
            generator: the random generator of the noise (its device is where the noise is drawn).
        """
        device = energy.device
        if generator is not None:
            z = torch.randn(energy.shape[0], self.latent_dim, generator=generator, device=generator.device)
            z = z.to(device=device, dtype=self._dtype())
        else:
            z = torch.randn(energy.shape[0], self.latent_dim, device=device, dtype=self._dtype())
        return self(z, energy, particle, theta)

    # ---- description ------------------------------------------------------------------------------------
    def _dtype(self) -> torch.dtype:
        for p in self.parameters():
            return p.dtype
        return torch.float32

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def spec(self) -> dict[str, Any]:
        """Everything but the weights needed to rebuild the model: family, config, preprocessing, geometry."""
        return {
            "family": self.family,
            "model": to_dict(self.config),
            "preprocessing": self.preprocessing.to_dict(),
            "geometry": self.geometry.to_dict(),
        }


class FamilyTrainer(ABC):
    """How one family is trained: its critics, optimizers, update ratio and losses.

    The training loop builds it with the family's trainer config, calls :meth:`set_lr_factor` with the
    schedule's factor before every step, then :meth:`training_step` with ``batches_per_step`` batches, and
    saves :meth:`state_dict` in checkpoints.

    Args:
        model: the generator being trained.
        config: the family's trainer-config dataclass (``Config``).
        generator: random generator of every noise draw during training (its state is checkpointed by the loop).
        grad_clip: clip the gradient norm of each optimizer step to this value (``None``: no clipping).
        sync: called with an optimizer's parameters after ``backward`` (gradient averaging under DDP).
    """

    Config: ClassVar[type]

    def __init__(
        self,
        model: GenerativeModel,
        config: Any,
        *,
        generator: torch.Generator,
        grad_clip: float | None = None,
        sync: GradSync | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.generator = generator
        self.grad_clip = grad_clip
        self.sync: GradSync = sync if sync is not None else _no_sync
        self.critics = nn.ModuleDict()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._base_lr: dict[str, float] = {}

    @classmethod
    def config_from_dict(cls, data: Mapping[str, Any] | None, source: str = "") -> Any:
        return from_dict(cls.Config, data or {}, source=source, path="trainer")

    @property
    def batches_per_step(self) -> int:
        """Data batches consumed by one :meth:`training_step`."""
        return 1

    @abstractmethod
    def training_step(self, batches: list[Batch]) -> dict[str, float]:
        """One generator update and the critic updates around it; returns the losses (floats)."""

    # ---- helpers for the families -------------------------------------------------------------------
    def add_optimizer(
        self, name: str, params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float]
    ) -> torch.optim.Optimizer:
        opt = torch.optim.Adam(list(params), lr=lr, betas=betas)
        self.optimizers[name] = opt
        self._base_lr[name] = lr
        return opt

    def update(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimizer ``name`` (zeroing, gradient sync and clipping included)."""
        opt = self.optimizers[name]
        params = [p for group in opt.param_groups for p in group["params"]]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        self.sync(params)
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        opt.step()

    def noise(self, n: int) -> torch.Tensor:
        """Standard normal noise ``(n, latent_dim)`` on the training device, from the trainer's generator."""
        z = torch.randn(n, self.model.latent_dim, generator=self.generator, device=self.generator.device)
        return z.to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def set_lr_factor(self, factor: float) -> None:
        """Scale every optimizer's learning rate to ``factor`` × its configured value."""
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self._base_lr[name] * factor

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)
        self.critics.train(mode)

    def state_dict(self) -> dict[str, Any]:
        return {
            "critics": self.critics.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.critics.load_state_dict(state["critics"])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])


def _no_sync(params: list[nn.Parameter]) -> None:
    return None
