"""The classifier two-sample test of the CaloChallenge (arXiv:2410.21611; ``evaluate.py`` of its code).

A fully connected network learns to tell reference showers (label 1) from generated ones (label 0). Each class
is split 60/20/20 into train/test/val; the epoch with the best test accuracy is kept; its outputs are
calibrated with isotonic regression fitted on the test split; AUC and ``JSD = (ln 2 − BCE)/ln 2`` are reported
on the val split. AUC 0.5 means the network cannot tell the samples apart.

Inputs (EVALUATION.md): ``low`` = [log10 E_inc, 100 · voxels / E_inc] (the factor 100 as in the challenge's
``prepare_low_data_for_classifier``); ``low_normed`` = [log10 E_inc, voxel / E_layer, log10 E_layer];
``high`` = :func:`caloforge.validation.observables.high_level_vector`.

Network presets (:data:`CLASSIFIER_PRESETS`): ``calochallenge`` is the paper's configuration (3 hidden layers
of 2048, LeakyReLU, Adam 2e-4, batch 1000, 50 epochs). It does not fit the 10-minute budget for
2 × 100,000 showers on 2 CPU cores, so ``default`` is smaller (3 × 256), standardises its inputs and stops when
the test accuracy has not improved for 4 epochs (at most 20) — docs/evaluation.md gives the timings. ``quick`` is for smoke runs.
Deviations: float32 instead of the challenge's float64; unequal sample sizes are cut to the smaller one.

torch is imported inside the functions; scikit-learn (isotonic regression, AUC) is the ``validation`` extra.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from caloforge.exceptions import ConfigError, MissingExtraError
from caloforge.validation.observables import ShowerFeatures, apply_threshold, high_level_vector

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CLASSIFIER_PRESETS",
    "INPUT_KINDS",
    "ClassifierConfig",
    "ClassifierResult",
    "classifier_inputs",
    "classifier_preset",
    "classifier_test",
]

INPUT_KINDS = ("low", "low_normed", "high")


@dataclass(frozen=True)
class ClassifierConfig:
    """Network and training settings of the classifier test.

    Attributes:
        hidden_layers: number of hidden layers (the challenge's ``cls_n_layer`` + 1).
        hidden_units: units per hidden layer.
        dropout: dropout probability after each hidden layer.
        learning_rate: Adam learning rate.
        batch_size: showers per optimisation step.
        max_epochs: epochs at most.
        patience: stop after this many epochs without a better test accuracy (``None``: never; the challenge
            only stops at test accuracy 1).
        split: train/test/val fractions of each class.
        standardise: shift and scale every input to zero mean and unit variance on the training split (an
            affine map per input: the information is unchanged, the optimisation much easier). The challenge
            does not; the ``calochallenge`` preset does not either.
        threads: torch CPU threads during the test (``None``: leave torch's setting). One thread by default:
            CPU matrix products round differently with different thread counts, and the same seed must give
            the same AUC on any machine (CONTRIBUTING); more threads are faster but reproducible only for the
            same thread count.
    """

    hidden_layers: int = 3
    hidden_units: int = 256
    dropout: float = 0.0
    learning_rate: float = 2e-4
    batch_size: int = 1000
    max_epochs: int = 20
    patience: int | None = 4
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    standardise: bool = True
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.hidden_layers < 1 or self.hidden_units < 1:
            raise ConfigError("classifier: hidden_layers and hidden_units must be >= 1")
        if self.max_epochs < 1 or self.batch_size < 1:
            raise ConfigError("classifier: max_epochs and batch_size must be >= 1")
        if len(self.split) != 3 or min(self.split) <= 0 or not math.isclose(sum(self.split), 1.0):
            raise ConfigError(f"classifier: split must be three positive fractions summing to 1, got {self.split}")

    def with_changes(self, **changes: Any) -> ClassifierConfig:
        return replace(self, **changes)


CLASSIFIER_PRESETS: dict[str, ClassifierConfig] = {
    "default": ClassifierConfig(),
    "calochallenge": ClassifierConfig(
        hidden_layers=3, hidden_units=2048, max_epochs=50, patience=None, standardise=False, threads=None
    ),
    # small samples give few steps per epoch: a larger learning rate and smaller batches make up for it
    "quick": ClassifierConfig(
        hidden_layers=2, hidden_units=128, learning_rate=1e-3, batch_size=256, max_epochs=5, patience=2
    ),
}


def classifier_preset(name: str) -> ClassifierConfig:
    """A preset by name (``default``, ``calochallenge``, ``quick``)."""
    try:
        return CLASSIFIER_PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown classifier preset {name!r}; choose one of {', '.join(CLASSIFIER_PRESETS)}"
        ) from None


def classifier_inputs(kind: str, showers: NDArray[np.floating], features: ShowerFeatures) -> NDArray[np.float32]:
    """The input matrix ``(N, n_inputs)`` of one sample for input ``kind`` (``low``, ``low_normed``, ``high``).

    Args:
        kind: which inputs (module notes).
        showers: voxel energies ``(N, n_voxels)`` in MeV (thresholded here with ``features.threshold``).
        features: the sample's :class:`ShowerFeatures` (E_inc, E_layer and the high-level features).
    """
    if kind == "high":
        return high_level_vector(features).astype(np.float32)
    if kind not in INPUT_KINDS:
        raise ConfigError(f"unknown classifier inputs {kind!r}; choose from {', '.join(INPUT_KINDS)}")
    vox = apply_threshold(showers, features.threshold)
    log_e = np.log10(features.energy)[:, None].astype(np.float32)
    if kind == "low":
        vox *= (100.0 / features.energy)[:, None].astype(np.float32)
        return np.concatenate([log_e, vox], axis=1)
    g = features.geometry
    per_voxel = np.repeat(features.e_layer, g.layer_sizes, axis=1)
    vox /= (per_voxel + 1e-16).astype(np.float32)
    return np.concatenate([log_e, vox, np.log10(features.e_layer + 1e-8).astype(np.float32)], axis=1)


@dataclass
class ClassifierResult:
    """Outcome of one classifier test (numbers on the val split; arrays for the report's plots)."""

    inputs: str
    auc: float
    jsd: float
    auc_uncalibrated: float
    jsd_uncalibrated: float
    accuracy: float
    best_epoch: int
    epochs_run: int
    n_per_class: dict[str, int]
    seconds: float
    seed: int
    config: ClassifierConfig
    history: list[dict[str, float]] = field(default_factory=list)
    val_labels: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    val_probability: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)
    val_raw: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The numbers (no arrays), JSON-ready."""
        return {
            "inputs": self.inputs,
            "auc": self.auc,
            "jsd": self.jsd,
            "auc_uncalibrated": self.auc_uncalibrated,
            "jsd_uncalibrated": self.jsd_uncalibrated,
            "accuracy": self.accuracy,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "n_per_class": dict(self.n_per_class),
            "seconds": self.seconds,
            "seed": self.seed,
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.config).items()},
            "history": self.history,
        }


def _sklearn() -> tuple[Any, Any]:
    try:
        from sklearn.isotonic import IsotonicRegression
        from sklearn.metrics import roc_auc_score
    except ImportError:
        raise MissingExtraError("scikit-learn", "validation") from None
    return IsotonicRegression, roc_auc_score


def _bce(p: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    p = np.clip(p, 1e-7, 1.0 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))


def classifier_test(
    reference: NDArray[np.floating],
    generated: NDArray[np.floating],
    *,
    config: ClassifierConfig | None = None,
    seed: int = 0,
    inputs: str = "custom",
    progress: Any = None,
) -> ClassifierResult:
    """Train the classifier on ``reference`` (label 1) vs ``generated`` (label 0) inputs and score it.

    Args:
        reference, generated: input matrices ``(N, n_inputs)`` (:func:`classifier_inputs`).
        config: network and training settings (default preset ``default``).
        seed: seeds the subsampling, the split, the weights' initialisation and the batch order. The same seed
            gives the same result for the same ``config.threads`` (one by default).
        inputs: name of the input kind, recorded in the result.
        progress: optional callable ``progress(message: str)`` told about each epoch.

    Raises:
        ConfigError: too few showers for a train/test/val split.
        MissingExtraError: scikit-learn is not installed.
    """
    import torch

    isotonic_cls, roc_auc_score = _sklearn()
    cfg = config or CLASSIFIER_PRESETS["default"]
    x_ref = np.asarray(reference, dtype=np.float32)
    x_gen = np.asarray(generated, dtype=np.float32)
    if x_ref.ndim != 2 or x_gen.ndim != 2 or x_ref.shape[1] != x_gen.shape[1]:
        raise ConfigError(f"classifier inputs of shapes {x_ref.shape} and {x_gen.shape} do not match")
    if not (np.all(np.isfinite(x_ref)) and np.all(np.isfinite(x_gen))):
        raise ConfigError(f"classifier inputs ({inputs}) contain NaN or inf")
    n = min(len(x_ref), len(x_gen))
    n_train, n_test = int(n * cfg.split[0]), int(n * cfg.split[1])
    n_val = n - n_train - n_test
    if min(n_train, n_test, n_val) < 10:
        raise ConfigError(
            f"the classifier test needs at least 50 showers per sample, got {len(x_ref)} and {len(x_gen)}"
        )

    rng = np.random.default_rng(seed)
    ref_idx = rng.permutation(len(x_ref))[:n]
    gen_idx = rng.permutation(len(x_gen))[:n]
    cuts = (n_train, n_train + n_test)

    def split(part: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        lo, hi = ((0, cuts[0]), (cuts[0], cuts[1]), (cuts[1], n))[part]
        x = np.concatenate([x_ref[ref_idx[lo:hi]], x_gen[gen_idx[lo:hi]]])
        y = np.concatenate([np.ones(hi - lo, np.float32), np.zeros(hi - lo, np.float32)])
        order = rng.permutation(len(y))
        return x[order], y[order]

    (xtr, ytr), (xte, yte), (xva, yva) = split(0), split(1), split(2)
    if cfg.standardise:
        mean = xtr.mean(axis=0, dtype=np.float64)
        std = xtr.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0
        xtr, xte, xva = (((x - mean) / std).astype(np.float32) for x in (xtr, xte, xva))
    start = time.perf_counter()
    old_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            history, best_epoch, epochs_run, raw_test, raw_val = _train(
                torch, cfg, seed, (xtr, ytr), (xte, yte), xva, progress, inputs
            )
    finally:
        torch.set_num_threads(old_threads)

    iso = isotonic_cls(out_of_bounds="clip", y_min=1e-6, y_max=1.0 - 1e-6).fit(raw_test, yte)
    calibrated = np.asarray(iso.predict(raw_val), dtype=np.float64)
    yv = yva.astype(np.float64)
    return ClassifierResult(
        inputs=inputs,
        auc=float(roc_auc_score(yv, calibrated)),
        jsd=(math.log(2.0) - _bce(calibrated, yv)) / math.log(2.0),
        auc_uncalibrated=float(roc_auc_score(yv, raw_val)),
        jsd_uncalibrated=(math.log(2.0) - _bce(raw_val, yv)) / math.log(2.0),
        accuracy=float(np.mean((calibrated >= 0.5) == (yv > 0.5))),
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        n_per_class={"train": n_train, "test": n_test, "val": n_val},
        seconds=time.perf_counter() - start,
        seed=seed,
        config=cfg,
        history=history,
        val_labels=yva,
        val_probability=calibrated,
        val_raw=raw_val,
    )


def _train(
    torch: Any,
    cfg: ClassifierConfig,
    seed: int,
    train: tuple[NDArray[np.float32], NDArray[np.float32]],
    test: tuple[NDArray[np.float32], NDArray[np.float32]],
    val_x: NDArray[np.float32],
    progress: Any,
    inputs: str,
) -> tuple[list[dict[str, float]], int, int, NDArray[np.float64], NDArray[np.float64]]:
    """The training loop; returns history, best epoch, epochs run and the best model's test/val probabilities."""
    nn = torch.nn
    dim = train[0].shape[1]
    layers: list[Any] = []
    width_in = dim
    for _ in range(cfg.hidden_layers):
        layers += [nn.Linear(width_in, cfg.hidden_units), nn.LeakyReLU(), nn.Dropout(cfg.dropout)]
        width_in = cfg.hidden_units
    layers.append(nn.Linear(width_in, 1))
    model = nn.Sequential(*layers)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    xtr, ytr = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    xte, yte = torch.from_numpy(test[0]), test[1]
    gen = torch.Generator().manual_seed(seed)

    def predict(x: Any) -> NDArray[np.float64]:
        model.eval()
        with torch.no_grad():
            out = [torch.sigmoid(model(x[i : i + 8192])).reshape(-1) for i in range(0, len(x), 8192)]
        return torch.cat(out).double().numpy()

    best_acc, best_epoch, best_state, since_best = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    epochs_run = 0
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        total, steps = 0.0, 0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = loss_fn(model(xtr[idx]).reshape(-1), ytr[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            steps += 1
        p_test = predict(xte)
        acc = float(np.mean((p_test >= 0.5) == (yte > 0.5)))
        epochs_run = epoch
        history.append({"epoch": epoch, "train_loss": total / max(steps, 1), "test_accuracy": acc})
        if progress is not None:
            progress(
                f"classifier ({inputs}) epoch {epoch}: train loss {total / max(steps, 1):.4f}, test accuracy {acc:.4f}"
            )
        if acc > best_acc:
            best_acc, best_epoch, since_best = acc, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if acc == 1.0 or (cfg.patience is not None and since_best >= cfg.patience):
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history, best_epoch, epochs_run, predict(xte), predict(torch.from_numpy(val_x))
