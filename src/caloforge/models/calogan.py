"""CaloGAN: one generator stream per readout layer with locally connected layers and layer-to-layer attention.

Paganini, de Oliveira, Nachman, *CaloGAN*, arXiv:1705.02355 and Phys. Rev. D 97 (2018) 014021,
arXiv:1712.10321; architecture as in hep-lbdl/CaloGAN ``models/architectures.py``, ``ops.py`` and
``train.py`` (the version of the paper). Generalised from the three CaloGAN layers to any Cartesian readout.

Generator, per readout layer of ``nx × ny`` cells (paper values in brackets):
``h = [z · E/E_max, c]`` → Dense → ``(nx+2) × (ny+2) × dense_channels`` [36] → Conv 2×2 'same' →
``conv_channels`` [16] → LeakyReLU → LocallyConnected 2×2 → ``lc_channels`` [6] → LeakyReLU →
LocallyConnected 2×2 → 1 (no bias). Layer ``l > 0`` then mixes its image with layer ``l−1``'s, resampled onto
its grid by physical overlap, through a 3×3 locally connected softmax gate (``inpainting_attention``, gate
bias −10 so it starts on its own image); the output is ReLU of every image, in the voxel units of the
preprocessing (``E_max/100``: GeV for CaloGAN's 1–100 GeV).

Discriminator (owned by :class:`CaloGANTrainer`), per layer: Conv 2×2 'same' (64) → LeakyReLU →
[zero-pad 1 → LocallyConnected (3×3 stride (1, 2) → 16, 2×2 → 8, 2×2 stride (1, 2) → 8) → LeakyReLU →
BatchNorm] → flatten, with minibatch discrimination on the features, the sparsity (fraction of non-empty
cells) and minibatch discrimination on it; then the layer energies / 10, the total / 100, the energy well
``|E_tot − r·E|``, ``10·[well > 5]``, minibatch discrimination on the layer energies, and the conditions.

Training (arXiv:1712.10321 and ``train.py``): Adam β₁ = 0.5, generator lr 2e-4, discriminator lr 2e-5,
batch 256, one discriminator update on a real batch and one on a fake batch, then two generator updates;
generator loss = BCE + λ_E·|E_tot − r·E| with λ_E = 0.05. Deviations are listed in docs/models.md.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from caloforge.exceptions import ModelError
from caloforge.geometry import CartesianGrid, Geometry
from caloforge.models.base import Batch, FamilyTrainer, GenerativeModel
from caloforge.models.config import iter_checks
from caloforge.models.layers import (
    Conv2dBL,
    LocallyConnected2d,
    MinibatchDiscrimination,
    PositionBatchNorm,
    overlap_matrix,
    pad_image,
)
from caloforge.models.preprocessing import Preprocessing

if TYPE_CHECKING:
    from collections.abc import Iterator

    from caloforge.io import ShowerSet

__all__ = ["CaloGAN", "CaloGANConfig", "CaloGANDiscriminator", "CaloGANTrainer", "CaloGANTrainerConfig"]


@dataclass(frozen=True)
class CaloGANConfig:
    """CaloGAN generator options (paper values in the docs; defaults sized for ≤ 0.1 ms/shower on 2 CPU cores).

    Attributes:
        latent_dim: noise width (paper: 1024).
        dense_channels: channels of the dense layer's image (paper: 36).
        conv_channels: channels of the 2×2 convolution (paper: 16).
        lc_channels: channels of the first locally connected layer (paper: 6).
        attention: layer-to-layer inpainting attention (paper: on).
        leaky_slope: LeakyReLU slope (Keras default 0.3, used by the paper).
        energy_scaling: the energy condition, ``"linear"`` E/E_max (paper) or ``"log"``.
    """

    latent_dim: int = 64
    dense_channels: int = 8
    conv_channels: int = 16
    lc_channels: int = 6
    attention: bool = True
    leaky_slope: float = 0.3
    energy_scaling: Literal["linear", "log"] = "linear"

    def checks(self) -> Iterator[tuple[str, str]]:
        for name in ("latent_dim", "dense_channels", "conv_channels", "lc_channels"):
            value = getattr(self, name)
            if value < 1:
                yield name, f"must be >= 1, got {value}"
        yield from iter_checks((not 0 <= self.leaky_slope < 1, "leaky_slope", "must be in [0, 1)"))


class _GeneratorStream(nn.Module):
    """One readout layer's generator: noise+conditions ``(N, in_dim)`` → pre-activation image ``(nx, ny, 1, N)``."""

    def __init__(self, grid: CartesianGrid, in_dim: int, cfg: CaloGANConfig) -> None:
        super().__init__()
        nx, ny = grid.nx, grid.ny
        self.shape = (nx + 2, ny + 2)
        self.dense_channels = cfg.dense_channels
        self.slope = cfg.leaky_slope
        self.dense = nn.Linear(in_dim, (nx + 2) * (ny + 2) * cfg.dense_channels)
        self.conv = Conv2dBL(cfg.dense_channels, cfg.conv_channels, (2, 2))
        nn.init.kaiming_uniform_(self.conv.weight)  # he_uniform, as the paper's Conv2D
        self.lc1 = LocallyConnected2d((nx + 2, ny + 2), cfg.conv_channels, cfg.lc_channels, (2, 2))
        self.lc2 = LocallyConnected2d((nx + 1, ny + 1), cfg.lc_channels, 1, (2, 2), bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        # the dense layer's output directly channel-major and batch-last, (C, H, W, N)
        x = torch.addmm(self.dense.bias.unsqueeze(1), self.dense.weight, h.t()).view(
            self.dense_channels, *self.shape, n
        )
        x = F.pad(x, (0, 0, 0, 1, 0, 1)).permute(1, 2, 0, 3)  # Keras 'same' for a 2×2 kernel pads right/bottom
        x = F.leaky_relu(self.conv(x), self.slope, inplace=True)
        x = F.leaky_relu(self.lc1(x), self.slope, inplace=True)
        return self.lc2(x)


class _InpaintingAttention(nn.Module):
    """CaloGAN's ``inpainting_attention``: a per-cell softmax choice between a layer's image and the carried one."""

    def __init__(self, grid: CartesianGrid) -> None:
        super().__init__()
        self.gate = LocallyConnected2d((grid.nx + 2, grid.ny + 2), 2, 2, (3, 3))
        assert self.gate.bias is not None
        with torch.no_grad():
            self.gate.bias[:, 1] = -10.0  # start on the layer's own image (paper: constant=-10)

    def forward(self, primary: torch.Tensor, carried: torch.Tensor) -> torch.Tensor:
        x = torch.cat([primary, carried], dim=2)  # (nx, ny, 2, N)
        weights = torch.softmax(self.gate(pad_image(x, (1, 1), (1, 1))), dim=2)
        return (x * weights).sum(dim=2, keepdim=True)


class CaloGAN(GenerativeModel):
    """The CaloGAN generator for any Cartesian multi-layer readout (see the module docstring)."""

    family = "calogan"
    summary = "CaloGAN: per-layer generator streams, locally connected layers, layer-to-layer attention"
    papers = ("arXiv:1705.02355", "arXiv:1712.10321")
    Config = CaloGANConfig
    inference_chunk = 256  # rows per CPU pass: a chunk's activations stay in cache

    def __init__(self, config: CaloGANConfig, geometry: Geometry, preprocessing: Preprocessing) -> None:
        super().__init__(config, geometry, preprocessing)
        grids = [_grid(layer.segmentation) for layer in geometry.layers]
        in_dim = config.latent_dim + preprocessing.n_conditions
        self.streams = nn.ModuleList(_GeneratorStream(g, in_dim, config) for g in grids)
        self.use_attention = config.attention and len(grids) > 1
        self.attention = nn.ModuleList(_InpaintingAttention(g) for g in grids[1:]) if self.use_attention else None
        self._resample: list[tuple[str, str]] = []
        for i, (source, target) in enumerate(itertools.pairwise(grids)):
            ax, ay = overlap_matrix(source, target)
            self.register_buffer(f"resample_x{i}", torch.from_numpy(ax), persistent=False)
            self.register_buffer(f"resample_y{i}", torch.from_numpy(ay), persistent=False)
            self._resample.append((f"resample_x{i}", f"resample_y{i}"))

    @classmethod
    def check_geometry(cls, geometry: Geometry) -> None:
        if not geometry.is_cartesian:
            raise ModelError(
                f"CaloGAN needs a Cartesian readout, but geometry {geometry.name!r} has cylindrical layers; "
                "use the wgan family for it"
            )

    @classmethod
    def fit_preprocessing(cls, data: ShowerSet, config: CaloGANConfig) -> Preprocessing:
        pre = Preprocessing.fit(
            data, energy_scaling=config.energy_scaling, voxel_norm="fixed", voxel_transform="linear"
        )
        # CaloGAN works in GeV for 1–100 GeV showers: voxel unit = E_max / 100
        return pre.replace(voxel_scale=pre.energy_max / 100.0)

    @classmethod
    def trainer_class(cls) -> type[FamilyTrainer]:
        return CaloGANTrainer

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def decode(self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z * (energy / self.preprocessing.energy_max).unsqueeze(1), cond], dim=1)
        images = [stream(h) for stream in self.streams]
        if self.attention is not None:
            for i, gate in enumerate(self.attention):
                ax = getattr(self, self._resample[i][0])
                ay = getattr(self, self._resample[i][1])
                prev = images[i][:, :, 0]  # (nx, ny, N)
                carried = torch.matmul(ay, (ax @ prev.reshape(prev.shape[0], -1)).view(ax.shape[0], *prev.shape[1:]))
                images[i + 1] = gate(images[i + 1], carried.unsqueeze(2))
        flat = torch.cat([img.reshape(-1, img.shape[3]) for img in images], dim=0)  # (n_voxels, N)
        return torch.relu(flat.t().contiguous())


