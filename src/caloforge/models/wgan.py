"""WGAN-GP with an energy critic, in the style of ATLAS's FastCaloGAN.

The generator is a fully connected network from ``[z, c]`` to the voxel energy fractions ``v / E_inc`` of the
whole shower, conditioned on the log-scaled incident energy; the showers in MeV are fractions × E. This is the
FastCaloGAN design of the ATLAS fast simulation AtlFast3 (ATL-SOFT-PUB-2020-006; ATLAS, Comput. Softw. Big
Sci. 6 (2022) 7, arXiv:2109.02551): one MLP generator and one MLP critic per calorimeter region, trained as a
Wasserstein GAN with gradient penalty (Gulrajani et al., arXiv:1704.00028).

On top of the voxel critic, a small *energy critic* sees the total and layer energies only, as the
u-parameters of CaloFlow (arXiv:2106.05285) — ``E_tot/(r E)`` and each layer's share of the energy still to
come — so that the generator is pushed hard on the quantities a voxel critic resolves poorly (the response
and the longitudinal profile). Both critics have their own gradient penalty and share one optimizer.

Training defaults follow WGAN-GP (arXiv:1704.00028, Algorithm 1): five critic updates per generator update,
each on a new batch; λ = 10; Adam lr 1e-4, β = (0, 0.9). Any readout (Cartesian or cylindrical) works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from caloforge.geometry import Geometry
from caloforge.models.base import Batch, FamilyTrainer, GenerativeModel
from caloforge.models.config import iter_checks
from caloforge.models.layers import mlp
from caloforge.models.preprocessing import Preprocessing, layer_energies_to_u

if TYPE_CHECKING:
    from collections.abc import Iterator

    from caloforge.io import ShowerSet

__all__ = ["WGAN", "EnergyCritic", "VoxelCritic", "WGANConfig", "WGANTrainer", "WGANTrainerConfig"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"swish": nn.SiLU, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


@dataclass(frozen=True)
class WGANConfig:
    """WGAN generator options.

    Attributes:
        latent_dim: noise width (FastCaloGAN: 50).
        hidden: widths of the generator's hidden layers.
        activation: hidden activation (``"swish"`` as FastCaloGAN, ``"relu"``, ``"leaky_relu"``).
        energy_scaling: the energy condition (``"log"``: FastCaloGAN's log-scaled energy).
        voxel_transform: transform of the fractions the networks see (``"linear"``: FastCaloGAN).
        log_eps, power: parameters of the ``"log"`` and ``"power"`` transforms.
    """

    latent_dim: int = 50
    hidden: tuple[int, ...] = (128, 256, 512)
    activation: Literal["swish", "relu", "leaky_relu"] = "swish"
    energy_scaling: Literal["log", "linear"] = "log"
    voxel_transform: Literal["linear", "log", "power"] = "linear"
    log_eps: float = 1e-6
    power: float = 0.5

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (self.latent_dim < 1, "latent_dim", f"must be >= 1, got {self.latent_dim}"),
            (not self.hidden or min(self.hidden) < 1, "hidden", "must be a non-empty list of widths >= 1"),
            (not self.log_eps > 0, "log_eps", "must be > 0"),
            (not 0 < self.power <= 1, "power", "must be in (0, 1]"),
        )


class WGAN(GenerativeModel):
    """Fully connected generator of voxel energy fractions × E (see the module docstring)."""

    family = "wgan"
    summary = "WGAN-GP with an energy critic (ATLAS FastCaloGAN style): MLP generator of energy fractions × E"
    papers = ("arXiv:2109.02551", "arXiv:1704.00028")
    Config = WGANConfig
    inference_chunk = 2048

    def __init__(self, config: WGANConfig, geometry: Geometry, preprocessing: Preprocessing) -> None:
        super().__init__(config, geometry, preprocessing)
        sizes = [config.latent_dim + preprocessing.n_conditions, *config.hidden, geometry.n_voxels]
        self.net = mlp(sizes, _ACTIVATIONS[config.activation])

    @classmethod
    def fit_preprocessing(cls, data: ShowerSet, config: WGANConfig) -> Preprocessing:
        return Preprocessing.fit(
            data,
            energy_scaling=config.energy_scaling,
            voxel_norm="incident",
            voxel_transform=config.voxel_transform,
            log_eps=config.log_eps,
            power=config.power,
        )

    @classmethod
    def trainer_class(cls) -> type[FamilyTrainer]:
        return WGANTrainer

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def decode(self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.net(torch.cat([z, cond], dim=1)))


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WGANTrainerConfig:
    """WGAN-GP training options (defaults: arXiv:1704.00028, Algorithm 1, except the energy critic's).

    Attributes:
        lr_g, lr_d: Adam learning rates of generator and critics (1e-4).
        beta1, beta2: Adam betas (0, 0.9).
        n_critic: critic updates per generator update, each on a new batch (5).
        gp_weight: λ of the gradient penalty (10).
        critic_hidden: hidden widths of the voxel critic.
        energy_critic_hidden: hidden widths of the energy critic.
        energy_critic_weight: weight of the energy critic in the generator loss.
    """

    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    gp_weight: float = 10.0
    critic_hidden: tuple[int, ...] = (512, 256, 128)
    energy_critic_hidden: tuple[int, ...] = (64, 64)
    energy_critic_weight: float = 1.0

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.lr_g > 0, "lr_g", f"must be > 0, got {self.lr_g}"),
            (not self.lr_d > 0, "lr_d", f"must be > 0, got {self.lr_d}"),
            (not 0 <= self.beta1 < 1, "beta1", "must be in [0, 1)"),
            (not 0 <= self.beta2 < 1, "beta2", "must be in [0, 1)"),
            (self.n_critic < 1, "n_critic", "must be >= 1"),
            (self.gp_weight < 0, "gp_weight", "must be >= 0"),
            (not self.critic_hidden or min(self.critic_hidden) < 1, "critic_hidden", "must be widths >= 1"),
            (
                not self.energy_critic_hidden or min(self.energy_critic_hidden) < 1,
                "energy_critic_hidden",
                "must be widths >= 1",
            ),
            (self.energy_critic_weight < 0, "energy_critic_weight", "must be >= 0"),
        )


class VoxelCritic(nn.Module):
    """Critic of network data ``(N, n_voxels)`` and conditions ``(N, n_conditions)`` → scores ``(N,)``."""

    def __init__(self, n_voxels: int, n_conditions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([n_voxels + n_conditions, *hidden, 1], _leaky, final_bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, cond], dim=1)).squeeze(1)


class EnergyCritic(nn.Module):
    """Critic of the energy features ``(N, n_layers)`` (u-parameters) and conditions → scores ``(N,)``."""

    def __init__(self, geometry: Geometry, preprocessing: Preprocessing, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.preprocessing = preprocessing
        membership = np.zeros((geometry.n_voxels, geometry.n_layers), dtype=np.float32)
        membership[np.arange(geometry.n_voxels), geometry.voxel_layer] = 1.0
        self.membership: torch.Tensor
        self.register_buffer("membership", torch.from_numpy(membership), persistent=False)
        self.net = mlp([geometry.n_layers + preprocessing.n_conditions, *hidden, 1], _leaky, final_bias=False)

    def features(self, x: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """u-parameters ``(N, n_layers)`` of network data ``x`` at incident energies ``(N,)`` MeV."""
        layer_energy = self.preprocessing.to_mev(x, energy) @ self.membership
        return layer_energies_to_u(layer_energy, energy, self.preprocessing.response)

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, cond], dim=1)).squeeze(1)


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


class WGANTrainer(FamilyTrainer):
    """``n_critic`` critic updates (each on a new batch, with gradient penalties), then one generator update."""

    Config = WGANTrainerConfig

    def __init__(self, model: GenerativeModel, config: WGANTrainerConfig, **kwargs: Any) -> None:
        super().__init__(model, config, **kwargs)
        pre = model.preprocessing
        self.critics["voxel"] = VoxelCritic(model.geometry.n_voxels, pre.n_conditions, config.critic_hidden)
        self.critics["energy"] = EnergyCritic(model.geometry, pre, config.energy_critic_hidden)
        self.critics.to(self.device)
        betas = (config.beta1, config.beta2)
        self.add_optimizer("generator", model.parameters(), config.lr_g, betas)
        self.add_optimizer("critic", self.critics.parameters(), config.lr_d, betas)

    @property
    def batches_per_step(self) -> int:
        return int(self.config.n_critic)

    def _penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, generator=self.generator, device=self.generator.device).to(real)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed, cond).sum(), mixed, create_graph=True)
        return ((grad.norm(2, dim=1) - 1.0) ** 2).mean()

    def training_step(self, batches: list[Batch]) -> dict[str, float]:
        voxel, energy_critic = self.critics["voxel"], self.critics["energy"]
        assert isinstance(energy_critic, EnergyCritic)
        lam = self.config.gp_weight
        critic_losses, distances, penalties = [], [], []
        for batch in batches:
            with torch.no_grad():
                fake = self.model.decode(self.noise(len(batch)), batch.energy, batch.cond)
                f_real = energy_critic.features(batch.x, batch.energy)
                f_fake = energy_critic.features(fake, batch.energy)
            distance = voxel(batch.x, batch.cond).mean() - voxel(fake, batch.cond).mean()
            distance_e = energy_critic(f_real, batch.cond).mean() - energy_critic(f_fake, batch.cond).mean()
            penalty = self._penalty(voxel, batch.x, fake, batch.cond)
            penalty_e = self._penalty(energy_critic, f_real, f_fake, batch.cond)
            loss = -(distance + distance_e) + lam * (penalty + penalty_e)
            self.update("critic", loss)
            critic_losses.append(loss.detach())
            distances.append(distance.detach())
            penalties.append((penalty + penalty_e).detach())

        last = batches[-1]
        self.critics.requires_grad_(False)
        try:
            n = len(last)
            perm = torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
            energy, cond = last.energy[perm], last.cond[perm]
            fake = self.model.decode(self.noise(n), energy, cond)
            score = voxel(fake, cond).mean()
            score_e = energy_critic(energy_critic.features(fake, energy), cond).mean()
            loss_g = -(score + self.config.energy_critic_weight * score_e)
            self.update("generator", loss_g)
        finally:
            self.critics.requires_grad_(True)
        return {
            "loss_critic": float(torch.stack(critic_losses).mean()),
            "wasserstein": float(torch.stack(distances).mean()),
            "gradient_penalty": float(torch.stack(penalties).mean()),
            "loss_g": float(loss_g.detach()),
        }
