"""Network building blocks shared by the model families.

Image-like layers here work on **batch-last** tensors ``(H, W, C, N)``: rows, columns, channels, batch. With
the batch innermost every product below is a matrix product whose long dimension is the batch, which is what
CPU GEMM kernels are fast at; and with positions flattened row-major, the input that kernel element
``(dy, dx)`` sees for every output position of a stride-1 layer is one contiguous slice of the flattened
image (computing a full-width output grid and dropping the extra columns). So a locally connected layer
(a convolution with different weights at every position, Keras ``LocallyConnected2D``) is ``kh·kw`` batched
products on views of its input, with no ``unfold``/im2col copy of the batch per kernel element
(benchmarks/bench_models.py times the models).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from caloforge.geometry import CartesianGrid

__all__ = [
    "Conv2dBL",
    "FourierFeatures",
    "LocallyConnected2d",
    "MinibatchDiscrimination",
    "ModulatedTransformerBlock",
    "PositionBatchNorm",
    "mlp",
    "overlap_matrix",
    "pad_image",
]


def pad_image(x: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """Zero-pad a batch-last image ``(H, W, C, N)`` by ``rows`` (top, bottom) and ``cols`` (left, right)."""
    return F.pad(x, (0, 0, 0, 0, cols[0], cols[1], rows[0], rows[1]))


def _full_width(weight: torch.Tensor, ho: int, wo: int, w: int, length: int) -> torch.Tensor:
    """Per-position weights ``(ho·wo, *rest)`` spread onto a full-width grid of ``w`` columns, first ``length`` rows."""
    full = weight.new_zeros(ho, w, *weight.shape[1:])
    full[:, :wo] = weight.view(ho, wo, *weight.shape[1:])
    return full.view(ho * w, *weight.shape[1:])[:length]


class Conv2dBL(nn.Module):
    """A stride-1 'valid' convolution with shared weights on batch-last images ``(H, W, C, N)``.

    Weights and initialisation are ``nn.Conv2d``'s (``weight (out, in, kh, kw)``, ``bias (out,)``). Computed
    as ``kh·kw`` matrix products ``(out, in) @ (in, positions·N)`` on views of the channel-major input.
    Output ``(H − kh + 1, W − kw + 1, out, N)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 2)) -> None:
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, kernel)
        self.kernel = kernel
        self.weight = conv.weight
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw) = self.kernel
        h, w, c, n = x.shape
        ho, wo = h - kh + 1, w - kw + 1
        length = ho * w - (kw - 1)
        xc = x.permute(2, 0, 1, 3).contiguous().view(c, h * w, n)  # channel-major
        out: torch.Tensor | None = None
        for k in range(kh * kw):
            dy, dx = divmod(k, kw)
            start = dy * w + dx
            term = xc[:, start : start + length].reshape(c, length * n)  # a view: no copy
            wk = self.weight[:, :, dy, dx]
            out = torch.mm(wk, term) if out is None else out.addmm_(wk, term)
        assert out is not None
        assert self.bias is not None
        # (out, length·N) channel-major on the full-width grid → (ho, wo, out, N) plus bias, in one pass
        o = out.shape[0]
        if torch.compiler.is_exporting():
            # ONNX has no strided views: as_strided becomes a Gather of every element (slow in onnxruntime);
            # pad to the full grid and slice instead (the same values)
            cropped = F.pad(out.view(o, length, n), (0, 0, 0, kw - 1)).view(o, ho, w, n)[:, :, :wo].permute(1, 2, 0, 3)
        else:
            cropped = out.as_strided((ho, wo, o, n), (w * n, n, length * n, 1), out.storage_offset())
        return cropped + self.bias.view(1, 1, o, 1)


