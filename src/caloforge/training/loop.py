"""The training loop: ``train(cfg, out)`` reads top to bottom, one named step at a time.

1. join the process group (torchrun) and set threads; 2. read and split the data; 3. build (or restore) the
model, its family trainer and the EMA; 4. loop over steps: learning-rate factor, the family's
``training_step``, divergence check, EMA update, logs; at the end of every epoch validate the EMA weights
with :func:`caloforge.validation.quick.quick_metrics` on the held-out split, keep the best model and write the
checkpoint (the end of a run that stops mid-epoch is validated too, but only epoch ends compete for best);
5. save the last model.

Run folder (``out``): ``config.json`` (the full config), ``checkpoint.pt`` (latest, atomic), ``best/`` and
``last/`` (model folders with a card), ``log.csv``, ``metrics.csv``, ``tb/`` (TensorBoard, if installed).
Only rank 0 writes. The same seed gives the same run, and a run continued with ``resume=True`` ends with
the weights an uninterrupted run would have.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from caloforge.exceptions import CaloforgeError, ConfigError
from caloforge.models.config import from_dict
from caloforge.models.registry import build_model
from caloforge.models.seeding import derive_seed, torch_generator
from caloforge.models.serialize import save_model, write_json
from caloforge.training.checkpoint import load_checkpoint, save_checkpoint
from caloforge.training.config import TrainConfig, resume_compatible
from caloforge.training.data import DeviceData, epoch_order, load_training_data
from caloforge.training.distributed import DistContext, setup
from caloforge.training.ema import EMA
from caloforge.training.runlog import RunLog
from caloforge.training.schedule import lr_factor

if TYPE_CHECKING:
    from caloforge.io import ShowerSet
    from caloforge.models.base import GenerativeModel

__all__ = ["TrainResult", "TrainingDiverged", "evaluate", "train"]

_NOISE_KEY = 3
_INIT_KEY = 4
_CRITIC_KEY = 5
_VALIDATION_KEY = 6
_CALIBRATION_KEY = 7


class TrainingDiverged(CaloforgeError, RuntimeError):
    """A loss became NaN/inf or exceeded the divergence threshold; the last checkpoint is intact."""


@dataclass
class TrainResult:
    """What a finished run achieved."""

    out: Path
    step: int
    epoch: int
    best_metric: float
    best_step: int
    metrics: dict[str, float] = field(default_factory=dict)


#: receives (step, total_steps, epoch, losses) after every step on the main process
ProgressCallback = Callable[[int, int, int, dict[str, float]], None]


def evaluate(model: GenerativeModel, reference: ShowerSet, seed: int, batch_size: int = 10_000) -> dict[str, float]:
    """Generate showers for the conditions of ``reference`` and compare them with :func:`quick_metrics`.

    The noise is fixed by ``seed``, so successive validations differ only by the weights.
    """
    from caloforge.io import ShowerSet as _ShowerSet
    from caloforge.validation.quick import quick_metrics

    device = next(model.parameters()).device
    generator = torch_generator(seed)
    theta_cond = model.preprocessing.theta_range is not None and reference.theta is not None
    parts = []
    with torch.no_grad():
        for start in range(0, len(reference), batch_size):
            sl = slice(start, start + batch_size)
            energy = torch.from_numpy(reference.energy[sl].astype(np.float32)).to(device)
            particle = None
            if reference.particle is not None:
                particle = torch.from_numpy(reference.particle[sl].astype(np.int64)).to(device)
            theta = torch.from_numpy(reference.theta[sl].astype(np.float32)).to(device) if theta_cond else None  # type: ignore[index]
            parts.append(model.sample(energy, particle, theta, generator=generator).cpu().numpy())
    showers = np.concatenate(parts) if parts else np.zeros((0, reference.n_voxels), np.float32)
    if not np.all(np.isfinite(showers)):
        return {"sep_mean": math.inf}
    generated = _ShowerSet.from_arrays(
        reference.energy,
        showers,
        reference.geometry,
        particle=reference.particle,
        theta=reference.theta,
        validate=False,
    )
    return {k: float(v) for k, v in quick_metrics(reference, generated).items()}


def _set_threads(cfg: TrainConfig, dist: DistContext) -> None:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    elif dist.distributed and dist.device.type == "cpu":
        # torchrun sets OMP_NUM_THREADS=1; share the machine's cores between the local processes instead
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(dist.local_world_size, 1)))


def _prepare_run_folder(out: Path, cfg: TrainConfig, resume: bool, dist: DistContext) -> TrainConfig:
    """Check the run folder against ``resume``; return the config the run uses (the saved one on resume)."""
    saved_path = out / "config.json"
    if resume:
        if not saved_path.is_file():
            raise ConfigError(f"--resume: {str(out)!r} holds no run (no config.json)")
        saved = from_dict(TrainConfig, json.loads(saved_path.read_text()), source=str(saved_path))
        resume_compatible(saved, cfg)
        return cfg
    if (out / "checkpoint.pt").exists():
        raise ConfigError(f"{str(out)!r} already holds a run; pass --resume to continue it or choose another --out")
    return cfg


def _card(
    cfg: TrainConfig, n_train: int, step: int, epoch: int, metrics: dict[str, float], command: str | None
) -> dict[str, Any]:
    return {
        "family": cfg.model,
        "training": {
            "sample": cfg.data.path,
            "n_showers": n_train,
            "command": command,
            "seed": cfg.seed,
            "step": step,
            "epoch": epoch,
            "date": _dt.date.today().isoformat(),
        },
        "validation": {"metrics": metrics, "note": "quick_metrics on the held-out split (separation powers)"},
    }


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: ProgressCallback | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data.path``, writing the run folder ``out`` (see the module docstring).

    Args:
        cfg: the validated config (:func:`caloforge.training.config.load_train_config`).
        out: the run folder.
        resume: continue the run in ``out`` from its checkpoint.
        progress: called after every step on the main process (the CLI's progress bar).
        command: the command line, recorded in the model cards.

    Raises:
        ConfigError: bad config, a run folder that does not match ``resume``.
        TrainingDiverged: a loss became NaN/inf or too large.
    """
    dist = setup(cfg.device)
    threads = torch.get_num_threads()
    try:
        _set_threads(cfg, dist)
        return _train(cfg, Path(out), resume, dist, progress, command)
    finally:
        torch.set_num_threads(threads)
        dist.close()


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    dist: DistContext,
    progress: ProgressCallback | None,
    command: str | None,
) -> TrainResult:
    # ---- 1. run folder and config ---------------------------------------------------------------------
    cfg = _prepare_run_folder(out, cfg, resume, dist)
    model_cfg, trainer_cfg = cfg.family_configs()
    if cfg.batch_size % dist.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {dist.world_size} processes")
    checkpoint = load_checkpoint(out / "checkpoint.pt") if resume else None

    # ---- 2. data (checked before the run folder is made, so a bad --data leaves nothing behind) ----------
    train_set, held_out = load_training_data(cfg.data, cfg.seed)
    _check_metric(cfg, train_set.geometry)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", cfg.to_dict())

    # ---- 3. model, trainer, EMA ----------------------------------------------------------------------
    device = dist.device
    if checkpoint is not None:
        from caloforge.geometry import geometry_from_dict
        from caloforge.models.preprocessing import Preprocessing

        spec = checkpoint["spec"]
        model = build_model(
            cfg.model,
            geometry_from_dict(spec["geometry"]),
            preprocessing=Preprocessing.from_dict(spec["preprocessing"]),
            config=model_cfg,
        )
    else:
        model = build_model(
            cfg.model, train_set.geometry, data=train_set, config=model_cfg, seed=derive_seed(cfg.seed, _INIT_KEY)
        )
    model.to(device)
    data = DeviceData.build(train_set, model.preprocessing, device)
    noise = torch_generator(derive_seed(cfg.seed, _NOISE_KEY, dist.rank), device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, _CRITIC_KEY))
        trainer = model.trainer_class()(
            model,
            trainer_cfg,
            generator=noise,
            grad_clip=cfg.grad_clip,
            sync=dist.sync_grads if dist.distributed else None,
        )
    dist.broadcast_module(model)
    dist.broadcast_module(trainer.critics)
    ema = EMA(model, cfg.ema_decay)
    eval_model = copy.deepcopy(model).eval()

    step, best_metric, best_step, metrics = 0, math.inf, -1, {}
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        trainer.load_state_dict(checkpoint["trainer"])
        ema.load_state_dict(checkpoint["ema"])
        states = checkpoint["rng"]
        if len(states) != dist.world_size:
            raise ConfigError(
                f"--resume: the checkpoint was written by {len(states)} processes, this run has {dist.world_size}"
            )
        noise.set_state(states[dist.rank])
        step, best_metric, best_step = (
            int(checkpoint["step"]),
            float(checkpoint["best_metric"]),
            int(checkpoint["best_step"]),
        )
        metrics = dict(checkpoint.get("metrics", {}))

    # ---- 4. the loop ------------------------------------------------------------------------------------
    per_step = cfg.batch_size * trainer.batches_per_step
    steps_per_epoch = len(data) // per_step
    if steps_per_epoch < 1:
        raise ConfigError(
            f"batch_size: the training split holds {len(data)} showers, fewer than one step needs "
            f"({cfg.batch_size} × {trainer.batches_per_step} batches per step)"
        )
    total_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    log = RunLog(out, enabled=dist.is_main, tensorboard=cfg.tensorboard, resume_step=step if resume else None)
    share = cfg.batch_size // dist.world_size
    order_epoch, order = -1, np.zeros(0, dtype=np.int64)

    def save(epoch: int) -> None:
        rng_states = dist.gather(noise.get_state().cpu())
        if not dist.is_main:
            return
        save_checkpoint(
            out / "checkpoint.pt",
            {
                "config": cfg.to_dict(),
                "spec": model.spec(),
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "trainer": trainer.state_dict(),
                "step": step,
                "epoch": epoch,
                "best_metric": best_metric,
                "best_step": best_step,
                "metrics": metrics,
                "rng": rng_states,
            },
        )

    started = time.monotonic()
    trainer.train()
    try:
        while step < total_steps:
            epoch, k = divmod(step, steps_per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(len(data), cfg.seed, epoch), epoch
            chunk = order[k * per_step : (k + 1) * per_step].reshape(trainer.batches_per_step, cfg.batch_size)
            batches = [data.batch(rows[dist.rank * share : (dist.rank + 1) * share]) for rows in chunk]

            # the schedule spans the configured epochs; max_steps only stops early (resume stays exact)
            factor = lr_factor(cfg.schedule, step, cfg.epochs * steps_per_epoch, steps_per_epoch)
            trainer.set_lr_factor(factor)
            losses = dist.mean(trainer.training_step(batches))
            _check_divergence(losses, step, epoch, cfg, out)
            if cfg.ema_decay > 0:
                ema.update(model)
            step += 1
            epoch_done = step % steps_per_epoch == 0
            if dist.is_main:
                if step % cfg.log_every == 0 or epoch_done or step == total_steps:
                    log.log_losses(step, epoch, {"lr_factor": factor, "time_s": time.monotonic() - started, **losses})
                if progress is not None:
                    progress(step, total_steps, epoch, losses)

            if epoch_done or step == total_steps:
                if dist.is_main:
                    _load_weights(eval_model, model, ema, cfg)
                    # a calibration on training showers (flowmatch: the voxel cut) before the model is judged
                    eval_model.calibrate(train_set, derive_seed(cfg.seed, _CALIBRATION_KEY))
                    metrics = evaluate(eval_model, held_out, derive_seed(cfg.seed, _VALIDATION_KEY))
                    value = metrics[cfg.select_metric]
                    # only epoch ends compete, so that an interrupted and resumed run picks the same best model
                    improved = epoch_done and value < best_metric
                    if improved:
                        best_metric, best_step = value, step
                        save_model(
                            eval_model,
                            out / "best",
                            card=_card(cfg, len(train_set), step, epoch + epoch_done, metrics, command),
                            metadata={"run": str(out), "step": step},
                        )
                    log.log_metrics(step, epoch, {**metrics, "best": float(improved)})
                save(epoch + int(epoch_done))
            elif step % cfg.checkpoint_every == 0:
                save(epoch)
    finally:
        log.close()

    # ---- 5. the last model ----------------------------------------------------------------------------
    if dist.distributed:
        # gradient averaging keeps the processes' weights identical; check it once (a bug, not user error)
        sums = dist.gather(float(sum(p.detach().double().sum() for p in model.parameters())))
        if any(x != sums[0] for x in sums):
            raise RuntimeError(f"DDP processes ended with different weights (parameter sums {sums})")
    if dist.is_main:
        _load_weights(eval_model, model, ema, cfg)
        epoch = step // steps_per_epoch
        save_model(
            eval_model,
            out / "last",
            card=_card(cfg, len(train_set), step, epoch, metrics, command),
            metadata={"run": str(out), "step": step},
        )
    dist.barrier()
    return TrainResult(
        out=out, step=step, epoch=step // steps_per_epoch, best_metric=best_metric, best_step=best_step, metrics=metrics
    )


def _load_weights(eval_model: GenerativeModel, model: GenerativeModel, ema: EMA, cfg: TrainConfig) -> None:
    if cfg.ema_decay > 0:
        ema.copy_to(eval_model)
    else:
        eval_model.load_state_dict(model.state_dict())


def _check_metric(cfg: TrainConfig, geometry: Any) -> None:
    from caloforge.validation.quick import quick_spec_names

    known = ["sep_mean", *(f"sep_{name}" for name in quick_spec_names(geometry))]
    if cfg.select_metric not in known:
        raise ConfigError(
            f"select_metric: {cfg.select_metric!r} is not a validation metric; choose one of {', '.join(known)}"
        )


def _check_divergence(losses: dict[str, float], step: int, epoch: int, cfg: TrainConfig, out: Path) -> None:
    for key, value in losses.items():
        if not math.isfinite(value) or abs(value) > cfg.divergence_threshold:
            raise TrainingDiverged(
                f"training diverged at step {step + 1} (epoch {epoch}): {key} = {value:.4g} "
                f"(divergence_threshold {cfg.divergence_threshold:g}); "
                f"the last checkpoint in {str(out)!r} is intact — lower the learning rates (trainer.lr_*) "
                "or set grad_clip, then resume"
            )
