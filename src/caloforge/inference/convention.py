"""The two input/output conventions of caloforge's ONNX files, and the metadata that names them.

``caloforge`` (the default of ``caloforge export``): named inputs ``z`` ``(B, latent_dim)`` float32 standard
normal noise, ``energy`` ``(B,)`` float32 incident energy in MeV, ``particle`` ``(B,)`` int64 PDG id (only for
models trained on several particles), ``theta`` ``(B,)`` float32 incidence angle in rad (only for models
conditioned on it); one output ``showers`` ``(B, n_voxels)`` float32 cell energies in MeV in the geometry's flat
voxel order. The preprocessing (condition encoding, voxel transform) is inside the graph.

``par04`` (``caloforge export --par04``): what Geant4's example Par04 (examples/extended/parameterisations/Par04,
Geant4 11.x) feeds and reads. Read in Geant4/geant4: ``Par04InferenceSetup::GetEnergies`` builds ONE float32
vector ``[z_0 … z_{L−1}, E/fMaxEnergy, (θ/deg)/fMaxAngle, 0, 1]`` (``fMaxEnergy`` = 1,024,000 MeV,
``fMaxAngle`` = 90 in ``Par04InferenceSetup.hh``; θ = ``direction.theta()`` from ``Par04MLFastSimModel::DoIt``,
the angle to the barrel axis; the last two slots are the geometry one-hot, always (0, 1) in the code),
``Par04OnnxInference::RunInference`` passes it as a ``(1, L + 4)`` tensor to the session's single input and
copies the first output flat; ``GetEnergies`` multiplies every value by the particle energy, and
``GetPositions`` places value ``i`` in cell (r, φ, z) with z fastest. So the ``par04`` graph takes
``latent_and_conditions`` ``(B, L + 4)`` and returns ``energy_fractions`` ``(B, n_r·n_φ·n_z)``: deposited energy
per cell divided by the incident energy, in (r, φ, z) order. caloforge's θ is the angle to the stack normal,
``θ = 90° − angle`` (:mod:`caloforge.io.par04`); deposited energy = stored energy / ``Geometry.energy_scale``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from caloforge.exceptions import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from caloforge.inference.spec import ModelSpec

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PAR04_GEOMETRY_ONEHOT",
    "PAR04_MAX_ANGLE_DEG",
    "PAR04_MAX_ENERGY_MEV",
    "CaloforgeIO",
    "Convention",
    "Par04IO",
    "convention_from_metadata",
]

FORMAT = "caloforge-onnx"
FORMAT_VERSION = 1
#: Par04InferenceSetup.hh: ``float fMaxEnergy = 1024000.0;`` "Maximum particle energy value (in MeV)"
PAR04_MAX_ENERGY_MEV = 1_024_000.0
#: Par04InferenceSetup.hh: ``float fMaxAngle = 90.0;`` "Maximum particle angle (in degrees)"
PAR04_MAX_ANGLE_DEG = 90.0
#: Par04InferenceSetup.cc GetEnergies: ``genVector[L + 2] = 0; genVector[L + 3] = 1;``
PAR04_GEOMETRY_ONEHOT = (0.0, 1.0)


class Convention(Protocol):
    """How showers ask an ONNX graph: its input feed and how its output becomes MeV in caloforge order."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def input_names(self) -> tuple[str, ...]: ...

    @property
    def output_names(self) -> tuple[str, ...]: ...

    def feed(
        self,
        z: NDArray[np.float32],
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
    ) -> dict[str, NDArray[Any]]: ...

    def showers(self, output: NDArray[np.floating], energy: NDArray[np.float64]) -> NDArray[np.float32]: ...

    def metadata(self) -> dict[str, str]: ...


def _theta_default(spec: ModelSpec, n: int) -> NDArray[np.float64]:
    lo, hi = spec.preprocessing.theta_range or (0.0, 0.0)
    return np.full(n, 0.5 * (lo + hi))


