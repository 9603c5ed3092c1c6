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

``output: "layers"`` factorises the shower as the flows of the CaloChallenge do (CaloFlow, arXiv:2106.05285):
the generator gives, per layer, the voxels' shares of the layer energy (a softmax over the layer's voxels) and
the layer energies as standardised u-parameters (``log u_0``, ``logit u_i``). The critics see the same
factorisation of the real showers — shares through ``log(1 + share/ε)`` so that the many small voxels count,
u-features standardised on the training sample — so the response (``E_tot/E_inc`` is sharp to 0.1 % in a
sampling calorimeter that scores every deposit) becomes one output the critics resolve. A softmax leaves no
voxel exactly empty: :meth:`WGAN.calibrate` sets per-layer cuts that give the training sample's number of
non-empty voxels, and the cut energy is given back to the layer's other voxels. ``placement_noise`` adds Gumbel
noise to the share logits, ``softmax(l + s·G)`` with a per-voxel scale ``s`` the generator outputs (a
Gumbel-softmax sample at ``s = 1``: Jang et al., arXiv:1611.01144; Maddison et al., arXiv:1611.00712), so that
where the few deposits of a sparse layer land is drawn per shower instead of averaged by a smooth MLP.
``output: "voxels"`` is the plain FastCaloGAN generator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from caloforge.exceptions import ConfigError
from caloforge.geometry import Geometry
from caloforge.models.base import Batch, FamilyTrainer, GenerativeModel
from caloforge.models.calibration import calibration_inputs, give_back, matching_cuts
from caloforge.models.config import iter_checks
from caloforge.models.layers import mlp
from caloforge.models.preprocessing import Preprocessing, layer_energies_to_u, u_to_layer_energies

if TYPE_CHECKING:
    from collections.abc import Iterator

    from caloforge.io import ShowerSet

__all__ = ["WGAN", "EnergyCritic", "RunningScale", "VoxelCritic", "WGANConfig", "WGANTrainer", "WGANTrainerConfig"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"swish": nn.SiLU, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


@dataclass(frozen=True)
class WGANConfig:
    """WGAN generator options.

    Attributes:
        latent_dim: noise width (FastCaloGAN: 50).
        hidden: widths of the generator's hidden layers.
        activation: hidden activation (``"swish"`` as FastCaloGAN, ``"relu"``, ``"leaky_relu"``).
        energy_scaling: the energy condition (``"log"``: FastCaloGAN's log-scaled energy).
        voxel_transform: transform of the fractions the networks see (``"linear"``: FastCaloGAN); output
            ``"layers"`` needs ``"linear"`` (its critics transform the shares themselves).
        log_eps, power: parameters of the ``"log"`` and ``"power"`` transforms.
        output: ``"voxels"`` (FastCaloGAN: ReLU voxel fractions) or ``"layers"`` (per-layer softmax shares ×
            layer energies from u-parameters; see the module docstring).
        share_eps: ε of the ``log(1 + share/ε)`` the critics see of the shares (output ``"layers"``).
        voxel_cut: per readout layer, generated voxels below this many MeV are empty (output ``"layers"``; set
            by :meth:`WGAN.calibrate`; ``None``: no cut).
        placement_noise: Gumbel noise on the share logits, ``softmax(l + s·G)`` with a per-voxel scale ``s ≥ 0``
            the generator outputs (output ``"layers"``; see the module docstring). The noise comes from
            ``n_voxels`` more standard normal latent values, so :attr:`WGAN.latent_dim` grows by ``n_voxels``.
        energy_noise: the standardised u-features are ``μ + softplus(ρ)·ε`` with ``μ, ρ`` generator outputs and
            ``ε`` ``n_layers`` more standard normal latent values (output ``"layers"``), so that the spread of the
            layer energies at given ``z`` is a network output rather than something the critics must coax out of
            the 50 latent values (an MLP GAN collapsed that spread: see docs/models.md).
        radial_moments: the moments a high-level critic sees (:meth:`WGAN.moments`) also hold each layer's
            energy-weighted mean radius and radial width (the CaloChallenge's EC_r and width_r; output
            ``"layers"``).
        two_stage: two generators, as the two flows of CaloFlow (arXiv:2106.05285): an energy generator
            (``energy_net``, noise ``energy_latent_dim``) gives the u-features from the conditions, and the shape
            generator (``net``) gives the shares from its noise, the conditions and those u-features. The trainer
            then judges the shapes given the *real* showers' layer energies (the shape critics are conditioned on
            them) and the layer energies alone with the energy critic, so neither generator has to learn the joint
            distribution of both through one critic (output ``"layers"``; ours).
        energy_latent_dim: noise width of the energy generator (``two_stage``).
        energy_hidden: hidden widths of the energy generator (``two_stage``).
    """

    latent_dim: int = 50
    hidden: tuple[int, ...] = (128, 256, 512)
    activation: Literal["swish", "relu", "leaky_relu"] = "swish"
    energy_scaling: Literal["log", "linear"] = "log"
    voxel_transform: Literal["linear", "log", "power"] = "linear"
    log_eps: float = 1e-6
    power: float = 0.5
    output: Literal["voxels", "layers"] = "voxels"
    share_eps: float = 1e-5
    voxel_cut: tuple[float, ...] | None = None
    placement_noise: bool = False
    energy_noise: bool = False
    radial_moments: bool = False
    two_stage: bool = False
    energy_latent_dim: int = 8
    energy_hidden: tuple[int, ...] = (64, 64)

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (self.latent_dim < 1, "latent_dim", f"must be >= 1, got {self.latent_dim}"),
            (not self.hidden or min(self.hidden) < 1, "hidden", "must be a non-empty list of widths >= 1"),
            (not self.log_eps > 0, "log_eps", "must be > 0"),
            (not 0 < self.power <= 1, "power", "must be in (0, 1]"),
            (not 0 < self.share_eps < 1, "share_eps", "must be in (0, 1)"),
            (self.energy_latent_dim < 1, "energy_latent_dim", f"must be >= 1, got {self.energy_latent_dim}"),
            (
                not self.energy_hidden or min(self.energy_hidden) < 1,
                "energy_hidden",
                "must be a non-empty list of widths >= 1",
            ),
            (
                self.output == "layers" and self.voxel_transform != "linear",
                "voxel_transform",
                'output "layers" needs "linear" (the critics see log(1 + share/share_eps) of the shares)',
            ),
            (
                self.voxel_cut is not None and not all(c >= 0 and np.isfinite(c) for c in self.voxel_cut),
                "voxel_cut",
                "must be finite energies >= 0 (MeV), one per layer",
            ),
            (self.voxel_cut is not None and self.output != "layers", "voxel_cut", 'needs output "layers"'),
            *(
                (bool(getattr(self, name)) and self.output != "layers", name, 'needs output "layers"')
                for name in ("placement_noise", "energy_noise", "radial_moments", "two_stage")
            ),
        )


