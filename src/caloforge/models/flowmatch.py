"""Two-stage conditional flow matching: layer energies first, then the normalised shape of every layer.

The split of CaloFlow (Krause & Shih, arXiv:2106.05285 and arXiv:2110.11377) and CaloDREAM (Favaro et al.,
arXiv:2405.09629): **stage 1** learns the layer energies given the incident energy (and particle, angle), in
CaloFlow's u-parameterisation (``u_0 = E_tot/(r E_inc)``, ``u_i`` = each layer's share of the energy still to
come); **stage 2** learns the voxel energies given the incident and layer energies, and each generated layer is
normalised to its stage-1 energy (showers are ``shape × E_layer``), so the layer sums are right by construction.

Both stages are trained by conditional flow matching on straight paths (Lipman et al., arXiv:2210.02747;
rectified flow, Liu et al., arXiv:2209.03003; Albergo & Vanden-Eijnden, arXiv:2209.15571): with noise
``x_0 ~ N(0, 1)``, data ``x_1`` and ``x_t = (1 − t) x_0 + t x_1``, a network ``v(x_t, t, c)`` regresses
``x_1 − x_0``. Sampling integrates ``dx/dt = v`` from t = 0 to 1 with a fixed number of Euler, midpoint or Heun
steps, so ``forward(z, E, particle, θ)`` is a pure function of its inputs (ONNX export); ``z`` is the
concatenation of both stages' noise, ``(N, n_layers + n_voxels)``. Distillation to few steps is reflow
(arXiv:2209.03003, section 2.3): a student, initialised with the teacher's weights, learns straight paths
between the noise and the teacher's own samples (:class:`FlowMatchTrainer` with ``objective: reflow``).

Stage 2's network treats the shower as a sequence of *tokens*, one per readout layer (or per patch of at most
``patch_size`` voxels of a layer), each embedded by its own linear map — so irregular Cartesian layers
(calogan), cylindrical layers (CaloChallenge 2/3) and readout-only layers (CaloChallenge 1) are all the same to
it — and mixes them with a small transformer whose norms are modulated by the condition (DiT's adaLN,
arXiv:2212.09748; layers as tokens as CaloDREAM's vision transformer with patches, arXiv:2405.09629). A
per-voxel skip ``x_t · w(t)`` carries what a low-dimensional token cannot (the noise of each voxel).

Preprocessing: uniform noise in ``[0, δ)`` MeV is added to every voxel (dequantisation, as CaloFlow,
arXiv:2106.05285: empty voxels become a continuous distribution; δ = the geometry's threshold, else 1 keV) and
noise in ``[δ/2, δ)`` to every layer energy. Stage 1 sees ``[log u_0, logit(α + (1 − 2α) u_i)]`` (CaloFlow,
α = 10⁻⁶; computed from partial sums, so that deep, nearly empty layers keep their precision); stage 2 sees
``log(1 + v/δ)`` per voxel, which puts every empty voxel in ``[0, ln 2)`` whatever the shower, well apart from
deposits above δ (a logit of the layer fraction with CaloFlow's α mixes them: at 50 GeV, α·E_layer is 50 keV).
Every feature is standardised with the mean and standard deviation of the training sample (buffers saved with
the weights, fitted by :meth:`FlowMatch.fit_data`); with ``shape_standardisation: layer_energy`` each voxel
feature is instead standardised around a least-squares line in the log energy λ of its layer,
``(s − a_v − b_v λ) / σ_v``: λ is known at sampling (stage 1), so the map stays affine and invertible, and the
flow sees each voxel relative to its layer's energy rather than a spread dominated by the 100× range of E_inc.
Generated voxels below δ are empty; the others are scaled so that each layer holds the stage-1 energy: the
*normalised* shape is what stage 2 contributes.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from caloforge.exceptions import ConfigError, ModelError
from caloforge.geometry import Geometry
from caloforge.models.base import Batch, FamilyTrainer, GenerativeModel
from caloforge.models.calibration import calibration_inputs, give_back, matching_cuts
from caloforge.models.config import from_dict, iter_checks, to_dict
from caloforge.models.layers import FourierFeatures, ModulatedTransformerBlock, mlp
from caloforge.models.preprocessing import Preprocessing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from caloforge.io import ShowerSet

__all__ = [
    "FlowMatch",
    "FlowMatchConfig",
    "FlowMatchTrainer",
    "FlowMatchTrainerConfig",
    "layer_tokens",
    "time_grid",
]

Solver = Literal["euler", "midpoint", "heun"]

#: model-config keys that change how the ODE is solved, not the networks (a reflow student may differ here)
SAMPLING_KEYS = ("solver", "steps", "energy_steps", "time_shift", "voxel_cut")


#: fit_data uses at most this many showers, read in chunks of about this many voxel values
FIT_MAX_SHOWERS = 50_000
FIT_CHUNK_VALUES = 20_000_000

#: dequantisation noise δ (MeV) for geometries without a threshold: 1 keV, below 0.1 % of the non-zero deposits
#: of caloforge's calogan reference sample (its 0.1 % quantile is 5 keV)
DEFAULT_NOISE_LEVEL = 1e-3


@dataclass(frozen=True)
class FlowMatchConfig:
    """Flow-matching model options (docs/flowmatching.md explains each choice).

    Attributes:
        energy_hidden: hidden widths of stage 1's MLP (layer energies).
        d_model: token width of stage 2's transformer.
        n_blocks: transformer blocks.
        n_heads: attention heads (divides ``d_model``).
        mlp_hidden: hidden width of each block's MLP.
        cond_hidden: hidden width of the condition embedding (time, E_inc, particle, θ, layer energies).
        patch_size: at most this many voxels per token (a layer is cut into equal contiguous patches);
            0 = one token per readout layer.
        share_projections: tokens with the same number of voxels share their embedding and output maps (a
            learned position embedding tells them apart): fewer weights for large regular readouts.
        head_features: features per voxel that the output maps give the per-voxel head.
        head_hidden: hidden width of the per-voxel head (an MLP shared by all voxels).
        time_frequencies: sinusoidal features of the ODE time (frequencies π·2^k).
        solver: ODE solver of sampling: ``euler`` (1 evaluation per step), ``midpoint`` or ``heun`` (2).
        steps: solver steps of stage 2 (shapes).
        energy_steps: solver steps of stage 1 (``None``: ``steps``).
        time_shift: the solver's time grid, ``t_k = σu/(1 + (σ − 1)u)`` at ``u = k/steps`` with σ this shift
            (the timestep shift of Esser et al., arXiv:2403.03206, there with the noise at t = 1, here at t = 0):
            σ = 1 is the uniform grid, σ > 1 takes shorter steps near the data (t = 1), σ < 1 near the noise.
        energy_scaling: how the incident energy enters the networks (``log`` or ``linear``).
        alpha: α of the logit transform of the u-parameters (CaloFlow: 1e-6).
        noise_level: dequantisation noise δ in MeV (``None``: the geometry's threshold, else 1 keV);
            generated voxels below δ are zero.
        shape_standardisation: how stage 2's voxel features ``s = log(1 + v/δ)`` are standardised: ``global``,
            by each voxel's mean and standard deviation over the training sample; ``layer_energy``, by an affine
            fit per voxel on the log energy λ of its layer, ``(s − a_v − b_v λ) / σ_v`` (σ_v the residual's
            standard deviation), so that the flow sees each voxel relative to its layer's energy.
        voxel_cut: per readout layer, generated voxels below this many MeV are empty (``None``: δ). Set by
            :meth:`FlowMatch.calibrate` so that the showers have as many non-empty voxels as the training data:
            the ODE smears the narrow band of empty voxels, and without a cut some of them become tiny deposits.
    """

    energy_hidden: tuple[int, ...] = (128, 128, 128)
    d_model: int = 128
    n_blocks: int = 2
    n_heads: int = 4
    mlp_hidden: int = 256
    cond_hidden: int = 128
    patch_size: int = 0
    share_projections: bool = False
    head_features: int = 4
    head_hidden: int = 16
    time_frequencies: int = 6
    solver: Solver = "midpoint"
    steps: int = 8
    energy_steps: int | None = None
    time_shift: float = 1.0
    energy_scaling: Literal["log", "linear"] = "log"
    alpha: float = 1e-6
    noise_level: float | None = None
    shape_standardisation: Literal["global", "layer_energy"] = "global"
    voxel_cut: tuple[float, ...] | None = None

    def checks(self) -> Iterator[tuple[str, str]]:
        for name in (
            "d_model",
            "n_heads",
            "mlp_hidden",
            "cond_hidden",
            "head_features",
            "head_hidden",
            "steps",
            "time_frequencies",
        ):
            if getattr(self, name) < 1:
                yield name, f"must be >= 1, got {getattr(self, name)}"
        yield from iter_checks(
            (not self.energy_hidden or min(self.energy_hidden) < 1, "energy_hidden", "must be widths >= 1"),
            (self.n_blocks < 0, "n_blocks", "must be >= 0"),
            (self.n_heads >= 1 and self.d_model % self.n_heads != 0, "n_heads", "must divide d_model"),
            (self.patch_size < 0, "patch_size", "must be >= 0 (0: one token per layer)"),
            (self.energy_steps is not None and self.energy_steps < 1, "energy_steps", "must be >= 1"),
            (not (self.time_shift > 0 and math.isfinite(self.time_shift)), "time_shift", "must be finite and > 0"),
            (not 0 < self.alpha < 0.5, "alpha", f"must be in (0, 0.5), got {self.alpha}"),
            (self.noise_level is not None and not self.noise_level > 0, "noise_level", "must be > 0 MeV"),
            (
                self.voxel_cut is not None and not all(c > 0 and math.isfinite(c) for c in self.voxel_cut),
                "voxel_cut",
                "must be finite cuts > 0 MeV, one per layer",
            ),
        )

    @property
    def evaluations(self) -> tuple[int, int]:
        """Network evaluations per shower of stage 1 and of stage 2."""
        per_step = 1 if self.solver == "euler" else 2
        return per_step * (self.energy_steps or self.steps), per_step * self.steps


# --------------------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------------------
def layer_tokens(layer_sizes: tuple[int, ...] | list[int], patch_size: int) -> list[tuple[int, int, int]]:
    """Cut the flat voxel vector into tokens ``(start, length, layer)``: each readout layer into
    ``ceil(size / patch_size)`` contiguous patches of (nearly) equal length, or whole when ``patch_size`` is 0.

    >>> layer_tokens([288, 144, 72], 100)
    [(0, 96, 0), (96, 96, 0), (192, 96, 0), (288, 72, 1), (360, 72, 1), (432, 72, 2)]
    """
    tokens = []
    start = 0
    for layer, size in enumerate(layer_sizes):
        if size == 0:
            continue
        k = 1 if patch_size <= 0 else math.ceil(size / patch_size)
        base, extra = divmod(size, k)
        for i in range(k):
            length = base + (i < extra)
            tokens.append((start, length, layer))
            start += length
    return tokens


class _TokenMaps(nn.Module):
    """Per-token linear maps from voxels ``(N, V)`` to tokens ``(N, T, d)`` and from tokens to ``k`` features per
    voxel ``(N, V, k)``; tokens of equal length are grouped.

    Tokens of equal length form a group whose maps run as one batched product. Tokens are kept in group order
    (the transformer does not care about order; ``token_layer`` tells each token's readout layer).
    """

    def __init__(self, tokens: list[tuple[int, int, int]], n_voxels: int, d: int, k: int, share: bool) -> None:
        super().__init__()
        self.k = k
        groups: dict[int, list[tuple[int, int, int]]] = {}
        for token in tokens:
            groups.setdefault(token[1], []).append(token)
        self.lengths = list(groups)
        self.sizes = [len(g) for g in groups.values()]
        self.share = share
        self.slices: list[tuple[int, int] | None] = []
        order: list[int] = []
        layers: list[int] = []
        self.w_in = nn.ParameterList()
        self.b_in = nn.ParameterList()
        self.w_out = nn.ParameterList()
        self.b_out = nn.ParameterList()
        for i, (length, group) in enumerate(groups.items()):
            voxels = [v for start, n, _ in group for v in range(start, start + n)]
            contiguous = voxels == list(range(voxels[0], voxels[0] + len(voxels)))
            self.slices.append((voxels[0], len(voxels)) if contiguous else None)
            self.register_buffer(f"index_{i}", torch.tensor(voxels, dtype=torch.long), persistent=False)
            order += voxels
            layers += [layer for _, _, layer in group]
            g = 1 if share else len(group)
            bound_in, bound_out = 1.0 / math.sqrt(length), 1.0 / math.sqrt(d)  # nn.Linear's initialisation
            self.w_in.append(nn.Parameter(torch.empty(g, length, d).uniform_(-bound_in, bound_in)))
            self.b_in.append(nn.Parameter(torch.empty(g, d).uniform_(-bound_in, bound_in)))
            self.w_out.append(nn.Parameter(torch.empty(g, d, length * k).uniform_(-bound_out, bound_out)))
            self.b_out.append(nn.Parameter(torch.empty(g, length * k).uniform_(-bound_out, bound_out)))
        self.identity_order = order == list(range(n_voxels))
        self.inverse: torch.Tensor
        self.register_buffer("inverse", torch.from_numpy(np.argsort(np.array(order))), persistent=False)
        self.token_layer: torch.Tensor
        self.register_buffer("token_layer", torch.tensor(layers, dtype=torch.long), persistent=False)

    def _group_input(self, x: torch.Tensor, i: int) -> torch.Tensor:
        where = self.slices[i]
        n, g, length = x.shape[0], self.sizes[i], self.lengths[i]
        if where is not None:
            return x.narrow(1, where[0], where[1]).reshape(n, g, length)
        index: torch.Tensor = getattr(self, f"index_{i}")
        return x.index_select(1, index).reshape(n, g, length)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Voxels ``(N, n_voxels)`` → tokens ``(N, T, d)``."""
        out = []
        for i in range(len(self.lengths)):
            xi = self._group_input(x, i)
            if self.share or self.sizes[i] == 1:
                out.append(xi @ self.w_in[i][0] + self.b_in[i][0])
            else:
                out.append(torch.einsum("ngl,gld->ngd", xi, self.w_in[i]) + self.b_in[i])
        return out[0] if len(out) == 1 else torch.cat(out, dim=1)

    def unembed(self, h: torch.Tensor) -> torch.Tensor:
        """Tokens ``(N, T, d)`` → features of every voxel ``(N, V, k)``."""
        out = []
        start = 0
        n = h.shape[0]
        for i, g in enumerate(self.sizes):
            hi = h[:, start : start + g]
            start += g
            if self.share or g == 1:
                yi = hi @ self.w_out[i][0] + self.b_out[i][0]
            else:
                yi = torch.einsum("ngd,gdl->ngl", hi, self.w_out[i]) + self.b_out[i]
            out.append(yi.reshape(n, g * self.lengths[i], self.k))
        flat = out[0] if len(out) == 1 else torch.cat(out, dim=1)
        return flat if self.identity_order else flat.index_select(1, self.inverse)


class _EnergyNet(nn.Module):
    """Stage 1's velocity: ``(y_t (N, L), t (N, 1), cond (N, C))`` → ``(N, L)``; an MLP with SiLU."""

    def __init__(self, n_layers: int, n_conditions: int, cfg: FlowMatchConfig) -> None:
        super().__init__()
        self.time = FourierFeatures(cfg.time_frequencies)
        self.net = mlp([n_layers + self.time.out_features + n_conditions, *cfg.energy_hidden, n_layers], nn.SiLU)

    def forward(self, y: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([y, self.time(t), cond], dim=1))


class _ShapeNet(nn.Module):
    """Stage 2's velocity: ``(s_t (N, V), t, cond, y (N, L) layer-energy features, ℓ (N, L) log layer energies)``
    → ``(N, V)``: per-token embeddings, adaLN transformer blocks, per-token maps to ``head_features`` per voxel,
    a small MLP shared by all voxels on those features and the voxel's own ``s_t``, and a per-voxel skip."""

    def __init__(self, geometry: Geometry, n_conditions: int, cfg: FlowMatchConfig) -> None:
        super().__init__()
        d = cfg.d_model
        tokens = layer_tokens(geometry.layer_sizes, cfg.patch_size)
        self.maps = _TokenMaps(tokens, geometry.n_voxels, d, cfg.head_features, cfg.share_projections)
        n_tokens = len(tokens)
        self.position = nn.Parameter(torch.randn(n_tokens, d) * 0.02)
        # each token is told the (standardised log) energy of its readout layer
        self.layer_energy = nn.Parameter(torch.randn(n_tokens, d) * 0.02)
        self.time = FourierFeatures(cfg.time_frequencies)
        n_in = self.time.out_features + n_conditions + geometry.n_layers
        self.condition = mlp([n_in, cfg.cond_hidden, d], nn.SiLU)
        self.blocks = nn.ModuleList(
            ModulatedTransformerBlock(d, cfg.n_heads, cfg.mlp_hidden) for _ in range(cfg.n_blocks)
        )
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Linear(d, 2 * d)
        # the voxel's own s_t enters the head: whether a voxel is empty is decided per voxel, which a token of
        # d numbers for hundreds of voxels cannot do through a linear map
        self.head = mlp([cfg.head_features + 1, cfg.head_hidden, 1], nn.SiLU)
        self.skip = nn.Linear(self.time.out_features, geometry.n_voxels)

    def forward(
        self, s: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, y: torch.Tensor, ell: torch.Tensor
    ) -> torch.Tensor:
        temb = self.time(t)
        c = self.condition(torch.cat([temb, cond, y], dim=1))
        h = (
            self.maps.embed(s)
            + self.position
            + ell.index_select(1, self.maps.token_layer).unsqueeze(2) * self.layer_energy
        )
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(F.silu(c)).unsqueeze(1).chunk(2, dim=2)
        h = self.final_norm(h) * (1 + scale) + shift
        features = torch.cat([self.maps.unembed(h), s.unsqueeze(2)], dim=2)
        return self.head(features).squeeze(2) + s * self.skip(temb)


def time_grid(steps: int, shift: float = 1.0) -> list[float]:
    """The ``steps + 1`` solver times from 0 to 1: ``σu/(1 + (σ − 1)u)`` at ``u = k/steps`` (σ = ``shift``)."""
    return [shift * u / (1 + (shift - 1) * u) for u in (k / steps for k in range(steps + 1))]


def _solve(
    velocity: Callable[..., torch.Tensor],
    x: torch.Tensor,
    context: tuple[torch.Tensor, ...],
    steps: int,
    solver: str,
    shift: float = 1.0,
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t, *context)`` from t = 0 to 1 in ``steps`` steps on :func:`time_grid`."""
    times = time_grid(steps, shift)
    for t0, t1 in itertools.pairwise(times):
        h = t1 - t0
        t = x.new_full((x.shape[0], 1), t0)
        v = velocity(x, t, *context)
        if solver == "euler":
            x = x + h * v
        elif solver == "midpoint":
            x = x + h * velocity(x + 0.5 * h * v, t + 0.5 * h, *context)
        else:  # heun: the trapezoidal corrector of an Euler predictor
            v_end = velocity(x + h * v, t + h, *context)
            x = x + 0.5 * h * (v + v_end)
    return x


# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------
class FlowMatch(GenerativeModel):
    """Two-stage conditional flow matching with a layer-token transformer (see the module docstring)."""

    family = "flowmatch"
    summary = "two-stage conditional flow matching (layer energies, then layer shapes), few-step ODE sampling"
    papers = ("arXiv:2210.02747", "arXiv:2209.03003", "arXiv:2106.05285", "arXiv:2405.09629", "arXiv:2212.09748")
    Config = FlowMatchConfig
    inference_chunk = 128  # rows per CPU pass: 1024 was 1.1-1.25x slower, same showers (docs/deployment.md)

    def __init__(self, config: FlowMatchConfig, geometry: Geometry, preprocessing: Preprocessing) -> None:
        super().__init__(config, geometry, preprocessing)
        n_layers, n_voxels = geometry.n_layers, geometry.n_voxels
        self.n_layers = n_layers
        threshold = float(geometry.threshold)
        self.noise_level = float(
            config.noise_level
            if config.noise_level is not None
            else threshold
            if threshold > 0
            else DEFAULT_NOISE_LEVEL
        )
        # generated voxel features are clamped below log(1 + 10 E_max / δ): no overflow from a stray sample
        self._shape_max = math.log1p(10.0 * preprocessing.energy_max / self.noise_level)
        if config.voxel_cut is not None and len(config.voxel_cut) != n_layers:
            raise ConfigError(
                f"model.voxel_cut: needs one cut per layer of geometry {geometry.name!r} ({n_layers}), "
                f"got {len(config.voxel_cut)}"
            )
        self.energy_net = _EnergyNet(n_layers, preprocessing.n_conditions, config)
        self.shape_net = _ShapeNet(geometry, preprocessing.n_conditions, config)
        membership = np.zeros((n_voxels, n_layers), dtype=np.float32)
        membership[np.arange(n_voxels), geometry.voxel_layer] = 1.0
        self.membership: torch.Tensor
        self.voxel_layer: torch.Tensor
        self.register_buffer("membership", torch.from_numpy(membership), persistent=False)
        self.register_buffer("voxel_layer", torch.from_numpy(geometry.voxel_layer.astype(np.int64)), persistent=False)
        # standardisation of the features, fitted on the training sample (fit_data) and saved with the weights
        self.energy_shift: torch.Tensor
        self.energy_scale: torch.Tensor
        self.layer_shift: torch.Tensor
        self.layer_scale: torch.Tensor
        self.shape_shift: torch.Tensor
        self.shape_scale: torch.Tensor
        for name, size in (("energy", n_layers), ("layer", n_layers), ("shape", n_voxels)):
            self.register_buffer(f"{name}_shift", torch.zeros(size))
            self.register_buffer(f"{name}_scale", torch.ones(size))
        # layer_energy standardisation: the slope b_v of each voxel feature on its layer's log energy (only then,
        # so that the weights of global models keep their buffers)
        self.shape_slope: torch.Tensor | None
        slope = torch.zeros(n_voxels) if config.shape_standardisation == "layer_energy" else None
        self.register_buffer("shape_slope", slope)
        self.energy_low: torch.Tensor
        self.energy_high: torch.Tensor
        self.register_buffer("energy_low", torch.full((n_layers,), -1e4))
        self.register_buffer("energy_high", torch.full((n_layers,), 1e4))

    # ---- the family interface ---------------------------------------------------------------------------
    @classmethod
    def fit_preprocessing(cls, data: ShowerSet, config: FlowMatchConfig) -> Preprocessing:
        # the network data are the fractions v / E_inc; the flow's own transforms live in the model
        return Preprocessing.fit(
            data, energy_scaling=config.energy_scaling, voxel_norm="incident", voxel_transform="linear"
        )

    @classmethod
    def trainer_class(cls) -> type[FamilyTrainer]:
        return FlowMatchTrainer

    @property
    def latent_dim(self) -> int:
        return self.n_layers + self.geometry.n_voxels

    def with_sampling(
        self,
        *,
        steps: int | None = None,
        solver: Solver | None = None,
        energy_steps: int | None = None,
        time_shift: float | None = None,
    ) -> FlowMatch:
        """A copy of the model that samples with other solver settings (same weights).

        Raises:
            ConfigError: invalid settings.
        """
        changes: dict[str, Any] = {}
        if steps is not None:
            changes["steps"] = steps
            changes["energy_steps"] = self.config.energy_steps if energy_steps is None else energy_steps
        elif energy_steps is not None:
            changes["energy_steps"] = energy_steps
        if solver is not None:
            changes["solver"] = solver
        if time_shift is not None:
            changes["time_shift"] = time_shift
        config = from_dict(FlowMatchConfig, to_dict(replace(self.config, **changes)), path="model")
        other = copy.deepcopy(self)
        other.config = config
        return other

    # ---- preprocessing of training data ---------------------------------------------------------------
    def dequantise(
        self, x: torch.Tensor, energy: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fractions ``v / E_inc (N, V)`` → (voxel energies plus uniform noise in ``[0, δ)`` ``(N, V)`` MeV, layer
        energies of the clean voxels plus noise in ``[δ/2, δ)`` ``(N, L)`` MeV); δ = ``noise_level``.

        The voxel noise makes empty voxels a continuous distribution just below δ; the layer noise keeps every
        layer energy positive (its logarithm is a feature) while staying below the threshold.
        """
        voxels = x * energy.unsqueeze(1)
        u = torch.rand(voxels.shape, generator=generator, device=generator.device).to(voxels)
        u_layer = torch.rand(voxels.shape[0], self.n_layers, generator=generator, device=generator.device).to(voxels)
        layer = voxels @ self.membership + 0.5 * self.noise_level * (1.0 + u_layer)
        return voxels + self.noise_level * u, layer

    def _raw_features(
        self, voxels: torch.Tensor, layer: torch.Tensor, energy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unstandardised features of dequantised voxel and layer energies (MeV): u-features ``(N, L)``, log layer
        energies ``(N, L)``, ``log(1 + v/δ)`` per voxel ``(N, V)``."""
        alpha, response = self.config.alpha, self.preprocessing.response
        # u_i = E_i / R_i with R_i = Σ_{j≥i} E_j, and its complement R_{i+1} / R_i from the sums themselves: a
        # layer far smaller than those before it keeps its precision in float32 (1 − u would lose it)
        remaining = torch.flip(torch.cumsum(torch.flip(layer, [1]), dim=1), [1])
        u = layer[:, :-1] / remaining[:, :-1]
        w = remaining[:, 1:] / remaining[:, :-1]
        y0 = torch.log(remaining[:, :1] / (response * energy).unsqueeze(1))
        y = torch.cat([y0, torch.log(alpha + (1 - 2 * alpha) * u) - torch.log(alpha + (1 - 2 * alpha) * w)], dim=1)
        ell = torch.log(layer / (response * energy).unsqueeze(1))
        return y, ell, torch.log1p(voxels / self.noise_level)

    def features(
        self, voxels: torch.Tensor, layer: torch.Tensor, energy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Standardised ``(y (N, L), ℓ (N, L), s (N, V))`` of dequantised energies (:meth:`dequantise`): what the
        flows learn."""
        y, ell, s = self._raw_features(voxels, layer, energy)
        return (
            (y - self.energy_shift) / self.energy_scale,
            (ell - self.layer_shift) / self.layer_scale,
            (s - self._shape_offset(layer)) / self.shape_scale,
        )

    def _floored(self, layer: torch.Tensor) -> torch.Tensor:
        """Layer energies ``(N, L)`` MeV, at least δ/2: a layer below the noise gets the smallest value the
        training noise made."""
        return torch.maximum(layer, torch.full_like(layer, 0.5 * self.noise_level))

    def _log_layer(self, layer: torch.Tensor) -> torch.Tensor:
        """λ of every voxel ``(N, V)``: ``log(E_layer / δ)`` of its layer (:meth:`_floored`)."""
        lam = torch.log(self._floored(layer)) - math.log(self.noise_level)
        return lam.index_select(1, self.voxel_layer)

    def _shape_offset(self, layer: torch.Tensor) -> torch.Tensor:
        """What is subtracted from the voxel features before dividing by ``shape_scale``: the mean ``(V,)``, or
        ``a_v + b_v λ`` ``(N, V)`` under ``layer_energy`` standardisation (layer energies ``(N, L)`` MeV)."""
        if self.shape_slope is None:
            return self.shape_shift
        return self.shape_shift + self.shape_slope * self._log_layer(layer)

    def fit_data(self, data: ShowerSet) -> None:
        """Fit the features' standardisation (mean, standard deviation, range) on up to 50,000 training showers.

        The dequantisation noise comes from a fixed seed: the same data give the same statistics.
        """
        n = min(len(data), FIT_MAX_SHOWERS)
        generator = torch.Generator().manual_seed(0)
        sums: list[torch.Tensor] = []
        squares: list[torch.Tensor] = []
        # layer_energy standardisation: sums of λ, λ² and s·λ per voxel for the least-squares line s = a + b λ
        n_voxels = self.geometry.n_voxels
        lam_sum, lam_square, cross = (torch.zeros(n_voxels, dtype=torch.float64) for _ in range(3))
        low = torch.full((self.n_layers,), math.inf, dtype=torch.float64)
        high = -low
        step = max(1, FIT_CHUNK_VALUES // max(self.geometry.n_voxels, 1))
        with torch.no_grad():
            for start in range(0, n, step):
                stop = min(start + step, n)
                energy = torch.from_numpy(data.energy[start:stop].astype(np.float32))
                x = torch.from_numpy(np.asarray(data.showers[start:stop], dtype=np.float32))
                voxels, layer = self.dequantise(x / energy.unsqueeze(1), energy, generator)
                parts = [f.double() for f in self._raw_features(voxels, layer, energy)]
                if self.shape_slope is not None:
                    lam = self._log_layer(layer).double()
                    lam_sum += lam.sum(dim=0)
                    lam_square += (lam * lam).sum(dim=0)
                    cross += (parts[2] * lam).sum(dim=0)
                batch_sums = [p.sum(dim=0) for p in parts]
                batch_squares = [(p * p).sum(dim=0) for p in parts]
                sums = batch_sums if not sums else [a + b for a, b in zip(sums, batch_sums, strict=True)]
                squares = batch_squares if not squares else [a + b for a, b in zip(squares, batch_squares, strict=True)]
                low = torch.minimum(low, parts[0].min(dim=0).values)
                high = torch.maximum(high, parts[0].max(dim=0).values)
            for name, total, square in zip(("energy", "layer", "shape"), sums, squares, strict=True):
                mean = total / n
                variance = (square / n - mean * mean).clamp_min(0)
                if name == "shape" and self.shape_slope is not None:
                    # least squares s = a + b λ per voxel; the residual variance is var(s) − b² var(λ)
                    lam_mean = lam_sum / n
                    lam_variance = (lam_square / n - lam_mean * lam_mean).clamp_min(0)
                    covariance = cross / n - mean * lam_mean
                    usable = lam_variance > 1e-12  # a layer whose energy never varies: no slope
                    slope = torch.where(usable, covariance / lam_variance.clamp_min(1e-12), 0.0)
                    variance = (variance - slope * covariance).clamp_min(0)
                    mean = mean - slope * lam_mean
                    self.shape_slope.copy_(slope)
                getattr(self, f"{name}_shift").copy_(mean)
                getattr(self, f"{name}_scale").copy_(variance.sqrt().clamp_min(1e-2))
            self.energy_low.copy_(low)
            self.energy_high.copy_(high)
            fitted = [
                *(getattr(self, f"{k}_{w}") for k in ("energy", "layer", "shape") for w in ("shift", "scale")),
                low,
                high,
                *([] if self.shape_slope is None else [self.shape_slope]),
            ]
            if not all(bool(torch.isfinite(b).all()) for b in fitted):
                raise ModelError("flowmatch: the training showers give non-finite feature statistics")

    # ---- sampling ---------------------------------------------------------------------------------------------
    def _layer_energies(self, y: torch.Tensor, energy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage-1 output ``(N, L)`` → (layer energies ``(N, L)`` MeV, the features clamped to the training range)."""
        alpha = self.config.alpha
        margin = 0.1 * (self.energy_high - self.energy_low)
        raw = y * self.energy_scale + self.energy_shift
        raw = torch.minimum(torch.maximum(raw, self.energy_low - margin), self.energy_high + margin)
        remaining = torch.exp(raw[:, 0]) * self.preprocessing.response * energy
        u = ((torch.sigmoid(raw[:, 1:]) - alpha) / (1 - 2 * alpha)).clamp(0.0, 1.0)
        w = ((torch.sigmoid(-raw[:, 1:]) - alpha) / (1 - 2 * alpha)).clamp(0.0, 1.0)  # 1 − u, to full precision
        layers = []
        for i in range(self.n_layers - 1):
            layers.append(remaining * u[:, i])
            remaining = remaining * w[:, i]
        layers.append(remaining)
        return torch.stack(layers, dim=1), (raw - self.energy_shift) / self.energy_scale

    def _layer_feature(self, layer: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        scale = (self.preprocessing.response * energy).unsqueeze(1)
        ratio = self._floored(layer) / scale
        return (torch.log(ratio) - self.layer_shift) / self.layer_scale

    def _deposits(self, s: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """Stage-2 output ``(N, V)`` and stage-1 layer energies ``(N, L)`` MeV → the dequantised voxel energies
        ``v + noise`` in MeV, before any cut."""
        raw = (s * self.shape_scale + self._shape_offset(layer)).clamp(0.0, self._shape_max)
        return torch.expm1(raw) * self.noise_level

    def _voxel_cut(self, like: torch.Tensor) -> torch.Tensor:
        """The cut of every voxel ``(V,)`` MeV: ``voxel_cut`` of its layer, or δ."""
        cut = self.config.voxel_cut
        if cut is None:
            return torch.full((self.geometry.n_voxels,), self.noise_level, dtype=like.dtype, device=like.device)
        per_layer = torch.tensor([max(c, self.noise_level) for c in cut], dtype=like.dtype, device=like.device)
        return per_layer.index_select(0, self.voxel_layer)

    def _fractions(self, s: torch.Tensor, layer: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Stage-2 output ``(N, V)`` and layer energies ``(N, L)`` MeV → voxel energy fractions ``v / E_inc (N, V)``.

        Voxels below the cut (``voxel_cut``, at least δ) are empty; the others lose half the noise's mean and are
        scaled so that every layer holds its stage-1 energy.
        """
        q = self._deposits(s, layer)
        kept = (q - 0.5 * self.noise_level) * (q >= self._voxel_cut(q)).to(q.dtype)
        voxels = kept * give_back(layer, kept @ self.membership).index_select(1, self.voxel_layer)
        return voxels / energy.unsqueeze(1)

    def calibrate(self, data: ShowerSet, seed: int) -> None:
        """Set ``voxel_cut`` so that generated showers have, per layer, as many non-empty voxels as ``data``.

        Generates showers for the first showers of ``data`` (:func:`~caloforge.models.calibration.calibration_inputs`)
        with the model's own sampling settings and noise from ``seed``, and puts each layer's cut at the value above
        which the generated voxels are as many as the non-empty voxels (above the geometry's threshold) of those
        showers (:func:`~caloforge.models.calibration.matching_cuts`); never below δ. Use the training sample, not
        the one the model is judged on.
        """
        showers, energy, cond, z = calibration_inputs(self, data, seed)
        chunk = self.inference_chunk  # the chunks of forward(): the same noise gives the same deposits
        with torch.no_grad():
            parts = [
                self._deposits(*self.sample_features(zc, ec, cc)[2:])
                for zc, ec, cc in zip(z.split(chunk), energy.split(chunk), cond.split(chunk), strict=True)
            ]
        cuts = matching_cuts(
            torch.cat(parts).cpu(), showers, self.geometry.layer_sizes, float(self.geometry.threshold), self.noise_level
        )
        self.config = replace(self.config, voxel_cut=tuple(cuts.tolist()))

    def sample_features(
        self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both ODEs: noise ``(N, L + V)`` → standardised ``(y, ℓ, s)`` and the layer energies ``(N, L)`` MeV."""
        cfg = self.config
        n_energy = cfg.energy_steps or cfg.steps
        y = _solve(self.energy_net, z[:, : self.n_layers], (cond,), n_energy, cfg.solver, cfg.time_shift)
        layer, y = self._layer_energies(y, energy)
        ell = self._layer_feature(layer, energy)
        s = _solve(self.shape_net, z[:, self.n_layers :], (cond, y, ell), cfg.steps, cfg.solver, cfg.time_shift)
        return y, ell, s, layer

    def decode(self, z: torch.Tensor, energy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        _, _, s, layer = self.sample_features(z, energy, cond)
        # in the buffers' precision (float32) also under FastSim's bf16/fp16 autocast: the layer sums
        # (kept @ membership) set every voxel's scale, and in bf16 they widened the 0.13 %-wide E_tot/E_inc peak
        # of calogan-eplus by 60 % (docs/deployment.md)
        dtype = self.membership.dtype
        with torch.autocast(z.device.type, enabled=False):
            return self._fractions(s.to(dtype), layer.to(dtype), energy)


# --------------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowMatchTrainerConfig:
    """Flow-matching training options.

    Attributes:
        lr: Adam learning rate of both stages.
        beta1, beta2: Adam betas.
        time_sampling: distribution of the training times t: ``uniform`` (rectified flow) or ``logit_normal``
            (σ(N(0, 1)), which weights the middle of the path; Esser et al., arXiv:2403.03206).
        objective: ``flow_matching`` (noise ↔ data) or ``reflow`` (noise ↔ the teacher's sample from that
            noise; arXiv:2209.03003): distillation to few steps. The student starts from the teacher's weights.
        teacher: the teacher for ``reflow``: a model folder, run folder or pretrained name.
        teacher_steps: the teacher's solver steps when it makes the pairs.
        teacher_solver: the teacher's solver.
        reflow_updates: optimizer updates per teacher batch under ``reflow`` (each with new times t): the
            teacher's ODE costs many network evaluations, so its pairs are used more than once.
    """

    lr: float = 5e-4
    beta1: float = 0.9
    beta2: float = 0.999
    time_sampling: Literal["uniform", "logit_normal"] = "uniform"
    objective: Literal["flow_matching", "reflow"] = "flow_matching"
    teacher: str | None = None
    teacher_steps: int = 16
    teacher_solver: Solver = "midpoint"
    reflow_updates: int = 1

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.lr > 0, "lr", f"must be > 0, got {self.lr}"),
            (not 0 <= self.beta1 < 1, "beta1", "must be in [0, 1)"),
            (not 0 <= self.beta2 < 1, "beta2", "must be in [0, 1)"),
            (self.objective == "reflow" and not self.teacher, "teacher", "is required for objective reflow"),
            (self.teacher_steps < 1, "teacher_steps", "must be >= 1"),
            (self.reflow_updates < 1, "reflow_updates", "must be >= 1"),
        )


class FlowMatchTrainer(FamilyTrainer):
    """One Adam step on the sum of both stages' flow-matching losses per batch (see the module docstring)."""

    Config = FlowMatchTrainerConfig

    def __init__(self, model: GenerativeModel, config: FlowMatchTrainerConfig, **kwargs: Any) -> None:
        super().__init__(model, config, **kwargs)
        if not isinstance(model, FlowMatch):
            raise ModelError(f"FlowMatchTrainer trains flowmatch models, not {model.family}")
        self.flow = model
        self.teacher: FlowMatch | None = None
        if config.objective == "reflow":
            self.teacher = self._load_teacher(model, config)
        self.add_optimizer("model", model.parameters(), config.lr, (config.beta1, config.beta2))

    def _load_teacher(self, model: FlowMatch, config: FlowMatchTrainerConfig) -> FlowMatch:
        from caloforge.models.registry import resolve_model_path
        from caloforge.models.serialize import load_model

        try:
            path = resolve_model_path(str(config.teacher))
            teacher = load_model(path, device=self.device)
        except ModelError as exc:
            raise ConfigError(f"trainer.teacher: {exc}") from None
        if not isinstance(teacher, FlowMatch):
            raise ConfigError(
                f"trainer.teacher: {str(path)!r} is a {teacher.family} model, reflow needs a flowmatch one"
            )
        if teacher.geometry != model.geometry:
            raise ConfigError(
                f"trainer.teacher: {str(path)!r} models geometry {teacher.geometry.name!r}, not {model.geometry.name!r}"
            )
        if teacher.preprocessing != model.preprocessing:
            raise ConfigError(
                f"trainer.teacher: {str(path)!r} was trained on another sample (its energy range, particles or angles "
                "differ); distil on the teacher's training file with its seed"
            )
        ours, theirs = to_dict(model.config), to_dict(teacher.config)
        differ = sorted(k for k in ours if k not in SAMPLING_KEYS and ours[k] != theirs[k])
        if differ:
            raise ConfigError(
                f"trainer.teacher: model_config must match the teacher's except {', '.join(SAMPLING_KEYS)}; "
                f"it differs in {', '.join(differ)}"
            )
        model.load_state_dict(teacher.state_dict())
        teacher = teacher.with_sampling(
            steps=config.teacher_steps, energy_steps=config.teacher_steps, solver=config.teacher_solver
        )
        teacher.requires_grad_(False)
        return teacher.eval()

    def _times(self, n: int) -> torch.Tensor:
        g = self.generator
        if self.config.time_sampling == "logit_normal":
            t = torch.sigmoid(torch.randn(n, 1, generator=g, device=g.device))
        else:
            t = torch.rand(n, 1, generator=g, device=g.device)
        return t.to(self.device)

    def _normal(self, n: int, width: int) -> torch.Tensor:
        g = self.generator
        return torch.randn(n, width, generator=g, device=g.device).to(self.device)

    def training_step(self, batches: list[Batch]) -> dict[str, float]:
        batch = batches[0]
        flow, n, n_layers = self.flow, len(batch), self.flow.n_layers
        if self.teacher is None:
            with torch.no_grad():
                y1, ell, s1 = flow.features(*flow.dequantise(batch.x, batch.energy, self.generator), batch.energy)
            y0, s0 = self._normal(n, n_layers), self._normal(n, flow.geometry.n_voxels)
            updates = 1
        else:
            z = self.noise(n)
            with torch.no_grad():
                y1, ell, s1, _ = self.teacher.sample_features(z, batch.energy, batch.cond)
            y0, s0 = z[:, :n_layers], z[:, n_layers:]
            updates = self.config.reflow_updates
        totals = torch.zeros(3)
        for _ in range(updates):
            t_e, t_s = self._times(n), self._times(n)
            y_t = (1 - t_e) * y0 + t_e * y1
            s_t = (1 - t_s) * s0 + t_s * s1
            loss_energy = F.mse_loss(flow.energy_net(y_t, t_e, batch.cond), y1 - y0)
            loss_shape = F.mse_loss(flow.shape_net(s_t, t_s, batch.cond, y1, ell), s1 - s0)
            loss = loss_energy + loss_shape
            self.update("model", loss)
            totals += torch.stack([loss, loss_energy, loss_shape]).detach().cpu()
        loss_mean, energy_mean, shape_mean = (float(v) / updates for v in totals)
        return {"loss": loss_mean, "loss_energy": energy_mean, "loss_shape": shape_mean}