@dataclass(frozen=True)
class CaloforgeIO:
    """The ``caloforge`` convention (see the module docstring)."""

    spec: ModelSpec
    name: str = "caloforge"

    @property
    def with_particle(self) -> bool:
        return len(self.spec.preprocessing.particles) > 1

    @property
    def with_theta(self) -> bool:
        return self.spec.preprocessing.theta_range is not None

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("z", "energy") + (("particle",) if self.with_particle else ()) + (("theta",) if self.with_theta else ())

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("showers",)

    def feed(
        self,
        z: NDArray[np.float32],
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
    ) -> dict[str, NDArray[Any]]:
        out: dict[str, NDArray[Any]] = {
            "z": np.ascontiguousarray(z, dtype=np.float32),
            "energy": np.ascontiguousarray(energy, dtype=np.float32),
        }
        if self.with_particle:
            if particle is None:
                raise ModelError("this model simulates several particles; give the particle of every shower")
            out["particle"] = np.ascontiguousarray(particle, dtype=np.int64)
        if self.with_theta:
            t = _theta_default(self.spec, len(energy)) if theta is None else theta
            out["theta"] = np.ascontiguousarray(t, dtype=np.float32)
        return out

    def showers(self, output: NDArray[np.floating], energy: NDArray[np.float64]) -> NDArray[np.float32]:
        return np.ascontiguousarray(output, dtype=np.float32)

    def metadata(self) -> dict[str, str]:
        pre = self.spec.preprocessing
        parts = [
            f"z: float32 (batch, {self.spec.latent_dim}) standard normal noise",
            "energy: float32 (batch,) incident energy in MeV",
        ]
        if self.with_particle:
            parts.append(f"particle: int64 (batch,) PDG id, one of {list(pre.particles)}")
        if self.with_theta:
            parts.append("theta: float32 (batch,) incidence angle to the stack normal in rad")
        return {
            "caloforge.convention": self.name,
            "caloforge.inputs": "; ".join(parts),
            "caloforge.outputs": (
                f"showers: float32 (batch, {self.spec.geometry.n_voxels}) cell energies in MeV "
                "(the geometry's stored units), flat voxel order of the geometry (layer, then alpha/x, then r/y)"
            ),
        }


