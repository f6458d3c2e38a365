"""The networks being modelled: residual MLPs (ResMLP), their training and storage.

A ResMLP maps an input to state L0 with an input projection, then through B residual
blocks to states L1 .. LB, and reads class logits from LB with a linear head. The
states L0 .. LB are the trajectory that the Koopman autoencoder learns.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from repdyn.io import corrupt, read_tensors, write_tensors
from repdyn.runtime import seed_everything, triangular_schedule

log = logging.getLogger(__name__)

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
BIAS_INIT = 0.01


class NetworkDivergenceError(FloatingPointError):
    """Training produced a non-finite loss or weights; no model was returned."""


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} unknown; use one of {list(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _norm(width: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm1d(width) if batchnorm else nn.Identity()


class ResidualBlock(nn.Module):
    """out = act(x + branch(x)), branch = Linear, BN, act, Linear, BN; width w -> w."""

    def __init__(self, width: int, batchnorm: bool = True, activation: str = "relu"):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Linear(width, width),
            _norm(width, batchnorm),
            _activation(activation),
            nn.Linear(width, width),
            _norm(width, batchnorm),
        )
        self.activation = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.branch(x))  # [n, w]


class ResMLP(nn.Module):
    """Residual MLP of study spec section 2.

    ``input_projection`` (Linear d_in -> width, BN, act) gives state L0; each of the
    ``n_blocks`` entries of ``blocks`` gives the next state; ``head`` (Linear
    width -> n_classes) reads the logits from the last state. Linear weights are
    Kaiming-normal (ReLU gain), Linear biases 0.01.
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        n_blocks: int,
        n_classes: int,
        batchnorm: bool = True,
        activation: str = "relu",
    ):
        super().__init__()
        self.arch = {
            "d_in": int(d_in),
            "width": int(width),
            "n_blocks": int(n_blocks),
            "n_classes": int(n_classes),
            "batchnorm": bool(batchnorm),
            "activation": str(activation),
        }
        self.input_projection = nn.Sequential(
            nn.Linear(d_in, width), _norm(width, batchnorm), _activation(activation)
        )
        self.blocks = nn.ModuleList(
            ResidualBlock(width, batchnorm, activation) for _ in range(n_blocks)
        )
        self.head = nn.Linear(width, n_classes)
        self._initialise()

    def _initialise(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.constant_(module.bias, BIAS_INIT)

    @property
    def layer_names(self) -> list[str]:
        """Names of the states: ["L0", ..., "L{n_blocks}"]."""
        return [f"L{i}" for i in range(len(self.blocks) + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.input_projection(x)  # [n, w], L0
        for block in self.blocks:
            state = block(state)  # [n, w], L1 .. LB
        return self.head(state)  # [n, n_classes]


@dataclass
class TrainConfig:
    """SGD training of a ResMLP: a triangular learning-rate cycle peaking at ``lr``."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    rise_fraction: float = 0.2
    clip_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.lr < 0:
            raise ValueError(
                f"{self}: need epochs >= 1, batch_size >= 2 (BatchNorm) and lr >= 0"
            )


def complete_arch(arch: dict, X: np.ndarray, y: np.ndarray) -> dict:
    """Add ``d_in`` (from X [n, d]) and ``n_classes`` (max label + 1) to ``arch``."""
    arch = dict(arch)
    arch.setdefault("d_in", int(X.shape[1]))
    arch.setdefault("n_classes", int(np.max(y)) + 1)
    if arch["d_in"] != X.shape[1]:
        raise ValueError(f"arch d_in is {arch['d_in']} but X has {X.shape[1]} features")
    return arch


def sgd_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.SGD:
    """SGD with weight decay on the weight matrices only (not biases or BN)."""
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    groups = [
        {"params": matrices, "weight_decay": train.weight_decay},
        {"params": others, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum, foreach=True)


def _select_classes(
    X: np.ndarray, y: np.ndarray, class_subset: list[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the samples whose label is in ``class_subset`` (all when None)."""
    if class_subset is None:
        return X, y
    keep = np.isin(y, list(class_subset))
    if not keep.any():
        raise ValueError(
            f"class_subset {list(class_subset)} selects no training sample"
        )
    return X[keep], y[keep]


def _train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: torch.Tensor,
    y: torch.Tensor,
    train: TrainConfig,
    generator: torch.Generator,
) -> tuple[float, float]:
    """One pass over shuffled batches; returns mean loss and training accuracy."""
    model.train()
    parameters = list(model.parameters())
    order = torch.randperm(len(y), generator=generator).to(X.device)  # [n]
    loss_sum = torch.zeros((), device=X.device)
    correct = torch.zeros((), dtype=torch.long, device=X.device)
    seen = 0
    for batch in order.split(train.batch_size):
        if len(batch) < 2:  # BatchNorm cannot train on a single sample
            continue
        logits = model(X[batch])  # [b, classes]
        loss = F.cross_entropy(logits, y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, train.clip_norm, foreach=True)
        optimizer.step()
        loss_sum += loss.detach() * len(batch)
        correct += (logits.detach().argmax(1) == y[batch]).sum()
        seen += len(batch)
    return loss_sum.item() / seen, correct.item() / seen


def train_network(
    X: np.ndarray,
    y: np.ndarray,
    arch: dict,
    train: TrainConfig,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
    class_subset: list[int] | None = None,
    context: str = "",
) -> tuple[ResMLP, pd.DataFrame]:
    """Train a ResMLP on X [n, d] float32, y [n] int64 with SGD (spec section 2).

    ``arch`` holds the ResMLP arguments; ``d_in`` and ``n_classes`` default to the
    data's (n_classes from all of y, before any class selection). With
    ``class_subset`` only samples of those classes are trained on; the head still
    has a logit for every class. The same seed gives the same weights on one device.
    A non-finite loss or weight stops training with :class:`NetworkDivergenceError`
    naming ``context`` (dataset, say), the seed and the epoch.

    Returns the model in eval mode and a history with one row per epoch: epoch,
    loss (mean cross-entropy), train_accuracy (in train mode, during the epoch),
    lr, seconds (wall time of the epoch).
    """
    device = torch.device(device)
    arch = complete_arch(arch, X, y)
    X, y = _select_classes(X, y, class_subset)
    generator = seed_everything(seed)
    model = ResMLP(**arch).to(device)
    optimizer = sgd_optimizer(model, train)
    schedule = triangular_schedule(optimizer, train.epochs, train.rise_fraction)
    X_device = torch.as_tensor(X, dtype=torch.float32, device=device)  # [n, d]
    y_device = torch.as_tensor(y, dtype=torch.long, device=device)  # [n]
    rows = []
    bar = tqdm(range(train.epochs), desc=f"train seed {seed}", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss, accuracy = _train_epoch(
            model, optimizer, X_device, y_device, train, generator
        )
        schedule.step()
        _check_divergence(model, loss, lr, epoch, train.epochs, seed, context)
        rows.append((epoch, loss, accuracy, lr, time.perf_counter() - start))
        bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)
    model.eval()
    columns = ["epoch", "loss", "train_accuracy", "lr", "seconds"]
    history = pd.DataFrame(rows, columns=columns)
    log.info(
        "trained seed %d: %d epochs, loss %.4f, train accuracy %.4f, %.1f s",
        seed,
        train.epochs,
        loss,
        accuracy,
        history.seconds.sum(),
    )
    return model, history


def _check_divergence(model, loss, lr, epoch, epochs, seed, context) -> None:
    """Raise NetworkDivergenceError if the loss or any weight or buffer is not finite."""
    bad = [
        name
        for name, value in model.state_dict().items()
        if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if np.isfinite(loss) and not bad:
        return
    problem = f"non-finite loss {loss}" if not np.isfinite(loss) else "finite loss"
    if bad:
        problem += f", non-finite {', '.join(bad[:3])}" + ", ..." * (len(bad) > 3)
    raise NetworkDivergenceError(
        f"{context or 'network training'}: diverged at epoch {epoch + 1} of {epochs} "
        f"({problem}, lr {lr:.3g}, seed {seed}); no model was kept. Lower the "
        "training lr or check the inputs for outliers."
    )


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    X: np.ndarray,
    device: str | torch.device = "cpu",
    batch_size: int = 4096,
) -> np.ndarray:
    """Logits float32 [n, n_classes] of X [n, d] in eval mode (mode restored after)."""
    was_training = model.training
    model.eval()
    try:
        X_device = torch.as_tensor(X, dtype=torch.float32, device=device)
        parts = [model(chunk) for chunk in X_device.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).cpu().numpy()


def classification_metrics(
    y: np.ndarray, predictions: np.ndarray, n_classes: int
) -> dict:
    """Accuracy, balanced accuracy (mean recall over the classes present) and per-class
    accuracy (NaN for a class absent from y) of int labels y [n] and predictions [n]."""
    y = np.asarray(y)
    predictions = np.asarray(predictions, dtype=np.int64)
    per_class = []
    for c in range(n_classes):
        members = y == c
        recall = (predictions[members] == c).mean() if members.any() else np.nan
        per_class.append(float(recall))
    return {
        "accuracy": float((predictions == y).mean()),
        "balanced_accuracy": float(np.nanmean(per_class)),
        "per_class_accuracy": per_class,
        "predictions": predictions,
    }


def evaluate(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    device: str | torch.device = "cpu",
) -> dict:
    """Accuracy, balanced_accuracy, per_class_accuracy (list) and predictions [n]."""
    logits = predict_logits(model, X, device)
    return classification_metrics(y, logits.argmax(1), n_classes)


def save_network(
    model: ResMLP,
    path: str | os.PathLike,
    arch: dict | None = None,
    train_config: TrainConfig | dict | None = None,
) -> None:
    """Store the weights (safetensors) with the architecture and training config.

    ``arch`` defaults to the model's own; it must build a network of the same shapes.
    """
    arch = dict(model.arch if arch is None else arch)
    if isinstance(train_config, TrainConfig):
        train_config = asdict(train_config)
    expected = {k: v.shape for k, v in ResMLP(**arch).state_dict().items()}
    actual = {k: v.shape for k, v in model.state_dict().items()}
    if expected != actual:
        raise ValueError(f"arch {arch} does not describe the model being saved")
    metadata = {"format": "repdyn.ResMLP", "arch": arch, "train_config": train_config}
    write_tensors(path, model.state_dict(), metadata)


def load_network(path: str | os.PathLike, device: str | torch.device = "cpu") -> ResMLP:
    """Rebuild a network stored by :func:`save_network`, in eval mode on ``device``."""
    tensors, metadata = read_tensors(path)
    if metadata.get("format") != "repdyn.ResMLP" or "arch" not in metadata:
        raise corrupt(path, "no ResMLP architecture in the metadata")
    try:
        model = ResMLP(**metadata["arch"])
        model.load_state_dict(tensors, strict=True)
    except (RuntimeError, TypeError, ValueError) as err:
        raise corrupt(
            path, f"weights do not fit the stored architecture ({err})"
        ) from err
    floats = [t for t in tensors.values() if t.is_floating_point()]
    if not all(torch.isfinite(t).all() for t in floats):
        raise corrupt(path, "weights hold NaN or inf")
    return model.to(device).eval()


def linear_baseline(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray
) -> dict:
    """Multinomial logistic regression on the raw inputs: a floor for every network.

    Returns accuracy, balanced_accuracy, per_class_accuracy and predictions on the test
    data, and the fitting time in seconds.
    """
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    classifier = LogisticRegression(max_iter=2000).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    n_classes = int(max(np.max(y_train), np.max(y_test))) + 1
    metrics = classification_metrics(y_test, classifier.predict(X_test), n_classes)
    return {**metrics, "seconds": seconds}