def _grid(segmentation: object) -> CartesianGrid:
    assert isinstance(segmentation, CartesianGrid)
    return segmentation


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaloGANTrainerConfig:
    """CaloGAN training options; defaults are the paper's (arXiv:1712.10321, hep-lbdl/CaloGAN train.py).

    Attributes:
        lr_g, lr_d: Adam learning rates of generator and discriminator (2e-4, 2e-5).
        beta1, beta2: Adam betas (0.5; Keras default 0.999).
        g_steps: generator updates per discriminator real+fake update pair (2).
        energy_weight: λ_E of the energy-conservation term |E_tot − r·E| in voxel units (0.05).
        well_threshold: energy well above which the discriminator's flag fires, voxel units (5 GeV).
        disc_conv_channels: channels of the discriminator's first convolution (64).
        disc_lc_channels: channels of its three locally connected layers (16, 8, 8).
        mbd_kernels, mbd_dim: minibatch-discrimination kernels and their dimension (10, 10).
    """

    lr_g: float = 2e-4
    lr_d: float = 2e-5
    beta1: float = 0.5
    beta2: float = 0.999
    g_steps: int = 2
    energy_weight: float = 0.05
    well_threshold: float = 5.0
    disc_conv_channels: int = 64
    disc_lc_channels: tuple[int, int, int] = (16, 8, 8)
    mbd_kernels: int = 10
    mbd_dim: int = 10

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.lr_g > 0, "lr_g", f"must be > 0, got {self.lr_g}"),
            (not self.lr_d > 0, "lr_d", f"must be > 0, got {self.lr_d}"),
            (not 0 <= self.beta1 < 1, "beta1", "must be in [0, 1)"),
            (not 0 <= self.beta2 < 1, "beta2", "must be in [0, 1)"),
            (self.g_steps < 1, "g_steps", "must be >= 1"),
            (self.energy_weight < 0, "energy_weight", "must be >= 0"),
            (self.disc_conv_channels < 1, "disc_conv_channels", "must be >= 1"),
            (min(self.disc_lc_channels) < 1, "disc_lc_channels", "must all be >= 1"),
            (self.mbd_kernels < 1 or self.mbd_dim < 1, "mbd_kernels", "mbd_kernels and mbd_dim must be >= 1"),
        )