class WGAN(GenerativeModel):
    """Fully connected generator of voxel energy fractions × E (see the module docstring)."""

    family = "wgan"
    summary = "WGAN-GP with an energy critic (ATLAS FastCaloGAN style): MLP generator of energy fractions × E"
    papers = ("arXiv:2109.02551", "arXiv:1704.00028")
    Config = WGANConfig
    inference_chunk = 256  # rows per CPU pass: ~0.5 MB per voxel tensor stays in L2 (2048: 4 MB, 1.4x slower)

    def __init__(self, config: WGANConfig, geometry: Geometry, preprocessing: Preprocessing) -> None:
        super().__init__(config, geometry, preprocessing)
        layers = config.output == "layers"
        activation = _ACTIVATIONS[config.activation]
        n_energy_out = geometry.n_layers * (2 if config.energy_noise else 1)  # u-features (and their spreads)
        n_out = geometry.n_voxels * (2 if config.placement_noise else 1)  # logits (and the Gumbel noise scales)
        n_in = config.latent_dim + preprocessing.n_conditions
        if config.two_stage:
            n_in += geometry.n_layers  # the shape generator sees the u-features
            self.energy_net = mlp(
                [config.energy_latent_dim + preprocessing.n_conditions, *config.energy_hidden, n_energy_out],
                activation,
            )
        elif layers:
            n_out += n_energy_out
        self.net = mlp([n_in, *config.hidden, n_out], activation)
        if not layers:
            return
        if config.voxel_cut is not None and len(config.voxel_cut) != geometry.n_layers:
            raise ConfigError(
                f"model.voxel_cut: needs one cut per layer of geometry {geometry.name!r} ({geometry.n_layers}), "
                f"got {len(config.voxel_cut)}"
            )
        voxel_layer = torch.from_numpy(geometry.voxel_layer.astype(np.int64))
        membership = torch.zeros(geometry.n_voxels, geometry.n_layers)
        membership[torch.arange(geometry.n_voxels), voxel_layer] = 1.0
        self.voxel_layer: torch.Tensor
        self.membership: torch.Tensor
        self.register_buffer("voxel_layer", voxel_layer, persistent=False)
        self.register_buffer("membership", membership, persistent=False)
        # standardisation of the u-features (log u_0, logit u_i), fitted on the training sample (fit_data)
        self.u_shift: torch.Tensor
        self.u_scale: torch.Tensor
        self.register_buffer("u_shift", torch.zeros(geometry.n_layers))
        self.register_buffer("u_scale", torch.ones(geometry.n_layers))
        # per layer: centre and width of the shares along x and y (mm), for a high-level critic (fit_data)
        xy = torch.from_numpy(geometry.voxel_centers()[:, :2].astype(np.float32))
        self.voxel_xy: torch.Tensor
        self.register_buffer("voxel_xy", xy, persistent=False)
        self.moment_shift: torch.Tensor
        self.moment_scale: torch.Tensor
        self.register_buffer("moment_shift", torch.zeros(self.n_moments))
        self.register_buffer("moment_scale", torch.ones(self.n_moments))
        self.voxel_r: torch.Tensor
        self.register_buffer("voxel_r", torch.from_numpy(geometry.voxel_r().astype(np.float32)), persistent=False)

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
        """The noise width: ``config.latent_dim``, + ``n_voxels`` for the Gumbel noise of ``placement_noise``, +
        ``energy_latent_dim`` for the energy generator of ``two_stage``, + ``n_layers`` for ``energy_noise``, in
        that order; the (shape) network sees the first ``config.latent_dim``."""
        config, geometry = self.config, self.geometry
        return (
            int(config.latent_dim)
            + (geometry.n_voxels if config.placement_noise else 0)
            + (int(config.energy_latent_dim) if config.two_stage else 0)
            + (geometry.n_layers if config.energy_noise else 0)
        )

    @property
    def factorised(self) -> bool:
        """Whether the generator gives layer shares and layer energies (``output: "layers"``)."""
        return bool(self.config.output == "layers")

    def fit_data(self, data: ShowerSet) -> None:
        """Output ``"layers"``: the mean and spread of the u-features of (up to 50,000) training showers."""
        if not self.factorised:
            return
        n = min(len(data), _FIT_MAX_SHOWERS)
        with torch.no_grad():
            energy = torch.from_numpy(np.asarray(data.energy[:n], dtype=np.float64))
            layer = torch.from_numpy(np.asarray(data.layer_energies()[:n], dtype=np.float64))
            raw = self._raw_u_features(layer, energy)
            self.u_shift.copy_(raw.mean(dim=0))
            self.u_scale.copy_(raw.std(dim=0).clamp_min(1e-4) if n > 1 else torch.ones_like(self.u_scale))
            moments = torch.cat(
                [
                    self._raw_moments(
                        self.shares(torch.from_numpy(np.asarray(data.showers[a : min(a + 4096, n)], np.float32)))
                    )
                    for a in range(0, n, 4096)
                ]
            ).double()
            self.moment_shift.copy_(moments.mean(dim=0))
            spread = moments.std(dim=0).clamp_min(1e-3) if n > 1 else torch.ones_like(self.moment_scale)
            self.moment_scale.copy_(spread)

    def _raw_u_features(self, layer: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Layer energies ``(N, L)`` MeV → ``(log u_0, logit u_1, …)`` before standardisation."""
        u = layer_energies_to_u(layer, energy, self.preprocessing.response)
        first = torch.log(u[:, :1].clamp_min(_U_EPS))
        rest = u[:, 1:].clamp(_U_EPS, 1.0 - _U_EPS)
        return torch.cat([first, torch.log(rest) - torch.log1p(-rest)], dim=1)

    def u_features(self, layer: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Layer energies ``(N, L)`` MeV → the standardised u-features ``(N, L)`` the generator outputs."""
        raw = self._raw_u_features(layer.to(self.u_shift.dtype), energy.to(self.u_shift.dtype))
        return (raw - self.u_shift) / self.u_scale

    @property
    def n_moments(self) -> int:
        """How many moments :meth:`moments` gives: 4 per layer (6 with ``radial_moments``)."""
        return (6 if self.config.radial_moments else 4) * self.geometry.n_layers

    def _raw_moments(self, share: torch.Tensor) -> torch.Tensor:
        """Shares ``(N, V)`` → per layer the centres and widths along x and y, mm ``(N, n_moments)``: ``[c_x, c_y,
        w_x, w_y]`` (with ``radial_moments`` also ``c_r, w_r``) of layer 0, then layer 1, … (the high-level
        features of the CaloChallenge classifier)."""
        x, y = self.voxel_xy[:, 0], self.voxel_xy[:, 1]
        c_x, c_y = (share * x) @ self.membership, (share * y) @ self.membership
        m_x, m_y = (share * x * x) @ self.membership, (share * y * y) @ self.membership
        parts = [c_x, c_y, _width(m_x, c_x), _width(m_y, c_y)]
        if self.config.radial_moments:
            r = self.voxel_r
            c_r, m_r = (share * r) @ self.membership, (share * r * r) @ self.membership
            parts += [c_r, _width(m_r, c_r)]
        return torch.stack(parts, dim=2).flatten(1)

    def moments(self, share: torch.Tensor) -> torch.Tensor:
        """Shares ``(N, V)`` → the standardised centres and widths ``(N, n_moments)`` (see :meth:`_raw_moments`)."""
        return (self._raw_moments(share) - self.moment_shift) / self.moment_scale

    def layer_energies(self, t: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Standardised u-features ``(N, L)`` → layer energies ``(N, L)`` MeV (inverse of :meth:`u_features`)."""
        raw = t * self.u_scale + self.u_shift
        u = torch.cat([torch.exp(raw[:, :1]), torch.sigmoid(raw[:, 1:])], dim=1)
        return u_to_layer_energies(u, energy, self.preprocessing.response)

    def per_voxel(self, per_layer: torch.Tensor) -> torch.Tensor:
        """Per-layer values ``(N, L)`` → each voxel's layer value ``(N, V)`` (the voxel axis holds the layers one
        after the other; slices expanded and joined, cheaper than a gather, in ONNX too)."""
        sizes = self.geometry.layer_sizes
        return torch.cat([per_layer[:, i : i + 1].expand(-1, n) for i, n in enumerate(sizes)], dim=1)

    def shares(self, x: torch.Tensor) -> torch.Tensor:
        """Voxel values ``(N, V)`` → each voxel's share of its layer ``(N, V)`` (0 in an empty layer)."""
        total = self.per_voxel(x @ self.membership)
        return x / total.clamp_min(1e-30)

    def parts(self, z: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``"layers"``: noise and conditions → voxel shares ``(N, V)`` and standardised u-features."""
        if self.config.two_stage:
            t = self.energy_features(z, cond)
            return self.shape_given(z, cond, t), t
        n_voxels = self.geometry.n_voxels
        out = self.net(torch.cat([z[:, : self.config.latent_dim], cond], dim=1))
        n_shape = n_voxels * (2 if self.config.placement_noise else 1)
        return self._share_head(out[:, :n_shape], z), self._energy_head(out[:, n_shape:], z)

    def energy_features(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``two_stage``: noise and conditions → the energy generator's standardised u-features ``(N, L)``."""
        config = self.config
        start = config.latent_dim + (self.geometry.n_voxels if config.placement_noise else 0)
        z_energy = z[:, start : start + config.energy_latent_dim]
        return self._energy_head(self.energy_net(torch.cat([z_energy, cond], dim=1)), z)

    def shape_given(self, z: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``two_stage``: noise, conditions and standardised u-features ``(N, L)`` → voxel shares ``(N, V)``
        (the trainer passes the real showers' u-features here; sampling passes the energy generator's)."""
        return self._share_head(self.net(torch.cat([z[:, : self.config.latent_dim], cond, t], dim=1)), z)

    def _share_head(self, out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Network outputs ``(N, V)`` logits (with ``placement_noise`` ``(N, 2V)``: logits, noise scales) → shares."""
        n_voxels, n_latent = self.geometry.n_voxels, self.config.latent_dim
        logits = out[:, :n_voxels]
        if self.config.placement_noise:
            # Gumbel-perturbed logits (Gumbel-softmax: Jang et al., arXiv:1611.01144; Maddison et al.,
            # arXiv:1611.00712): at scale s = 1 the largest share falls on voxel i with probability softmax(l)_i
            scale = _softplus(out[:, n_voxels:])
            logits = logits + scale * _gumbel(z[:, n_latent : n_latent + n_voxels])
        # a softmax within each layer (the voxel axis holds the layers one after the other: Geometry.voxel_layer)
        parts = logits.split(list(self.geometry.layer_sizes), dim=1)
        return torch.cat([torch.softmax(part, dim=1) for part in parts], dim=1)

    def _energy_head(self, out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Network outputs ``(N, L)`` (with ``energy_noise`` ``(N, 2L)``: means, spreads) → u-features ``(N, L)``."""
        n_layers = self.geometry.n_layers
        if not self.config.energy_noise:
            return out
        # a Gaussian head: mean and spread of the u-features are network outputs; ε is the last L latent values
        return out[:, :n_layers] + _softplus(out[:, n_layers:]) * z[:, z.shape[1] - n_layers :]

    def decode(self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if not self.factorised:
            return torch.relu(self.net(torch.cat([z, cond], dim=1)))
        return self._voxels(z, energy, cond, self.config.voxel_cut) / self.preprocessing.normaliser(energy)

    def _voxels(
        self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor, voxel_cut: tuple[float, ...] | None
    ) -> torch.Tensor:
        """Output ``"layers"``: voxel energies ``(N, V)`` MeV, after the per-layer ``voxel_cut`` if given."""
        share, t = self.parts(z, cond)
        # in the buffers' precision (float32) also under FastSim's bf16/fp16 autocast: the layer energies and sums
        # set every voxel's scale (in bf16 the sums widened the 0.12 %-wide E_tot/E_inc peak of
        # calogan-eplus-wgan by 70 %; docs/deployment.md)
        with torch.autocast(z.device.type, enabled=False):
            share, t = share.to(self.membership.dtype), t.to(self.membership.dtype)
            layer = self.layer_energies(t, energy)
            voxels = share * self.per_voxel(layer)
            if voxel_cut is None:
                return voxels
            cut = torch.tensor(voxel_cut, dtype=voxels.dtype, device=voxels.device)
            kept = voxels * (voxels >= cut.index_select(0, self.voxel_layer)).to(voxels.dtype)
            # the cut energy goes back to the layer's remaining voxels: the layer energies stay as generated
            return kept * self.per_voxel(give_back(layer, kept @ self.membership))

    def calibrate(self, data: ShowerSet, seed: int) -> None:
        """Output ``"layers"``: set ``voxel_cut`` so that generated showers have, per layer, as many non-empty
        voxels as ``data`` (:func:`~caloforge.models.calibration.matching_cuts`; use training showers).
        Output ``"voxels"`` has exact zeros from its ReLU and nothing to calibrate."""
        if not self.factorised:
            return
        showers, energy, cond, z = calibration_inputs(self, data, seed)
        with torch.no_grad():
            generated = self._voxels(z, energy, cond, None).cpu()
        cuts = matching_cuts(generated, showers, self.geometry.layer_sizes, float(self.geometry.threshold), 0.0)
        self.config = replace(self.config, voxel_cut=tuple(cuts.tolist()))


_FIT_MAX_SHOWERS = 50_000
_SQRT2 = float(np.sqrt(2.0))
_LOG2 = float(np.log(2.0))


def _width(second: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Standard deviation from the first and second moments; + 1e-6 mm² keeps the gradient finite where a layer
    is one cell wide (or empty)."""
    return torch.sqrt((second - mean * mean).clamp_min(0.0) + 1e-6)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))`` as ``relu(x) + log(1 + exp(−|x|))``: stable for any x, and it exports to plain ONNX
    element-wise ops (``nn.functional.softplus`` exports with a threshold branch that onnxruntime runs slowly)."""
    return torch.relu(x) + torch.log1p(torch.exp(-x.abs()))


#: log erfc(x) = log t − x² + P(t), t = 1/(1 + x/2), |error| < 1.2e-7 for x ≥ 0: Chebyshev fit of W. H. Press et
#: al., Numerical Recipes in C, 2nd ed. (1992), §6.2, function erfcc; P's coefficients, constant term first
_ERFC_COEFFS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip
#: the noise range the Gumbel transform sees: Φ(z) in [1e-12, 1 − 6e-8], as the shipped models were trained
_Z_RANGE = (-7.0345, 5.2935)


def _gumbel(z: torch.Tensor) -> torch.Tensor:
    """Standard normal ``z`` → standard Gumbel noise ``G = −log(−log Φ(z))``, to float32 rounding for every z.

    The smaller tail ``q = Φ(−|z|) = erfc(|z|/√2)/2`` comes from :data:`_ERFC_COEFFS` as ``log q``, never as
    ``1 − Φ``: in float32 ``1 − Φ(z)`` cancels (at z = 3.4 it is 3.5e-4, rounded in steps of 6e-8), which made
    PyTorch and onnxruntime disagree by 1e-4 of a voxel's energy. Below the mean ``G = −log(−log q)``; above it
    ``−log Φ = −log(1 − q) = 2 atanh(y)``, ``y = q/(2 − q) ≤ 1/3``, a series ``2y S(y²)``, so
    ``G = log((2 − q)/(2 S)) − log q``. Element-wise ops without a float32 cancellation or an underflow: it
    exports to ONNX and stays finite in float16. z is clipped to :data:`_Z_RANGE` first (G in about (−3.32,
    16.6)). (A table of G with linear interpolation needs two gathers, which onnxruntime runs slower than these
    ~45 element-wise ops.)"""
    z = z.clamp(*_Z_RANGE)
    t = 1.0 / (1.0 + z.abs() * (0.5 / _SQRT2))
    poly = t * _ERFC_COEFFS[-1] + _ERFC_COEFFS[-2]
    for coeff in reversed(_ERFC_COEFFS[1:-2]):
        poly = poly * t + coeff
    log_q = torch.log(t) + (poly * t + (_ERFC_COEFFS[0] - _LOG2)) - 0.5 * z * z  # log Φ(−|z|)
    q = torch.exp(log_q)
    y = q / (2.0 - q)
    w = y * y
    # 2 S(w) = Σ_k 2 w^k / (2k + 1), k ≤ 5: relative error < 2e-7 (at y = 1/3, z = 0), less for z > 0
    two_s = w * (2.0 / 11.0) + 2.0 / 9.0
    for k in (3, 2, 1, 0):
        two_s = two_s * w + 2.0 / (2 * k + 1)
    upper = torch.log((2.0 - q) / two_s) - log_q
    lower = -torch.log(-log_q)
    # a blend, not torch.where: both branches are finite, and onnxruntime's Where runs single-threaded and slowly
    return lower + (z > 0).to(z.dtype) * (upper - lower)


_U_EPS = 1e-6  # u-parameters are clipped to [ε, 1 − ε] before the logit (an empty last layer gives u = 1)


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
        high_level_critic: the energy critic also sees each layer's centre and width along x and y (standardised),
            the high-level features of the CaloChallenge classifier (ours; needs output ``"layers"``).
        cut_in_training: the critics see generated showers after a soft version of the sampling-time voxel cut
            (ours; output ``"layers"``): per layer, the cut that leaves as many generated voxels as the real batch
            has non-empty ones, applied as ``v · sigmoid((v − c) / (cut_softness · c))`` and renormalised to the
            layer energy, so the shapes are judged as they will be sampled.
        cut_softness: the relative width of that sigmoid.
        linear_view: the voxel critic also sees every voxel's energy as a fraction of the incident energy,
            standardised per voxel (what the evaluation's low-level classifier sees), next to the compressed
            ``log(1 + share/ε)`` view, which resolves the small voxels but flattens the hot cells that set the
            peak sharpness (E_ratio) and the widths (ours; output ``"layers"``). The standardisation is a moving
            average of the real batches' mean and variance (:class:`RunningScale`, kept in the checkpoint).
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
    high_level_critic: bool = False
    cut_in_training: bool = False
    cut_softness: float = 0.1
    linear_view: bool = False

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
            (not self.cut_softness > 0, "cut_softness", "must be > 0"),
        )


class VoxelCritic(nn.Module):
    """Critic of network data ``(N, n_inputs)`` and conditions ``(N, n_conditions)`` → scores ``(N,)``.

    Output ``"voxels"``: the voxels; output ``"layers"``: the transformed shares and the u-features.
    """

    def __init__(self, n_inputs: int, n_conditions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([n_inputs + n_conditions, *hidden, 1], _leaky, final_bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, cond], dim=1)).squeeze(1)


class EnergyCritic(nn.Module):
    """Critic of the energy features ``(N, n_layers)`` (u-parameters; with ``extra`` more features, e.g. the
    layers' centres and widths) and conditions → scores ``(N,)``."""

    def __init__(
        self, geometry: Geometry, preprocessing: Preprocessing, hidden: tuple[int, ...], extra: int = 0
    ) -> None:
        super().__init__()
        self.preprocessing = preprocessing
        membership = np.zeros((geometry.n_voxels, geometry.n_layers), dtype=np.float32)
        membership[np.arange(geometry.n_voxels), geometry.voxel_layer] = 1.0
        self.membership: torch.Tensor
        self.register_buffer("membership", torch.from_numpy(membership), persistent=False)
        self.net = mlp([geometry.n_layers + extra + preprocessing.n_conditions, *hidden, 1], _leaky, final_bias=False)

    def features(self, x: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """u-parameters ``(N, n_layers)`` of network data ``x`` at incident energies ``(N,)`` MeV."""
        layer_energy = self.preprocessing.to_mev(x, energy) @ self.membership
        return layer_energies_to_u(layer_energy, energy, self.preprocessing.response)

    def forward(self, features: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([features, cond], dim=1)).squeeze(1)


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


class RunningScale(nn.Module):
    """Per-feature standardisation ``(x − mean) / max(std, floor)`` by moving averages of the real batches' mean
    and variance (:meth:`update`; the first batch sets them). Buffers, so checkpoints keep them."""

    def __init__(self, n_features: int, momentum: float = 0.01, floor: float = 1e-3) -> None:
        super().__init__()
        self.momentum, self.floor = momentum, floor
        self.mean: torch.Tensor
        self.var: torch.Tensor
        self.seen: torch.Tensor
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("var", torch.ones(n_features))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        weight = 1.0 if int(self.seen) == 0 else self.momentum
        self.mean.lerp_(x.mean(dim=0).to(self.mean), weight)
        self.var.lerp_(x.var(dim=0, unbiased=False).to(self.var), weight)
        self.seen += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.var.sqrt().clamp_min(self.floor)


#: the smallest spread the linear view divides by: 0.1 % of the incident energy (below it the log view of the
#: shares resolves a voxel better, and dividing by a near-zero spread would blow its noise up)
_LINEAR_VIEW_FLOOR = 1e-3

Views = dict[str, tuple[torch.Tensor, torch.Tensor]]


class WGANTrainer(FamilyTrainer):
    """``n_critic`` critic updates (each on a new batch, with gradient penalties), then one generator update.

    Critics (output ``"layers"``): ``voxel`` on the transformed shares (and the linear view), ``energy`` on the
    u-features (single generator: with the u-features in the voxel critic and the moments in the energy critic);
    with ``two_stage`` the shape critics ``voxel`` and ``moments`` are conditioned on the real showers'
    u-features and the energy critic sees the energy generator's output alone.
    """

    Config = WGANTrainerConfig

    def __init__(self, model: GenerativeModel, config: WGANTrainerConfig, **kwargs: Any) -> None:
        super().__init__(model, config, **kwargs)
        assert isinstance(model, WGAN)
        for name in ("high_level_critic", "cut_in_training", "linear_view"):
            if getattr(config, name) and not model.factorised:
                raise ConfigError(f'trainer.{name}: needs model output "layers" (the shares give it)')
        self.wgan = model
        self.two_stage = bool(model.config.two_stage)
        pre, geometry = model.preprocessing, model.geometry
        n_voxels, n_layers, n_cond = geometry.n_voxels, geometry.n_layers, pre.n_conditions
        if not model.factorised:
            self.critics["voxel"] = VoxelCritic(n_voxels, n_cond, config.critic_hidden)
        else:
            n_shape = n_voxels * (2 if config.linear_view else 1)
            if self.two_stage:  # the shape critics judge the shapes given the layer energies
                self.critics["voxel"] = VoxelCritic(n_shape, n_cond + n_layers, config.critic_hidden)
                if config.high_level_critic:
                    self.critics["moments"] = VoxelCritic(
                        model.n_moments, n_cond + n_layers, config.energy_critic_hidden
                    )
            else:
                self.critics["voxel"] = VoxelCritic(n_shape + n_layers, n_cond, config.critic_hidden)
            if config.linear_view:
                self.critics["linear_scale"] = RunningScale(n_voxels, floor=_LINEAR_VIEW_FLOOR)
        extra = model.n_moments if config.high_level_critic and not self.two_stage else 0
        self.critics["energy"] = EnergyCritic(geometry, pre, config.energy_critic_hidden, extra)
        self.critics.to(self.device)
        betas = (config.beta1, config.beta2)
        self.add_optimizer("generator", model.parameters(), config.lr_g, betas)
        self.add_optimizer("critic", self.critics.parameters(), config.lr_d, betas)

    @property
    def batches_per_step(self) -> int:
        return int(self.config.n_critic)

    @property
    def _judges(self) -> list[str]:
        """The critics that score showers (not the linear view's scale)."""
        return [name for name in self.critics if name != "linear_scale"]

    def _penalty(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, generator=self.generator, device=self.generator.device).to(real)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(mixed, cond).sum(), mixed, create_graph=True)
        return ((grad.norm(2, dim=1) - 1.0) ** 2).mean()

    def _share_view(self, share: torch.Tensor) -> torch.Tensor:
        eps = self.wgan.config.share_eps
        return torch.log1p(share / eps) / float(np.log1p(1.0 / eps))

    def _real_parts(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Shares ``(N, V)`` and standardised u-features ``(N, L)`` of a real batch (output ``"layers"``)."""
        layer = self.wgan.preprocessing.to_mev(batch.x, batch.energy) @ self.wgan.membership
        return self.wgan.shares(batch.x), self.wgan.u_features(layer, batch.energy).to(batch.x.dtype)

    def _views(
        self,
        share: torch.Tensor,
        t: torch.Tensor,
        t_shape: torch.Tensor,
        energy: torch.Tensor,
        cond: torch.Tensor,
        update_scale: bool = False,
    ) -> Views:
        """What each critic sees, ``{name: (input, condition)}``, of showers with shares ``share`` and u-features
        ``t`` (what the energy critic judges); ``t_shape`` are the u-features of the layer energies the shares
        belong to (``two_stage``: the real showers', else ``t``). ``update_scale``: real showers, whose linear
        view updates its standardisation first."""
        model, config = self.wgan, self.config
        shape = [self._share_view(share)]
        if config.linear_view:
            scale = self.critics["linear_scale"]
            assert isinstance(scale, RunningScale)
            fraction = share * model.per_voxel(model.layer_energies(t_shape, energy) / energy[:, None])
            if update_scale:
                scale.update(fraction)
            shape.append(scale(fraction))
        if self.two_stage:
            shape_cond = torch.cat([cond, t_shape], dim=1)
            views: Views = {"voxel": (torch.cat(shape, dim=1), shape_cond)}
            if config.high_level_critic:
                views["moments"] = (model.moments(share), shape_cond)
            views["energy"] = (t, cond)
            return views
        energy_view = torch.cat([t, model.moments(share)], dim=1) if config.high_level_critic else t
        return {"voxel": (torch.cat([*shape, t], dim=1), cond), "energy": (energy_view, cond)}

    def _real_views(self, batch: Batch, update_scale: bool = False) -> tuple[Views, torch.Tensor | None]:
        """What the critics see of real showers, and their standardised u-features (output ``"layers"``)."""
        if not self.wgan.factorised:
            energy_critic = self.critics["energy"]
            assert isinstance(energy_critic, EnergyCritic)
            views = {
                "voxel": (batch.x, batch.cond),
                "energy": (energy_critic.features(batch.x, batch.energy), batch.cond),
            }
            return views, None
        share, t = self._real_parts(batch)
        return self._views(share, t, t, batch.energy, batch.cond, update_scale), t

    def _fake_views(
        self,
        z: torch.Tensor,
        energy: torch.Tensor,
        cond: torch.Tensor,
        real_x: torch.Tensor,
        real_t: torch.Tensor | None,
    ) -> Views:
        """What the critics see of generated showers (differentiable in the generator); ``real_x``: the real
        batch, whose number of non-empty voxels sets the soft cut (``cut_in_training``); ``real_t``: the real
        showers' u-features, the condition of the shape generator and critics (``two_stage``)."""
        model = self.wgan
        if not model.factorised:
            energy_critic = self.critics["energy"]
            assert isinstance(energy_critic, EnergyCritic)
            fake = model.decode(z, energy, cond)
            return {"voxel": (fake, cond), "energy": (energy_critic.features(fake, energy), cond)}
        if self.two_stage:
            assert real_t is not None
            t, t_shape = model.energy_features(z, cond), real_t
            share = model.shape_given(z, cond, t_shape)
        else:
            share, t = model.parts(z, cond)
            t_shape = t
        if self.config.cut_in_training:
            share = self._soft_cut(share, t_shape, energy, real_x)
        return self._views(share, t, t_shape, energy, cond)

    def _soft_cut(
        self, share: torch.Tensor, t: torch.Tensor, energy: torch.Tensor, real_x: torch.Tensor
    ) -> torch.Tensor:
        """Shares after the batch-matched soft cut (see ``cut_in_training``), renormalised within each layer."""
        model = self.wgan
        voxels = share * model.per_voxel(model.layer_energies(t, energy))
        # the batch's own cut: the real batch's non-empty voxels (network units: any value > 0) counted per layer
        cuts = matching_cuts(voxels.detach(), real_x, model.geometry.layer_sizes, 0.0, 1e-12)
        cut = cuts.index_select(0, model.voxel_layer)
        soft = voxels * torch.sigmoid((voxels - cut) / (self.config.cut_softness * cut))
        return model.shares(soft)

    def training_step(self, batches: list[Batch]) -> dict[str, float]:
        lam = self.config.gp_weight
        judges = self._judges
        critic_losses, distances, penalties = [], [], []
        for batch in batches:
            with torch.no_grad():
                real, real_t = self._real_views(batch, update_scale=True)
                fake = self._fake_views(self.noise(len(batch)), batch.energy, batch.cond, batch.x, real_t)
            loss = torch.zeros((), device=batch.x.device)
            penalty = torch.zeros((), device=batch.x.device)
            for name in judges:
                critic = self.critics[name]
                (x_real, c_real), (x_fake, c_fake) = real[name], fake[name]
                distance = critic(x_real, c_real).mean() - critic(x_fake, c_fake).mean()
                penalty = penalty + self._penalty(critic, x_real, x_fake, c_real)
                loss = loss - distance
                if name == "voxel":
                    distances.append(distance.detach())
            loss = loss + lam * penalty
            self.update("critic", loss)
            critic_losses.append(loss.detach())
            penalties.append(penalty.detach())

        last = batches[-1]
        self.critics.requires_grad_(False)
        try:
            n = len(last)
            perm = torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
            energy, cond = last.energy[perm], last.cond[perm]
            real_t = None
            if self.two_stage:
                with torch.no_grad():
                    real_t = self._real_parts(last)[1][perm]
            fake = self._fake_views(self.noise(n), energy, cond, last.x, real_t)
            weight = self.config.energy_critic_weight
            loss_g = torch.zeros((), device=last.x.device)
            for name in judges:
                score = self.critics[name](*fake[name]).mean()
                loss_g = loss_g - (score if name == "voxel" else weight * score)
            self.update("generator", loss_g)
        finally:
            self.critics.requires_grad_(True)
        return {
            "loss_critic": float(torch.stack(critic_losses).mean()),
            "wasserstein": float(torch.stack(distances).mean()),
            "gradient_penalty": float(torch.stack(penalties).mean()),
            "loss_g": float(loss_g.detach()),
        }