@dataclass(frozen=True)
class Par04IO:
    """The ``par04`` convention (see the module docstring).

    Attributes:
        spec: the model.
        particle: the PDG id baked into the graph (Par04 passes no particle), ``None`` if the model has none.
        n_r, n_phi, n_z: the mesh.
        size_r, size_z: cell size along r and z in mm (Par04's ``setSizeOfRhoCells`` / ``setSizeOfZCells``).
    """

    spec: ModelSpec
    particle: int | None
    n_r: int
    n_phi: int
    n_z: int
    size_r: float
    size_z: float
    name: str = "par04"

    @classmethod
    def for_spec(cls, spec: ModelSpec, particle: int | None = None) -> Par04IO:
        """The Par04 layout of a model, checked: a regular cylindrical mesh and one particle.

        Raises:
            ModelError: a Cartesian or irregular readout, or several particles and no ``particle`` chosen.
        """
        from caloforge.exceptions import GeometryError
        from caloforge.geometry import CylindricalBins
        from caloforge.io import particle_name
        from caloforge.io.par04 import par04_shape

        g = spec.geometry
        try:
            n_r, n_phi, n_z = par04_shape(g)
        except GeometryError as exc:
            raise ModelError(
                f"--par04: {exc}. Geant4's Par04 example reads a cylindrical (r, phi, z) mesh; this "
                f"{spec.family} model generates geometry {g.name!r}"
            ) from None
        seg = g.layers[0].segmentation
        assert isinstance(seg, CylindricalBins)
        edges = np.asarray(seg.r_edges, dtype=np.float64)
        widths = np.diff(edges)
        depths = [(layer.z_min, layer.z_max) for layer in g.layers]
        if any(lo is None or hi is None for lo, hi in depths):
            raise ModelError(
                f"--par04: geometry {g.name!r} gives no depth range for its readout layers; Par04 needs the z cell size"
            )
        thickness = np.array([float(hi) - float(lo) for lo, hi in depths])  # type: ignore[arg-type]
        starts = np.array([float(lo) for lo, _ in depths])  # type: ignore[arg-type]
        if edges[0] != 0 or not np.allclose(widths, widths[0], rtol=1e-6):
            raise ModelError(
                f"--par04: geometry {g.name!r} has unequal r bins {seg.r_edges}; Par04 places cell i at "
                "(i + 0.5) x the r cell size, so it needs equal r bins starting at 0"
            )
        if not np.allclose(thickness, thickness[0], rtol=1e-6) or not np.allclose(
            starts, starts[0] + thickness[0] * np.arange(n_z), rtol=1e-6, atol=1e-9
        ):
            raise ModelError(
                f"--par04: geometry {g.name!r} has readout layers of unequal thickness or with gaps; Par04 "
                "places layer k at (k + 0.5) x the z cell size"
            )
        pre = spec.preprocessing
        if particle is not None and pre.particles and particle not in pre.particles:
            raise ModelError(
                f"--particle: the model was trained on {', '.join(particle_name(p) for p in pre.particles)}, "
                f"not {particle_name(particle)}"
            )
        if particle is None and len(pre.particles) > 1:
            raise ModelError(
                "--par04: Par04 passes no particle to the model, and this model simulates "
                f"{', '.join(particle_name(p) for p in pre.particles)}; choose one with --particle"
            )
        if particle is None and len(pre.particles) == 1:
            particle = pre.particles[0]
        return cls(spec, particle, n_r, n_phi, n_z, float(widths[0]), float(thickness[0]))

    @property
    def n_conditions(self) -> int:
        return 4

    @property
    def input_size(self) -> int:
        return self.spec.latent_dim + self.n_conditions

    @property
    def input_names(self) -> tuple[str, ...]:
        return ("latent_and_conditions",)

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("energy_fractions",)

    def feed(
        self,
        z: NDArray[np.float32],
        energy: NDArray[np.float64],
        particle: NDArray[np.int64] | None,
        theta: NDArray[np.float64] | None,
    ) -> dict[str, NDArray[Any]]:
        if particle is not None and self.particle is not None and np.any(particle != self.particle):
            from caloforge.io import particle_name

            raise ModelError(f"this Par04 model simulates {particle_name(self.particle)} only")
        n = len(energy)
        # Par04 angle: to the barrel axis in degrees, 90 = normal incidence (caloforge θ = 0)
        angle = np.full(n, 90.0) if theta is None else 90.0 - np.degrees(theta)
        cond = np.empty((n, 4), dtype=np.float32)
        cond[:, 0] = energy / PAR04_MAX_ENERGY_MEV
        cond[:, 1] = angle / PAR04_MAX_ANGLE_DEG
        cond[:, 2:] = PAR04_GEOMETRY_ONEHOT
        return {"latent_and_conditions": np.ascontiguousarray(np.concatenate([z.astype(np.float32), cond], axis=1))}

    def showers(self, output: NDArray[np.floating], energy: NDArray[np.float64]) -> NDArray[np.float32]:
        from caloforge.io.par04 import from_par04_order

        scale = energy[:, None] * self.spec.geometry.energy_scale
        return from_par04_order(np.asarray(output, dtype=np.float64) * scale, self.spec.geometry)

    def permutation(self) -> NDArray[np.int64]:
        """``perm`` with ``par04[:, j] = caloforge[:, perm[j]]`` (:func:`caloforge.io.par04.to_par04_order`)."""
        from caloforge.io.par04 import to_par04_order

        n = self.spec.geometry.n_voxels
        perm = to_par04_order(np.arange(n, dtype=np.float32)[None], self.spec.geometry)[0]
        return np.rint(perm).astype(np.int64)  # exact: indices < 2**24

    def macro(self) -> str:
        """The Par04 macro commands that match this model (examplePar04_onnx.mac)."""
        return "\n".join(
            [
                f"/Par04/inference/setSizeLatentVector {self.spec.latent_dim}",
                f"/Par04/inference/setSizeConditionVector {self.n_conditions}",
                "/Par04/inference/setInferenceLibrary ONNX",
                f"/Par04/inference/setSizeOfRhoCells {self.size_r:g} mm",
                f"/Par04/inference/setSizeOfZCells {self.size_z:g} mm",
                f"/Par04/inference/setNbOfRhoCells {self.n_r}",
                f"/Par04/inference/setNbOfPhiCells {self.n_phi}",
                f"/Par04/inference/setNbOfZCells {self.n_z}",
            ]
        )

    def metadata(self) -> dict[str, str]:
        from caloforge.io import particle_name

        pre = self.spec.preprocessing
        lat = self.spec.latent_dim
        return {
            "caloforge.convention": self.name,
            "caloforge.inputs": (
                f"latent_and_conditions: float32 (batch, {self.input_size}) = [z_0..z_{lat - 1} standard normal, "
                f"E / {PAR04_MAX_ENERGY_MEV:.0f} MeV, angle to the barrel axis in degrees / {PAR04_MAX_ANGLE_DEG:g}, "
                f"geometry one-hot (ignored; Par04 writes {PAR04_GEOMETRY_ONEHOT[0]:g}, {PAR04_GEOMETRY_ONEHOT[1]:g})]"
            ),
            "caloforge.outputs": (
                f"energy_fractions: float32 (batch, {self.n_r * self.n_phi * self.n_z}) deposited energy per cell / "
                "incident energy, flat in (r, phi, z) order with z fastest (Par04 multiplies by E in MeV)"
            ),
            "par04.latent_size": str(lat),
            "par04.condition_size": str(self.n_conditions),
            "par04.conditions": json.dumps(
                [
                    f"E/{PAR04_MAX_ENERGY_MEV:.0f}MeV",
                    f"angle_deg/{PAR04_MAX_ANGLE_DEG:g}",
                    "geometry_onehot_0",
                    "geometry_onehot_1",
                ]
            ),
            "par04.max_energy_MeV": f"{PAR04_MAX_ENERGY_MEV:.1f}",
            "par04.max_angle_deg": f"{PAR04_MAX_ANGLE_DEG:g}",
            "par04.angle": "direction.theta() to the barrel axis; caloforge theta = 90 deg - angle",
            "par04.output_order": "r, phi, z (z fastest)",
            "par04.output_units": "fraction of the incident energy (deposited energy / E)",
            "par04.energy_scale": f"{self.spec.geometry.energy_scale:.9g}",
            "par04.mesh": json.dumps(
                {
                    "n_r": self.n_r,
                    "n_phi": self.n_phi,
                    "n_z": self.n_z,
                    "size_r_mm": self.size_r,
                    "size_z_mm": self.size_z,
                }
            ),
            "par04.particle": "" if self.particle is None else particle_name(self.particle),
            "par04.training_energy_range_MeV": json.dumps([pre.energy_min, pre.energy_max]),
            "par04.conditioned_on_angle": str(pre.theta_range is not None).lower(),
            "par04.macro": self.macro(),
        }


def convention_from_metadata(meta: dict[str, str], spec: ModelSpec, source: str = "") -> Convention:
    """The convention an ONNX file written by caloforge declares in its metadata.

    Raises:
        ModelError: an unknown convention or a Par04 file whose mesh does not match its geometry.
    """
    name = meta.get("caloforge.convention", "caloforge")
    if name == "caloforge":
        return CaloforgeIO(spec)
    if name == "par04":
        label = meta.get("par04.particle", "")
        particle = None
        if label:
            from caloforge.io import particle_code

            particle = particle_code(label)
        conv = Par04IO.for_spec(spec, particle)
        if meta.get("par04.latent_size") not in (None, str(spec.latent_dim)):
            raise ModelError(f"{source}: par04.latent_size does not match the model's latent_dim {spec.latent_dim}")
        return conv
    raise ModelError(f"{source}: unknown caloforge.convention {name!r} (this caloforge reads caloforge, par04)")
