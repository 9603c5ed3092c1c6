"""Building blocks against straightforward reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from caloforge.geometry import get_preset
from caloforge.models.layers import (
    Conv2dBL,
    LocallyConnected2d,
    MinibatchDiscrimination,
    PositionBatchNorm,
    overlap_matrix,
)


@pytest.mark.parametrize(
    ("kernel", "stride"), [((2, 2), (1, 1)), ((3, 3), (1, 2)), ((1, 1), (1, 1)), ((2, 3), (2, 1)), ((3, 2), (1, 1))]
)
def test_locally_connected_matches_explicit_loops(kernel: tuple[int, int], stride: tuple[int, int]) -> None:
    torch.manual_seed(0)
    h, w, n, c, o = 5, 7, 3, 2, 4
    layer = LocallyConnected2d((h, w), c, o, kernel, stride)
    with torch.no_grad():
        layer.bias.normal_()  # type: ignore[union-attr]
    x = torch.randn(h, w, c, n)
    out = layer(x)
    ho, wo = layer.out_shape
    assert out.shape == (ho, wo, o, n)
    kh, kw = kernel
    expected = torch.empty(ho, wo, o, n)
    for i in range(ho):
        for j in range(wo):
            patch = x[i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]  # (kh, kw, c, n)
            p = i * wo + j
            expected[i, j] = layer.weight[p] @ patch.reshape(kh * kw * c, n) + layer.bias[p]  # type: ignore[index]
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()  # both code paths are differentiable
    assert layer.weight.grad is not None


def test_conv_batch_last_matches_torch() -> None:
    torch.manual_seed(0)
    conv = Conv2dBL(3, 5, (2, 3))
    x = torch.randn(2, 3, 6, 7)  # (N, C, H, W)
    expected = F.conv2d(x, conv.weight, conv.bias)  # (N, 5, 5, 5)
    out = conv(x.permute(2, 3, 1, 0))  # batch-last in, batch-last out
    torch.testing.assert_close(out, expected.permute(2, 3, 1, 0), rtol=1e-5, atol=1e-5)


def test_locally_connected_weights_are_not_shared() -> None:
    layer = LocallyConnected2d((3, 3), 1, 1, (2, 2), bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[3] = 1.0  # only the last output position sees its patch
    out = layer(torch.ones(3, 3, 1, 1))
    assert out[:, :, 0, 0].tolist() == [[0.0, 0.0], [0.0, 4.0]]


def test_overlap_resampling_is_calogans_upsample_and_average() -> None:
    g = get_preset("calogan")
    l0, l1, l2 = (layer.segmentation for layer in g.layers)
    img = torch.rand(3, 96, dtype=torch.float64)
    ax, ay = (torch.from_numpy(a).double() for a in overlap_matrix(l0, l1))  # type: ignore[arg-type]
    # CaloGAN: UpSampling2D((4, 1)) then AveragePooling2D((1, 8))
    keras = F.avg_pool2d(img.repeat_interleave(4, dim=0)[None, None], (1, 8))[0, 0]
    torch.testing.assert_close(ax @ img @ ay.T, keras)
    bx, by = (torch.from_numpy(a).double() for a in overlap_matrix(l1, l2))  # type: ignore[arg-type]
    img1 = torch.rand(12, 12, dtype=torch.float64)
    torch.testing.assert_close(
        bx @ img1 @ by.T, F.avg_pool2d(img1[None, None], (1, 2))[0, 0]
    )  # AveragePooling2D((1, 2))
    assert np.allclose(overlap_matrix(l2, l2)[0], np.eye(12))


def test_minibatch_discrimination_sees_the_batch() -> None:
    torch.manual_seed(0)
    mbd = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2)
    x = torch.randn(6, 4)
    out = mbd(x)
    assert out.shape == (6, 3)
    assert torch.allclose(mbd(x.repeat(2, 1))[:6], out)  # duplicating the batch leaves the mean unchanged
    same = mbd(x[:1].repeat(6, 1))
    torch.testing.assert_close(same, torch.full((6, 3), float(np.tanh(1.0))))  # identical showers: tanh(1)


def test_position_batch_norm_matches_torch() -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, 5)  # (H, W, C, N)
    flat = x.permute(0, 1, 3, 2).reshape(-1, 6)
    ours = PositionBatchNorm(6)
    ref = torch.nn.BatchNorm1d(6, eps=1e-3, momentum=0.01)
    torch.testing.assert_close(ours(x).permute(0, 1, 3, 2).reshape(-1, 6), ref(flat), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x).permute(0, 1, 3, 2).reshape(-1, 6), ref(flat), rtol=1e-5, atol=1e-5)
