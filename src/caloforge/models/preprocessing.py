"""The preprocessing a model carries with it: condition encoding and voxel-energy transforms.

A :class:`Preprocessing` maps physical quantities (MeV, rad, PDG ids) to the numbers a network sees and back.
It is fitted once on the training sample, stored in the model's JSON config, and applied identically at
training and at generation time, so a saved model needs nothing else to produce showers in MeV.

Voxel energies ``v`` (MeV) become network data ``x`` in two steps:

1. normalisation: ``v' = v / (voxel_scale · E_inc)`` (``"incident"``: energy fractions, FastCaloGAN style) or
   ``v' = v / voxel_scale`` (``"fixed"``, ``voxel_scale`` in MeV: CaloGAN works in GeV, i.e. 1000 MeV);
2. transform: ``x = v'`` (``"linear"``), ``x = log(1 + v'/ε)`` (``"log"``) or ``x = v'^p`` (``"power"``).

Every transform maps 0 to 0 and is monotonic, so a ReLU output layer keeps empty voxels exactly empty.

Layer energies may also be described by the u-parameterisation of CaloFlow (Krause & Shih, arXiv:2106.05285):
``u_0 = E_tot / (r E_inc)`` and ``u_i = E_i / Σ_{j≥i} E_j`` for ``i = 0 … L−2`` — every number of order one
(:func:`layer_energies_to_u`, :func:`u_to_layer_energies`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from caloforge.exceptions import ModelError
from caloforge.models.config import from_dict, iter_checks, to_dict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from caloforge.io import ShowerSet

__all__ = ["Preprocessing", "layer_energies_to_u", "u_to_layer_energies"]

#: relative margin outside the training energy range that sampling still accepts
ENERGY_MARGIN = 0.05


@dataclass(frozen=True)
class Preprocessing:
    """Condition encoding and voxel transform of one model (see the module docstring).

    Attributes:
        energy_min, energy_max: incident-energy range of the training sample, MeV.
        energy_scaling: how the incident energy enters the network: ``"log"`` maps
            ``log(E/E_min) / log(E_max/E_min)`` to [0, 1] (FastCaloGAN), ``"linear"`` gives ``E / E_max``
            (CaloGAN feeds E / 100 GeV).
        voxel_norm: ``"incident"`` (fractions of E_inc) or ``"fixed"`` (divide by ``voxel_scale`` MeV).
        voxel_scale: the divisor of the normalisation (dimensionless for ``"incident"``, MeV for ``"fixed"``).
        voxel_transform: ``"linear"``, ``"log"`` or ``"power"``.
        log_eps: ε of the log transform (in normalised units).
        power: exponent p of the power transform.
        response: mean E_tot / E_inc of the training sample (sampling fraction × containment).
        particles: PDG ids the model was trained on (empty: unspecified); more than one adds a one-hot.
        theta_range: range of incidence angles (rad) if the model is conditioned on θ, else ``None``.
    """

    energy_min: float
    energy_max: float
    energy_scaling: Literal["log", "linear"] = "log"
    voxel_norm: Literal["incident", "fixed"] = "incident"
    voxel_scale: float = 1.0
    voxel_transform: Literal["linear", "log", "power"] = "linear"
    log_eps: float = 1e-6
    power: float = 0.5
    response: float = 1.0
    particles: tuple[int, ...] = ()
    theta_range: tuple[float, float] | None = None

    def checks(self) -> Iterator[tuple[str, str]]:
        yield from iter_checks(
            (not self.energy_min > 0, "energy_min", f"must be > 0 MeV, got {self.energy_min}"),
            (self.energy_max < self.energy_min, "energy_max", "must be >= energy_min"),
            (not self.voxel_scale > 0, "voxel_scale", f"must be > 0, got {self.voxel_scale}"),
            (not self.log_eps > 0, "log_eps", f"must be > 0, got {self.log_eps}"),
            (not 0 < self.power <= 1, "power", f"must be in (0, 1], got {self.power}"),
            (not self.response > 0, "response", f"must be > 0, got {self.response}"),
        )

    # ---- construction ----------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: ShowerSet, **options: Any) -> Preprocessing:
        """Measure the energy range, response, particles and angle range of a training sample.

        ``options`` set the remaining fields (``energy_scaling``, ``voxel_norm``, ...).
        """
        energy = data.energy
        ratio = data.total_energy() / energy
        particles: tuple[int, ...] = ()
        if data.particle is not None:
            particles = tuple(int(p) for p in np.unique(data.particle))
        theta_range = None
        if data.theta is not None and float(np.ptp(data.theta)) > 1e-9:
            theta_range = (float(data.theta.min()), float(data.theta.max()))
        fields: dict[str, Any] = {
            "energy_min": float(energy.min()),
            "energy_max": float(energy.max()),
            "response": float(ratio.mean()) if float(ratio.mean()) > 0 else 1.0,
            "particles": list(particles),
            "theta_range": None if theta_range is None else list(theta_range),
        }
        fields.update(options)
        return cls.from_dict(fields)

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> Preprocessing:
        return from_dict(cls, data, source=source, path="preprocessing")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_dict(self)
        return out

    def replace(self, **changes: Any) -> Preprocessing:
        return replace(self, **changes)

    # ---- conditions --------------------------------------------------------------------------------
    @property
    def n_conditions(self) -> int:
        """Width of the condition vector: energy, particle one-hot (if > 1 particle), θ (if conditioned)."""
        return 1 + (len(self.particles) if len(self.particles) > 1 else 0) + (self.theta_range is not None)

    def energy_feature(self, energy: torch.Tensor) -> torch.Tensor:
        """The incident energy (MeV) ``(N,)`` as the network sees it, ``(N,)`` of order one."""
        if self.energy_scaling == "linear":
            return energy / self.energy_max
        span = max(math.log(self.energy_max / self.energy_min), 1e-6)
        return (torch.log(energy) - math.log(self.energy_min)) / span

    def condition(
        self,
        energy: torch.Tensor,
        particle: torch.Tensor | None = None,
        theta: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The condition vector ``(N, n_conditions)`` of incident energies ``(N,)`` MeV, PDG ids, θ (rad)."""
        parts = [self.energy_feature(energy).unsqueeze(1)]
        if len(self.particles) > 1:
            if particle is None:
                raise ModelError(f"this model needs a particle: one of {self._particle_names()}")
            ids = torch.tensor(self.particles, device=energy.device, dtype=particle.dtype)
            parts.append((particle.unsqueeze(1) == ids.unsqueeze(0)).to(energy.dtype))
        if self.theta_range is not None:
            lo, hi = self.theta_range
            if theta is None:
                theta = torch.full_like(energy, 0.5 * (lo + hi))
            parts.append(((theta - lo) / max(hi - lo, 1e-9)).unsqueeze(1).to(energy.dtype))
        return torch.cat(parts, dim=1)

    # ---- voxel energies ----------------------------------------------------------------------------
    def normaliser(self, energy: torch.Tensor) -> torch.Tensor:
        """MeV per normalised unit, ``(N, 1)``: ``voxel_scale·E_inc`` or ``voxel_scale``."""
        if self.voxel_norm == "incident":
            return (energy * self.voxel_scale).unsqueeze(1)
        return torch.full_like(energy, self.voxel_scale).unsqueeze(1)

    def to_data(self, showers: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Voxel energies ``(N, n_voxels)`` MeV → network data ``(N, n_voxels)``."""
        v = showers / self.normaliser(energy)
        if self.voxel_transform == "log":
            return torch.log1p(v / self.log_eps)
        if self.voxel_transform == "power":
            return v.clamp_min(0.0).pow(self.power)
        return v

    def to_mev(self, x: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        """Network data ``(N, n_voxels)`` → voxel energies ``(N, n_voxels)`` in MeV (inverse of :meth:`to_data`)."""
        if self.voxel_transform == "log":
            v = torch.expm1(x) * self.log_eps
        elif self.voxel_transform == "power":
            v = x.clamp_min(0.0).pow(1.0 / self.power)
        else:
            v = x
        return v * self.normaliser(energy)

    # ---- checks of requested conditions (numpy, before any tensor is made) ---------------------------
    def _particle_names(self) -> str:
        from caloforge.io import particle_name

        return ", ".join(particle_name(p) for p in self.particles) or "any"

    def check_conditions(
        self,
        energy: NDArray[np.float64],
        particle: NDArray[np.integer] | None,
        theta: NDArray[np.float64] | None,
        *,
        allow_extrapolation: bool = False,
    ) -> None:
        """Raise :class:`ModelError` for conditions the model was not trained for.

        Energies may exceed the training range by ``ENERGY_MARGIN`` (5 %) unless ``allow_extrapolation``.
        """
        if energy.size == 0:
            return
        if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
            raise ModelError("incident energies must be finite and > 0")
        lo, hi = float(energy.min()), float(energy.max())
        if not allow_extrapolation and (
            lo < self.energy_min * (1 - ENERGY_MARGIN) or hi > self.energy_max * (1 + ENERGY_MARGIN)
        ):
            raise ModelError(
                f"requested energies {lo / 1e3:.4g}–{hi / 1e3:.4g} GeV lie outside the model's training range "
                f"{self.energy_min / 1e3:.4g}–{self.energy_max / 1e3:.4g} GeV (pass --allow-extrapolation to go on anyway)"
            )
        if particle is not None:
            unknown = sorted(set(np.unique(particle).tolist()) - set(self.particles))
            if self.particles and unknown:
                from caloforge.io import particle_name

                raise ModelError(
                    f"the model was trained on {self._particle_names()}, not "
                    f"{', '.join(particle_name(int(p)) for p in unknown)}"
                )
        elif len(self.particles) > 1:
            raise ModelError(f"this model simulates several particles; choose one of {self._particle_names()}")
        if theta is not None:
            if self.theta_range is None:
                raise ModelError("this model was trained at one incidence angle and takes no theta")
            t_lo, t_hi = self.theta_range
            if not allow_extrapolation and (theta.min() < t_lo - 1e-6 or theta.max() > t_hi + 1e-6):
                raise ModelError(
                    f"requested angles lie outside the model's range {math.degrees(t_lo):.3g}–"
                    f"{math.degrees(t_hi):.3g} degrees"
                )


def layer_energies_to_u(layer_energy: torch.Tensor, energy: torch.Tensor, response: float = 1.0) -> torch.Tensor:
    """Layer energies ``(N, L)`` MeV → u-parameters ``(N, L)`` (CaloFlow, arXiv:2106.05285).

    ``u_0 = E_tot / (response · E_inc)``; ``u_i = E_{i-1} / Σ_{j ≥ i-1} E_j`` for ``i = 1 … L−1``
    (each in [0, 1]); an empty remainder gives ``u_i = 0``.
    """
    total = layer_energy.sum(dim=1)
    u0 = total / (response * energy)
    if layer_energy.shape[1] == 1:
        return u0.unsqueeze(1)
    remaining = torch.flip(torch.cumsum(torch.flip(layer_energy, [1]), dim=1), [1])  # Σ_{j ≥ i} E_j
    frac = layer_energy[:, :-1] / remaining[:, :-1].clamp_min(1e-12)
    return torch.cat([u0.unsqueeze(1), frac], dim=1)


def u_to_layer_energies(u: torch.Tensor, energy: torch.Tensor, response: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`layer_energies_to_u`: u-parameters ``(N, L)`` → layer energies ``(N, L)`` MeV."""
    remaining = u[:, 0] * response * energy
    out = []
    for i in range(1, u.shape[1]):
        e_i = u[:, i] * remaining
        out.append(e_i)
        remaining = remaining - e_i
    out.append(remaining)
    return torch.stack(out, dim=1)
