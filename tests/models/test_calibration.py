"""The voxel cut's give-back: the factors that keep the layer energies after a cut."""

from __future__ import annotations

import pytest
import torch

from caloforge.models.calibration import give_back
from caloforge.models.seeding import torch_generator


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_give_back_is_the_quotient_and_zero_for_an_emptied_layer(dtype: torch.dtype) -> None:
    generator = torch_generator(3)
    layer = (torch.rand(64, 3, generator=generator) * 1_000.0 + 1.0).to(dtype)
    kept = (torch.rand(64, 3, generator=generator) * 1_000.0 + 0.5).to(dtype)
    kept[::4, 2] = 0.0  # the cut emptied layer 2 of every fourth shower
    factor = give_back(layer, kept)
    assert torch.isfinite(factor).all()
    assert (factor[::4, 2] == 0).all()
    filled = kept > 0
    # every other factor is the exact quotient, bit for bit
    assert torch.equal(factor[filled], (layer / kept)[filled])
    # the clamped division it replaces: inf (and so NaN on the emptied layer's zeros) in float16
    if dtype == torch.float16:
        assert not torch.isfinite(layer / kept.clamp_min(1e-30)).all()