class _DiscriminatorStream(nn.Module):
    """One readout layer's discriminator features ``(N, n_features)`` from its image ``(nx, ny, 1, N)``."""

    def __init__(self, grid: CartesianGrid, cfg: CaloGANTrainerConfig) -> None:
        super().__init__()
        c0 = cfg.disc_conv_channels
        c1, c2, c3 = cfg.disc_lc_channels
        self.conv = Conv2dBL(1, c0, (2, 2))
        self.lc1 = LocallyConnected2d((grid.nx + 2, grid.ny + 2), c0, c1, (3, 3), (1, 2))
        h, w = self.lc1.out_shape
        self.lc2 = LocallyConnected2d((h + 2, w + 2), c1, c2, (2, 2))
        h, w = self.lc2.out_shape
        self.lc3 = LocallyConnected2d((h + 2, w + 2), c2, c3, (2, 2), (1, 2))
        h, w = self.lc3.out_shape
        self.norms = nn.ModuleList([PositionBatchNorm(c1), PositionBatchNorm(c2), PositionBatchNorm(c3)])
        self.n_flat = h * w * c3
        self.mbd = MinibatchDiscrimination(self.n_flat, cfg.mbd_kernels, cfg.mbd_dim)
        self.sparsity_mbd = MinibatchDiscrimination(1, cfg.mbd_kernels, cfg.mbd_dim)
        self.n_features = self.n_flat + 2 * cfg.mbd_kernels + 1

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        n = image.shape[3]
        x = F.leaky_relu(self.conv(pad_image(image, (0, 1), (0, 1))), 0.3)  # Keras 'same'
        for lc, norm in zip((self.lc1, self.lc2, self.lc3), self.norms, strict=True):
            x = norm(F.leaky_relu(lc(pad_image(x, (1, 1), (1, 1))), 0.3))
        flat = x.permute(3, 0, 1, 2).reshape(n, -1)
        sparsity = (image > 0).to(image.dtype).mean(dim=(0, 1, 2)).unsqueeze(1)  # no gradient, as the paper's
        return torch.cat([flat, self.mbd(flat), sparsity, self.sparsity_mbd(sparsity)], dim=1)


