"""Sampling-time calibration shared by the families: per-layer voxel cuts that match the data's sparsity.

A generator whose voxel energies are smooth (an ODE's end point, a softmax) puts a little energy in voxels the
reference leaves empty, and the classifier of the CaloChallenge metrics (arXiv:2410.21611) sees it at once.
:func:`matching_cuts` returns, per readout layer, the energy above which the generated voxels are exactly as many
as the data's non-empty voxels; a family applies the cut when it samples and keeps the layer energies
(:func:`give_back`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from caloforge.exceptions import ModelError
from caloforge.models.seeding import torch_generator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel

__all__ = ["CALIBRATION_SHOWERS", "CALIBRATION_VALUES", "calibration_inputs", "give_back", "matching_cuts"]

#: showers a calibration generates (at most this many voxel values in all)
CALIBRATION_SHOWERS = 2_000
CALIBRATION_VALUES = 20_000_000


def calibration_inputs(
    model: GenerativeModel, data: ShowerSet, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a calibration generates from: the first showers of ``data`` and noise from ``seed``.

    Returns:
        ``(showers (n, V) MeV on the CPU, energy (n,), cond (n, C), z (n, latent_dim))``, the last three on the
        model's device and in its dtype; ``n`` is at most :data:`CALIBRATION_SHOWERS` (and
        :data:`CALIBRATION_VALUES` values).
    """
    n = min(len(data), CALIBRATION_SHOWERS, max(1, CALIBRATION_VALUES // model.geometry.n_voxels))
    if n == 0:
        raise ModelError(f"{model.family}: calibrate needs at least one shower")
    showers = torch.from_numpy(np.asarray(data.showers[:n], dtype=np.float32))
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    energy = torch.from_numpy(np.asarray(data.energy[:n], dtype=np.float32)).to(device=device, dtype=dtype)
    particle = None if data.particle is None else torch.from_numpy(np.asarray(data.particle[:n], dtype=np.int64))
    theta = None
    if model.preprocessing.theta_range is not None and data.theta is not None:
        theta = torch.from_numpy(np.asarray(data.theta[:n], dtype=np.float32)).to(device=device, dtype=dtype)
    generator = torch_generator(seed)
    z = torch.randn(n, model.latent_dim, generator=generator, device=generator.device).to(device=device, dtype=dtype)
    with torch.no_grad():
        cond = model.preprocessing.condition(energy, None if particle is None else particle.to(device), theta)
    return showers, energy, cond, z


def matching_cuts(
    generated: torch.Tensor, showers: torch.Tensor, layer_sizes: Sequence[int], threshold: float, floor: float
) -> torch.Tensor:
    """Per layer ``(L,)``, the cut (MeV) that leaves as many generated voxels as ``showers`` has non-empty ones.

    Args:
        generated: generated voxel energies ``(n, V)`` MeV before any cut, for the conditions of ``showers``.
        showers: the data ``(n', V)``; a voxel counts as non-empty above ``threshold``.
        layer_sizes: voxels per readout layer, in the order of the voxel axis.
        threshold: the data's readout threshold.
        floor: the smallest cut to return (a family's own lower bound, e.g. its dequantisation level).

    The generated value ranked ``wanted``-th from the top is kept: the cut sits just at it. A layer the data
    leave empty gets a cut above every generated value; a layer the data fill completely gets ``floor``.
    Training uses it on every batch (the WGAN's ``cut_in_training``), so it stays in torch, on the data's device.
    """
    sizes = list(layer_sizes)
    cuts = []
    for fake, real in zip(generated.split(sizes, dim=1), showers.split(sizes, dim=1), strict=True):
        values = fake.reshape(-1)
        wanted = int((real > threshold).sum())
        if wanted <= 0:
            cut = 2.0 * values.max() + max(floor, 1e-30)
        elif wanted >= values.numel():
            cut = values.new_tensor(floor)
        else:
            cut = torch.kthvalue(values, values.numel() - wanted + 1).values
        cuts.append(cut.clamp_min(floor))
    return torch.stack(cuts)


def give_back(layer: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """The factors ``(N, L)`` that scale the voxels a cut kept back up to the layer energies.

    Args:
        layer: the layer energies the showers must hold, ``(N, L)``.
        kept: the sums of the kept voxels per layer, ``(N, L)``; each kept voxel is > 0, so a sum is 0 exactly
            when the cut emptied that layer.

    Returns:
        ``layer / kept``, and 0 for an emptied layer (its energy is lost: there is nothing left to hold it).
        Written without a division by a clamped sum: ``layer / max(kept, 1e-30)`` overflows to inf in float16
        (where 1e-30 is 0), and the emptied layer's ``0 × inf`` is NaN. Every other factor is the exact quotient.
    """
    emptied = (kept <= 0).to(kept.dtype)
    return layer * (1 - emptied) / (kept + emptied)