class LocallyConnected2d(nn.Module):
    """A 2-D convolution with unshared weights ('valid' padding) on batch-last images.

    Args:
        in_shape: input rows and columns ``(H, W)``.
        in_channels, out_channels: channel counts.
        kernel: kernel rows and columns.
        stride: strides along rows and columns.
        bias: add a bias per output position and channel.

    Shapes: input ``(H, W, in_channels, N)`` → output ``(H_out, W_out, out_channels, N)`` with
    ``H_out = (H − k_h) // s_h + 1``. Parameters: ``weight (H_out·W_out, out, k_h·k_w·in)`` (kernel element
    major, then input channel), ``bias (H_out·W_out, out, 1)``.
    """

    def __init__(
        self,
        in_shape: tuple[int, int],
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int] = (2, 2),
        stride: tuple[int, int] = (1, 1),
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        h, w = in_shape
        self.in_shape = in_shape
        self.kernel = kernel
        self.stride = stride
        self.out_shape = ((h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1)
        if min(self.out_shape) < 1:
            raise ValueError(f"kernel {kernel} does not fit an input of {in_shape}")
        n_pos = self.out_shape[0] * self.out_shape[1]
        fan_in = kernel[0] * kernel[1] * in_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.weight = nn.Parameter(torch.empty(n_pos, out_channels, fan_in))
        self.bias = nn.Parameter(torch.zeros(n_pos, out_channels, 1)) if bias else None
        # Glorot-uniform per position, the Keras LocallyConnected2D default used by CaloGAN
        bound = math.sqrt(6.0 / (fan_in + out_channels))
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return self._forward_full_width(x)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        ho, wo = self.out_shape
        n = x.shape[3]
        patches = torch.cat(
            [
                x[dy : dy + sh * (ho - 1) + 1 : sh, dx : dx + sw * (wo - 1) + 1 : sw]
                for dy in range(kh)
                for dx in range(kw)
            ],
            dim=2,
        ).reshape(ho * wo, -1, n)
        if self.bias is not None:
            out = torch.baddbmm(self.bias, self.weight, patches)
        else:
            out = torch.bmm(self.weight, patches)
        return out.view(ho, wo, self.out_channels, n)

    def _forward_full_width(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (ho, wo) = self.kernel, self.out_shape
        h, w, c, n = x.shape
        length = ho * w - (kw - 1)
        xf = x.reshape(h * w, c, n)
        weight = _full_width(self.weight.view(ho * wo, self.out_channels, kh * kw, c), ho, wo, w, length)
        weight = weight.permute(2, 0, 1, 3)  # (k, length, out, in)
        out: torch.Tensor | None = None
        for k in range(kh * kw):
            dy, dx = divmod(k, kw)
            start = dy * w + dx
            term = xf[start : start + length]
            out = torch.bmm(weight[k], term) if out is None else out.baddbmm_(weight[k], term)
        assert out is not None
        o = self.out_channels
        if torch.compiler.is_exporting():  # as in Conv2dBL: no as_strided in exported graphs
            cropped = F.pad(out, (0, 0, 0, 0, 0, kw - 1)).view(ho, w, o, n)[:, :wo]
        else:
            cropped = out.as_strided((ho, wo, o, n), (w * o * n, o * n, n, 1), out.storage_offset())
        if self.bias is not None:
            return cropped + self.bias.view(ho, wo, o, 1)  # the bias add makes the contiguous copy
        return cropped.contiguous()


class PositionBatchNorm(nn.Module):
    """Batch normalisation per channel of a batch-last image ``(H, W, C, N)`` (statistics over H, W, N).

    Keras defaults (momentum 0.99, ε = 1e-3), as in CaloGAN's discriminator.
    """

    def __init__(self, channels: int, momentum: float = 0.01, eps: float = 1e-3) -> None:
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.running_mean: torch.Tensor
        self.running_var: torch.Tensor
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            var, mean = torch.var_mean(x, dim=(0, 1, 3), correction=0)
            with torch.no_grad():
                n = x.numel() // x.shape[2]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps) * self.weight
        return (x - mean.unsqueeze(1)) * scale.unsqueeze(1) + self.bias.unsqueeze(1)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al., arXiv:1606.03498) as in CaloGAN's ``Dense3D`` + ``minibatch_discriminator``.

    Features ``(N, F)`` are projected to ``n_kernels`` vectors of ``kernel_dim``; the output for shower i and
    kernel b is ``tanh(mean_j exp(−‖M_ib − M_jb‖₁))`` over the batch (j = i included). Shape ``(N, n_kernels)``.
    CaloGAN sums over j instead of averaging: at batch 256 the sum is ≫ 1, the tanh saturates to 1 in float32
    and the feature passes no gradient; the mean keeps it in (tanh(1/N), tanh(1)].
    """

    def __init__(self, in_features: int, n_kernels: int = 10, kernel_dim: int = 10) -> None:
        super().__init__()
        self.n_kernels = n_kernels
        self.kernel_dim = kernel_dim
        # no bias: it cancels in M_i − M_j (CaloGAN's Dense3D has one that never receives a gradient)
        self.project = nn.Linear(in_features, n_kernels * kernel_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.project(x).view(x.shape[0], self.n_kernels, self.kernel_dim).transpose(0, 1)  # (B, N, C)
        distance = torch.cdist(m, m, p=1.0)  # (B, N, N)
        return torch.tanh(torch.exp(-distance).mean(dim=2).transpose(0, 1))


def mlp(
    sizes: list[int] | tuple[int, ...],
    activation: type[nn.Module] | Callable[[], nn.Module],
    *,
    final_activation: bool = False,
    final_bias: bool = True,
) -> nn.Sequential:
    """A fully connected network with layer widths ``sizes`` (input first, output last).

    ``final_bias=False`` for Wasserstein critics, whose output offset cancels in the loss.
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=final_bias or not last))
        if i < len(sizes) - 2 or final_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def _overlap_1d(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    lo = np.maximum(target[:-1, None], source[None, :-1])
    hi = np.minimum(target[1:, None], source[None, 1:])
    return np.clip(hi - lo, 0.0, None)


def overlap_matrix(source: CartesianGrid, target: CartesianGrid) -> tuple[np.ndarray, np.ndarray]:
    """Row and column resampling matrices from one Cartesian grid onto another by physical overlap.

    ``A_x[j, i]`` is the length of target row j that source row i covers, divided by the target row's width
    (same for columns), so that ``A_x @ image @ A_yᵀ`` is the average of the source cells under each target
    cell. For CaloGAN's layers 0 → 1 (3 × 96 → 12 × 12) this is exactly its ``UpSampling2D((4, 1))`` followed
    by ``AveragePooling2D((1, 8))`` (arXiv:1712.10321), generalised to any pair of Cartesian grids.

    Returns:
        ``(A_x (nx_target, nx_source), A_y (ny_target, ny_source))`` as float32 arrays.
    """
    ax = _overlap_1d(target.x_edges(), source.x_edges()) / target.dx
    ay = _overlap_1d(target.y_edges(), source.y_edges()) / target.dy
    return ax.astype(np.float32), ay.astype(np.float32)


class FourierFeatures(nn.Module):
    """Sinusoidal features of a scalar in [0, 1] (the ODE time of flow matching), ``(N, 1)`` → ``(N, 2·n)``.

    Fixed frequencies ``π·2^k`` for ``k = 0 … n−1`` (the positional encoding of NeRF, arXiv:2003.08934; Fourier
    features, arXiv:2006.10739): low ones resolve the whole range, high ones finer structure. No parameters.
    """

    def __init__(self, n_frequencies: int) -> None:
        super().__init__()
        self.frequencies: torch.Tensor
        freq = math.pi * torch.pow(2.0, torch.arange(n_frequencies, dtype=torch.float32))
        self.register_buffer("frequencies", freq, persistent=False)

    @property
    def out_features(self) -> int:
        return 2 * int(self.frequencies.shape[0])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angle = t * self.frequencies.to(t.dtype)
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


class ModulatedTransformerBlock(nn.Module):
    """A pre-norm transformer block over tokens whose norms are modulated by a condition (DiT's adaLN).

    Peebles & Xie, *Scalable Diffusion Models with Transformers*, arXiv:2212.09748: the condition embedding
    ``c (N, d)`` gives a shift, a scale and a gate for the attention and for the MLP branch. DiT initialises
    the gates to zero ("adaLN-Zero"); here the modulation starts small but not zero, so that every weight
    gets a gradient from the first step (a zero gate blocks its branch's gradient).

    Attention is written out (matmul and softmax) rather than ``scaled_dot_product_attention``: the token
    count is small (readout layers), and the plain ops export to ONNX on every opset.

    Shapes: tokens ``(N, T, d)``, condition ``(N, d)`` → ``(N, T, d)``.
    """

    def __init__(self, d_model: int, n_heads: int, mlp_hidden: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_hidden), nn.SiLU(), nn.Linear(mlp_hidden, d_model))
        self.modulation = nn.Linear(d_model, 6 * d_model)
        nn.init.normal_(self.modulation.weight, std=0.02)
        nn.init.zeros_(self.modulation.bias)
        with torch.no_grad():  # gates start at 0.1: the residual path dominates, every branch learns
            self.modulation.bias[2 * d_model : 3 * d_model] = 0.1
            self.modulation.bias[5 * d_model :] = 0.1

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        h = self.n_heads
        qkv = self.qkv(x).view(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)  # (3, N, H, T, d/H)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // h)), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(n, t, d))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).unsqueeze(1).chunk(6, dim=2)
        x = x + gate1 * self.attention(self.norm1(x) * (1 + scale1) + shift1)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)