class CaloGANDiscriminator(nn.Module):
    """CaloGAN's discriminator: showers in voxel units ``(N, n_voxels)`` → logits ``(N,)``."""

    def __init__(self, geometry: Geometry, n_conditions: int, cfg: CaloGANTrainerConfig) -> None:
        super().__init__()
        grids = [_grid(layer.segmentation) for layer in geometry.layers]
        self.shapes = [(g.nx, g.ny) for g in grids]
        self.slices = [geometry.layer_slice(i) for i in range(geometry.n_layers)]
        streams = [_DiscriminatorStream(g, cfg) for g in grids]
        self.streams = nn.ModuleList(streams)
        n_layers = len(grids)
        self.energy_mbd = MinibatchDiscrimination(n_layers, cfg.mbd_kernels, cfg.mbd_dim)
        self.well_threshold = cfg.well_threshold
        n_in = sum(s.n_features for s in streams) + n_layers + 3 + cfg.mbd_kernels + n_conditions
        self.head = nn.Linear(n_in, 1)

    def forward(self, x: torch.Tensor, target_energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)`` for showers ``x (N, n_voxels)``, expected totals ``r·E (N,)`` (voxel units), conditions."""
        n = x.shape[0]
        xt = x.t().contiguous()  # (n_voxels, N): every layer a batch-last image view
        features = []
        energies = []
        for stream, sl, shape in zip(self.streams, self.slices, self.shapes, strict=True):
            features.append(stream(xt[sl].view(*shape, 1, n)))
            energies.append(x[:, sl].sum(dim=1, keepdim=True))
        e_layer = torch.cat(energies, dim=1)
        total = e_layer.sum(dim=1, keepdim=True)
        well = (total - target_energy.unsqueeze(1)).abs()
        too_big = 10.0 * (well > self.well_threshold).to(x.dtype)
        p = torch.cat([*features, e_layer / 10.0, total / 100.0, well, too_big, self.energy_mbd(e_layer), cond], dim=1)
        return self.head(p).squeeze(1)


class CaloGANTrainer(FamilyTrainer):
    """The paper's schedule: D on a real batch, D on a fake batch, then ``g_steps`` generator updates."""

    Config = CaloGANTrainerConfig

    def __init__(self, model: GenerativeModel, config: CaloGANTrainerConfig, **kwargs: Any) -> None:
        super().__init__(model, config, **kwargs)
        disc = CaloGANDiscriminator(model.geometry, model.preprocessing.n_conditions, config).to(self.device)
        self.critics["discriminator"] = disc
        betas = (config.beta1, config.beta2)
        self.add_optimizer("generator", model.parameters(), config.lr_g, betas)
        self.add_optimizer("discriminator", disc.parameters(), config.lr_d, betas)

    def _target(self, energy: torch.Tensor) -> torch.Tensor:
        pre = self.model.preprocessing
        return energy * (pre.response / pre.voxel_scale)

    def training_step(self, batches: list[Batch]) -> dict[str, float]:
        (batch,) = batches
        disc = self.critics["discriminator"]
        n = len(batch)
        target = self._target(batch.energy)
        ones = torch.ones(n, device=self.device)
        with torch.no_grad():
            fake = self.model.decode(self.noise(n), batch.energy, batch.cond)
        # real and fake in separate batches: minibatch discrimination and batch norm use batch statistics
        loss_real = F.binary_cross_entropy_with_logits(disc(batch.x, target, batch.cond), ones)
        self.update("discriminator", loss_real)
        loss_fake = F.binary_cross_entropy_with_logits(disc(fake, target, batch.cond), torch.zeros_like(ones))
        self.update("discriminator", loss_fake)

        disc.requires_grad_(False)
        losses_g, errors = [], []
        try:
            for _ in range(self.config.g_steps):
                perm = torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
                energy, cond, t = batch.energy[perm], batch.cond[perm], target[perm]
                fake = self.model.decode(self.noise(n), energy, cond)
                adversarial = F.binary_cross_entropy_with_logits(disc(fake, t, cond), ones)
                energy_error = (fake.sum(dim=1) - t).abs().mean()
                loss_g = adversarial + self.config.energy_weight * energy_error
                self.update("generator", loss_g)
                losses_g.append(loss_g.detach())
                errors.append(energy_error.detach())
        finally:
            disc.requires_grad_(True)
        return {
            "loss_d_real": float(loss_real.detach()),
            "loss_d_fake": float(loss_fake.detach()),
            "loss_g": float(torch.stack(losses_g).mean()),
            "energy_error": float(torch.stack(errors).mean()),
        }
