"""Class unlearning: a closed-form edit of the surrogate's operator, and baselines.

The surrogate predicts the last state as ``decode(encode(z0) @ A)`` with ``A`` the
k-step operator in row convention. Unlearning works in observable space:
``Phi = encode(z0)`` of the training inputs (rows) and ``Y = Phi @ A`` their
advanced observables (spec section 7).

1. ``select_forget_set``: the training rows to forget (the class's samples, or every
   training point inside the ball around the class medoid in Y space that covers
   the whole class).
2. ``choose_targets``: where each forget row's advanced observable should go.
3. ``edit_operator``: ``A' = A + Delta``, the key-value editing update that moves
   forget outputs to their targets while keeping the outputs of the kept rows.
4. ``EditedOperator`` puts ``A'`` into the surrogate; ``repdyn.surrogate`` does the rest.

Network baselines (retrain from scratch, fine-tune, gradient ascent) and the metrics
(forget accuracy, retain balanced accuracy, an entropy-based membership-inference
attack) are measured the same way for every method, on held-out data.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from tqdm.auto import tqdm

from repdyn.networks import predict_logits, train_network
from repdyn.surrogate import first_states, head_logits, surrogate_logits

logger = logging.getLogger(__name__)

SELECTIONS = ("label", "medoid_ball")
TARGETS = ("shift", "nearest_kept", "common")
_CHUNK = 2048  # rows per block of a distance matrix, bounds memory at ~2048 x n


@dataclass
class EditConfig:
    """How the operator edit is made (the ``unlearning`` keys of the config).

    ridge_fraction: rho as a fraction of trace(C^T C) / dimension, so it does not
    depend on the scale of the observables. The defaults (label selection, shift
    targets, 1e-3) were the best of a grid of selections, targets and ridges on
    held-out data of both datasets (Yin-Yang validation split, MNIST test split):
    every Yin-Yang class and MNIST digit 4 forgotten down to a few percent with the
    kept classes unchanged. Per-sample and common targets ask the linear operator to
    scatter or collapse the forget outputs, which it cannot do without moving the
    kept outputs; a shift asks only for a rank-one change.
    correct_targets_only: for nearest_kept and common targets, take targets only
    from kept samples that the unedited surrogate classifies correctly, so no forget
    sample is sent to an output that still reads as the forgotten class. A shift
    lands on a class mean, not on one kept output; it skips the restriction (and
    the surrogate pass over the training set it costs), which made no difference
    on held-out data.
    """

    selection: str = "label"
    targets: str = "shift"
    ridge_fraction: float = 1e-3
    correct_targets_only: bool = True


@dataclass
class BaselineConfig:
    """Settings of the network-level baselines (fine-tune and gradient ascent)."""

    finetune_epochs: int = 20
    finetune_lr: float = 1e-2
    batch_size: int = 128
    ascent_max_steps: int = 200
    ascent_lr: float = 5e-3
    ascent_batch_size: int = 64
    ascent_interleave: bool = True
    momentum: float = 0.9
    clip_norm: float = 1.0


# --------------------------------------------------------------------------------------
# Forget set, targets and the closed-form edit (pure linear algebra)
# --------------------------------------------------------------------------------------


def squared_distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``[q, n]`` between rows, by matrix products."""
    squared = (
        (queries**2).sum(1)[:, None] - 2.0 * queries @ points.T + (points**2).sum(1)
    )
    return np.maximum(squared, 0.0)


def class_medoid(points: np.ndarray) -> int:
    """Index of the medoid of ``points[n, p]``: least summed distance to the others."""
    points = np.asarray(points, dtype=np.float64)
    summed = np.empty(len(points))
    for start in range(0, len(points), _CHUNK):
        block = points[start : start + _CHUNK]
        distances = np.sqrt(squared_distances(block, points))
        summed[start : start + len(block)] = distances.sum(axis=1)
    return int(np.argmin(summed))


def select_forget_set(
    Y: np.ndarray, y: np.ndarray, forget_class: int, method: str = "medoid_ball"
) -> np.ndarray:
    """Boolean mask ``[n]`` of the training rows to forget.

    Y: advanced observables ``[n, p]`` of the training inputs; y: labels ``[n]``.
    ``label`` takes the samples of ``forget_class``. ``medoid_ball`` takes every
    training point within the radius of the class medoid (in Y space) that covers
    the whole class, so kept-class points inside that ball are forgotten too.
    """
    y = np.asarray(y)
    in_class = y == forget_class
    if not in_class.any():
        raise ValueError(f"no training sample has the forget class {forget_class}")
    if method == "label":
        return in_class
    if method != "medoid_ball":
        raise ValueError(f"unknown selection {method!r}; choose one of {SELECTIONS}")

    Y = np.asarray(Y, dtype=np.float64)
    members = Y[in_class]
    centre = members[class_medoid(members)]
    distances = np.linalg.norm(Y - centre, axis=1)
    radius = distances[in_class].max()
    return distances <= radius


def _nearest_rows(queries: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Index into ``pool[m, p]`` of the nearest row to each of ``queries[q, p]``."""
    nearest = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), _CHUNK):
        block = queries[start : start + _CHUNK]
        nearest[start : start + len(block)] = squared_distances(block, pool).argmin(1)
    return nearest


def choose_targets(
    Y: np.ndarray,
    forget_mask: np.ndarray,
    y: np.ndarray,
    forget_class: int,
    method: str = "shift",
    eligible: np.ndarray | None = None,
) -> np.ndarray:
    """Target advanced observables ``T[m, p]`` for the forget rows, in row order.

    Kept rows are those outside the forget set, not of the forgotten class and, when
    the bool mask ``eligible[n]`` is given, eligible (e.g. correctly classified).
    ``shift``: every forget row moves by one vector, from the forget rows' mean to
    the mean of the nearest kept class (nearest by class mean, in Y space); the
    forget set keeps its shape and lands on a kept class, and the residual
    ``T - Y[forget]`` has rank one.
    ``nearest_kept``: each forget row gets the advanced observable of the kept row
    nearest to it in Y space (the smallest move that lands on a kept output).
    ``common``: every forget row gets one target, the advanced observable of the kept
    row nearest to the forget set's centroid in Y space; a real kept output, unlike
    the mean of the kept outputs, which lies between classes.
    """
    Y = np.asarray(Y, dtype=np.float64)
    forget_mask = np.asarray(forget_mask, dtype=bool)
    kept = ~forget_mask & (np.asarray(y) != forget_class)
    if eligible is not None:
        kept &= np.asarray(eligible, dtype=bool)
    if not kept.any():
        raise ValueError(
            "the forget set covers every kept sample; no target is left. Use the "
            "label selection or check the observables"
        )
    pool = Y[kept]
    if method == "shift":
        centroid = Y[forget_mask].mean(axis=0)
        classes = np.unique(np.asarray(y)[kept])
        means = np.stack([Y[kept & (np.asarray(y) == c)].mean(axis=0) for c in classes])
        nearest = means[np.linalg.norm(means - centroid, axis=1).argmin()]
        return Y[forget_mask] + (nearest - centroid)
    if method == "nearest_kept":
        return pool[_nearest_rows(Y[forget_mask], pool)]
    if method == "common":
        centroid = Y[forget_mask].mean(axis=0, keepdims=True)
        target = pool[_nearest_rows(centroid, pool)]
        return np.repeat(target, forget_mask.sum(), axis=0)
    raise ValueError(f"unknown target method {method!r}; choose one of {TARGETS}")


def edit_operator(
    A: np.ndarray,
    Phi: np.ndarray,
    forget_mask: np.ndarray,
    targets: np.ndarray,
    ridge_fraction: float,
) -> tuple[np.ndarray, dict]:
    """Closed-form edit ``A' = A + Delta`` of the row-convention operator ``A[p, p]``.

    Phi: observables ``[n, p]`` of the training inputs; forget_mask: ``[n]`` bool;
    targets: ``[m, p]`` for the m forget rows. With H = Phi[forget], C = Phi[kept],
    Ct = C^T C + rho I and R = T - H A:

        Delta = Ct^-1 H^T (H Ct^-1 H^T + rho I)^-1 R,

    the minimiser of ||C Delta||^2 + rho ||Delta||^2 + ||H Delta - R||^2 / rho. As
    rho -> 0 the forget outputs hit their targets and the kept outputs stay where
    they were; a large rho shrinks the edit to nothing. rho = ridge_fraction *
    trace(C^T C) / p. As in the study's formula one rho plays both parts, so the
    ridge is relative to the data but the weight of the forget residual is not.
    Solved with Cholesky factorisations in float64, no explicit inverse, in the
    smaller of two equal forms: the m x m system above when there are at most p
    forget rows, else the p x p system of the push-through identity
    Delta = (H^T H + rho Ct)^-1 H^T R (thousands of forget rows cost no more
    than a few).

    Returns A' (A's dtype) and a dict with rho, sizes, seconds and fit diagnostics.
    """
    start = time.perf_counter()
    A64 = np.asarray(A, dtype=np.float64)
    Phi = np.asarray(Phi, dtype=np.float64)
    forget_mask = np.asarray(forget_mask, dtype=bool)
    H, C = Phi[forget_mask], Phi[~forget_mask]
    targets = np.asarray(targets, dtype=np.float64)
    _check_edit_shapes(A64, Phi, forget_mask, targets)

    gram = C.T @ C
    dim = A64.shape[0]
    rho = float(ridge_fraction) * float(np.trace(gram)) / dim
    residual = targets - H @ A64
    kept_system = gram + rho * np.eye(dim)  # Ct: [p, p]
    try:
        if len(H) <= dim:
            keys = cho_solve(cho_factor(kept_system), H.T)  # Ct^-1 H^T: [p, m]
            forget_factor = cho_factor(H @ keys + rho * np.eye(len(H)))
            delta = keys @ cho_solve(forget_factor, residual)  # [p, p]
        else:
            system = cho_factor(H.T @ H + rho * kept_system)  # [p, p]
            delta = cho_solve(system, H.T @ residual)  # [p, p]
    except LinAlgError as err:
        raise ValueError(
            f"the edit's normal equations are singular at rho={rho:.3g}; raise "
            "ridge_fraction"
        ) from err
    seconds = time.perf_counter() - start

    info = _edit_diagnostics(A64, delta, H, C, residual)
    info.update(
        rho=rho,
        ridge_fraction=float(ridge_fraction),
        dimension=dim,
        n_forget=len(H),
        n_kept=len(C),
        seconds=seconds,
    )
    return (A64 + delta).astype(np.asarray(A).dtype), info


def _check_edit_shapes(A, Phi, forget_mask, targets) -> None:
    p = A.shape[0]
    if A.shape != (p, p) or Phi.ndim != 2 or Phi.shape[1] != p:
        raise ValueError(
            f"operator {A.shape} and observables {Phi.shape} do not match; need "
            "A[p, p] and Phi[n, p]"
        )
    if forget_mask.shape != (len(Phi),):
        raise ValueError(
            f"forget_mask has shape {forget_mask.shape}, need ({len(Phi)},)"
        )
    m = int(forget_mask.sum())
    if m == 0 or m == len(Phi):
        raise ValueError(f"the forget set has {m} of {len(Phi)} rows; need 0 < m < n")
    if targets.shape != (m, p):
        raise ValueError(f"targets have shape {targets.shape}, need ({m}, {p})")


def _edit_diagnostics(A, delta, H, C, residual) -> dict:
    """Relative sizes: forget residual left, kept output change, operator change."""
    residual_norm = np.linalg.norm(residual)
    kept_norm = np.linalg.norm(C @ A)
    return {
        "forget_residual_before": float(residual_norm),
        "forget_residual_after_relative": float(
            np.linalg.norm(residual - H @ delta) / max(residual_norm, 1e-300)
        ),
        "kept_change_relative": float(
            np.linalg.norm(C @ delta) / max(kept_norm, 1e-300)
        ),
        "operator_change_relative": float(
            np.linalg.norm(delta) / max(np.linalg.norm(A), 1e-300)
        ),
    }


def edit_observables(
    Phi: np.ndarray,
    A: np.ndarray,
    y: np.ndarray,
    forget_class: int,
    config: EditConfig,
    eligible: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Select, choose targets and edit in one go; returns (A', forget_mask, info).

    ``eligible[n]`` (bool) limits the rows targets may come from; see
    :func:`choose_targets`. ``info['seconds_select_target_edit']`` times the three
    steps together, ``info['seconds']`` the edit alone.
    """
    start = time.perf_counter()
    Y = np.asarray(Phi, dtype=np.float64) @ np.asarray(A, dtype=np.float64)
    forget_mask = select_forget_set(Y, y, forget_class, config.selection)
    targets = choose_targets(Y, forget_mask, y, forget_class, config.targets, eligible)
    edited, info = edit_operator(A, Phi, forget_mask, targets, config.ridge_fraction)
    info["seconds_select_target_edit"] = time.perf_counter() - start
    info["n_forget_other_classes"] = int(
        (forget_mask & (np.asarray(y) != forget_class)).sum()
    )
    return edited, forget_mask, info


# --------------------------------------------------------------------------------------
# Metrics: per-class accuracy, forget and retain accuracy, membership inference
# --------------------------------------------------------------------------------------


def prediction_entropy(logits: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) ``[n]`` of the softmax of ``logits[n, c]``."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    return -(np.exp(log_p) * log_p).sum(axis=1)


def _entropy_feature(entropy: np.ndarray) -> np.ndarray:
    """Log entropy as a column; confident members crowd near 0 on a linear scale."""
    return np.log(np.asarray(entropy, dtype=np.float64) + 1e-12)[:, None]


def membership_inference(
    reference_members: np.ndarray,
    reference_nonmembers: np.ndarray,
    members: np.ndarray,
    nonmembers: np.ndarray,
) -> dict:
    """Entropy-based membership-inference attack; every argument is entropies ``[n]``.

    A logistic regression on log entropy (balanced class weights) learns to tell
    training samples (``reference_members``) from held-out ones
    (``reference_nonmembers``); it is then applied to ``members`` (training samples
    of the forget class) against ``nonmembers`` (its held-out samples). AUC and
    balanced accuracy of 0.5 mean the attack cannot tell them apart.
    """
    features = _entropy_feature(
        np.concatenate([reference_members, reference_nonmembers])
    )
    labels = np.r_[np.ones(len(reference_members)), np.zeros(len(reference_nonmembers))]
    attack = LogisticRegression(class_weight="balanced").fit(features, labels)

    probe = _entropy_feature(np.concatenate([members, nonmembers]))
    truth = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    return {
        "auc": float(roc_auc_score(truth, attack.predict_proba(probe)[:, 1])),
        "balanced_accuracy": float(
            balanced_accuracy_score(truth, attack.predict(probe))
        ),
        "reference_auc": float(
            roc_auc_score(labels, attack.predict_proba(features)[:, 1])
        ),
        "member_entropy_median": float(np.median(members)),
        "nonmember_entropy_median": float(np.median(nonmembers)),
    }


def per_class_accuracy(predictions: np.ndarray, y: np.ndarray, n_classes: int) -> list:
    """Accuracy of each class ``[n_classes]``; NaN for a class without samples."""
    from repdyn.networks import classification_metrics

    return classification_metrics(y, predictions, n_classes)["per_class_accuracy"]


def unlearning_metrics(
    logits_train: np.ndarray,
    y_train: np.ndarray,
    logits_test: np.ndarray,
    y_test: np.ndarray,
    forget_class: int,
    n_classes: int,
) -> dict:
    """Forgetting and retention of one model, measured on held-out data.

    logits_*: ``[n, n_classes]``. Accuracies are on the test split except
    ``forget_train_accuracy``. ``retain_balanced_accuracy`` is the mean per-class test
    accuracy over the kept classes. The membership-inference attack is fitted on the
    kept classes (train vs test) and scored on the forget class.
    """
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    per_class = per_class_accuracy(logits_test.argmax(1), y_test, n_classes)
    kept = [c for c in range(n_classes) if c != forget_class]
    train_entropy = prediction_entropy(logits_train)
    test_entropy = prediction_entropy(logits_test)
    forget_train, forget_test = y_train == forget_class, y_test == forget_class
    return {
        "accuracy": float((logits_test.argmax(1) == y_test).mean()),
        "per_class_accuracy": per_class,
        "forget_accuracy": per_class[forget_class],
        "forget_train_accuracy": float(
            (logits_train[forget_train].argmax(1) == forget_class).mean()
        ),
        "retain_balanced_accuracy": float(np.nanmean([per_class[c] for c in kept])),
        "membership_inference": membership_inference(
            train_entropy[~forget_train],
            test_entropy[~forget_test],
            train_entropy[forget_train],
            test_entropy[forget_test],
        ),
    }


def unlearning_report(
    method: str,
    before: dict,
    after: dict,
    seconds: float,
    context: dict,
    details: dict | None = None,
) -> dict:
    """One JSON-ready record per (dataset, network seed, KAE seed, forget class, method).

    before/after: :func:`unlearning_metrics` of the model before and after unlearning;
    context: dataset, seeds and forget class; details: method settings and diagnostics.
    """
    return {
        **context,
        "method": method,
        "seconds": float(seconds),
        "forget_accuracy_before": before["forget_accuracy"],
        "forget_accuracy_after": after["forget_accuracy"],
        "retain_balanced_accuracy_before": before["retain_balanced_accuracy"],
        "retain_balanced_accuracy_after": after["retain_balanced_accuracy"],
        "retain_drop": before["retain_balanced_accuracy"]
        - after["retain_balanced_accuracy"],
        "mia_auc_before": before["membership_inference"]["auc"],
        "mia_auc_after": after["membership_inference"]["auc"],
        "before": before,
        "after": after,
        "details": details or {},
    }


# --------------------------------------------------------------------------------------
# The edited surrogate
# --------------------------------------------------------------------------------------


class EditedOperator:
    """A surrogate predictor with the k-step operator replaced by ``operator[q, q]``.

    ``predict(Z0)`` is ``decode(encode(Z0) @ operator)``; with the unedited
    ``kae.operator_matrix(k)`` it reproduces ``kae.predict``. Pass it as the predictor
    of ``repdyn.surrogate.surrogate_logits`` or ``surrogate_metrics``.
    """

    def __init__(self, kae, operator: np.ndarray):
        self.kae = kae
        self.operator = np.asarray(operator, dtype=np.float32)

    def predict(self, Z0: np.ndarray) -> np.ndarray:
        """Predicted preprocessed last states ``[n, p]`` for ``Z0[n, p]``."""
        return self.predict_from_observables(self.kae.encode(Z0))

    def predict_from_observables(self, Phi: np.ndarray) -> np.ndarray:
        """Predicted preprocessed last states ``[n, p]`` for observables ``Phi[n, q]``."""
        return self.kae.decode(Phi @ self.operator)


def initial_observables(
    network, preprocessor, kae, X: np.ndarray, device
) -> np.ndarray:
    """Observables ``phi(z0)`` ``[n, q]`` of network inputs ``X[n, d]``."""
    return kae.encode(first_states(network, preprocessor, X, device))


def surrogate_unlearning_metrics(
    network, preprocessor, kae, operator: np.ndarray, dataset, forget_class: int, device
) -> dict:
    """:func:`unlearning_metrics` of the surrogate running on ``operator``."""
    predictor = EditedOperator(kae, operator)
    return unlearning_metrics(
        surrogate_logits(network, preprocessor, predictor, dataset.X_train, device),
        dataset.y_train,
        surrogate_logits(network, preprocessor, predictor, dataset.X_test, device),
        dataset.y_test,
        forget_class,
        dataset.n_classes,
    )


def surrogate_unlearning(
    network,
    preprocessor,
    kae,
    dataset,
    forget_class: int,
    context: dict,
    config: EditConfig | None = None,
    device="cpu",
    Z0_train: np.ndarray | None = None,
) -> tuple[dict, dict]:
    """Edit the surrogate's k-step operator to forget ``forget_class``.

    ``Z0_train[n, p]``: the preprocessed first states of the training inputs, as the
    workflow caches them; computed through the network when not given.

    Returns the :func:`unlearning_report` (method ``operator_edit``) and the arrays
    worth keeping: the operator before and after and the forget mask. The report's
    seconds cover the whole procedure (encoding the training states, the unedited
    surrogate's training predictions, selection, targets, edit), not the metrics.
    """
    config = config or EditConfig()
    start = time.perf_counter()
    operator = kae.operator_matrix(kae.config.k)  # [q, q]
    if Z0_train is None:
        Z0_train = first_states(network, preprocessor, dataset.X_train, device)
    Phi = kae.encode(Z0_train)  # [n, q]
    eligible = None
    if config.correct_targets_only and config.targets != "shift":
        predicted = EditedOperator(kae, operator).predict_from_observables(Phi)
        logits = head_logits(network, preprocessor, predicted, device)
        eligible = logits.argmax(1) == dataset.y_train
    edited, forget_mask, info = edit_observables(
        Phi, operator, dataset.y_train, forget_class, config, eligible
    )
    seconds = time.perf_counter() - start

    args = (network, preprocessor, kae)
    before = surrogate_unlearning_metrics(
        *args, operator, dataset, forget_class, device
    )
    after = surrogate_unlearning_metrics(*args, edited, dataset, forget_class, device)
    logger.info(
        "operator edit (%s, %s, ridge %.3g) forget class %d: forget accuracy "
        "%.4f -> %.4f, retain %.4f -> %.4f, %.3f s",
        config.selection,
        config.targets,
        config.ridge_fraction,
        forget_class,
        before["forget_accuracy"],
        after["forget_accuracy"],
        before["retain_balanced_accuracy"],
        after["retain_balanced_accuracy"],
        seconds,
    )
    details = {"config": asdict(config), **info}
    report = unlearning_report(
        "operator_edit", before, after, seconds, context, details
    )
    arrays = {
        "operator": operator,
        "edited_operator": edited,
        "forget_mask": forget_mask,
    }
    return report, arrays


# --------------------------------------------------------------------------------------
# Network baselines: retrain from scratch, fine-tune, gradient ascent
# --------------------------------------------------------------------------------------


def retrain_without_class(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    forget_class: int,
    arch: dict,
    train_config,
    seed: int,
    device="cpu",
    progress: bool = True,
) -> tuple[torch.nn.Module, float]:
    """Gold standard: train a fresh network on the kept classes only; (model, seconds)."""
    kept = [c for c in range(n_classes) if c != forget_class]
    start = time.perf_counter()
    model, _ = train_network(
        X,
        y,
        arch,
        train_config,
        seed,
        device=device,
        progress=progress,
        class_subset=kept,
    )
    return model.eval(), time.perf_counter() - start


def _tensors(X: np.ndarray, y: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.as_tensor(np.asarray(X, dtype=np.float32), device=device),
        torch.as_tensor(np.asarray(y, dtype=np.int64), device=device),
    )


def _sgd(model: torch.nn.Module, lr: float, config: BaselineConfig) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=config.momentum)


def _descent_step(model, optimizer, loss: torch.Tensor, clip_norm: float) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()


def finetune_on_kept(
    model: torch.nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    forget_class: int,
    config: BaselineConfig,
    seed: int = 0,
    device="cpu",
    progress: bool = True,
) -> tuple[torch.nn.Module, float, dict]:
    """Fine-tune a copy of ``model`` on the kept classes; (model, seconds, info).

    SGD with momentum at the constant ``finetune_lr`` for ``finetune_epochs``;
    BatchNorm statistics update (train mode) as in ordinary training.
    """
    start = time.perf_counter()
    model = copy.deepcopy(model).to(device)
    kept = np.asarray(y) != forget_class
    inputs, labels = _tensors(X[kept], y[kept], device)
    optimizer = _sgd(model, config.finetune_lr, config)
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(
        range(config.finetune_epochs), desc="fine-tune", disable=not progress
    ):
        model.train()
        order = torch.randperm(len(inputs), generator=generator).to(device)
        # a last batch of one sample would break BatchNorm in train mode
        for batch in order.split(config.batch_size):
            if len(batch) > 1:
                loss = torch.nn.functional.cross_entropy(
                    model(inputs[batch]), labels[batch]
                )
                _descent_step(model, optimizer, loss, config.clip_norm)
    info = {"epochs": config.finetune_epochs, "lr": config.finetune_lr}
    return model.eval(), time.perf_counter() - start, info


@torch.no_grad()
def _accuracy(
    model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor
) -> float:
    return float((model(inputs).argmax(1) == labels).float().mean())


def gradient_ascent(
    model: torch.nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    forget_class: int,
    n_classes: int,
    config: BaselineConfig,
    seed: int = 0,
    device="cpu",
    progress: bool = True,
) -> tuple[torch.nn.Module, float, dict]:
    """Raise the loss on the forget class of a copy of ``model``; (model, seconds, info).

    Each step ascends the cross-entropy of a forget-class batch (plus, with
    ``ascent_interleave``, descends that of a kept batch). Stops as soon as the
    forget-class training accuracy falls below 1 / n_classes (chance), or after
    ``ascent_max_steps``. The model stays in eval mode so forget-only batches do not
    overwrite the BatchNorm statistics.
    """
    start = time.perf_counter()
    model = copy.deepcopy(model).to(device).eval()
    in_class = np.asarray(y) == forget_class
    forget_x, forget_y = _tensors(X[in_class], y[in_class], device)
    kept_x, kept_y = _tensors(X[~in_class], y[~in_class], device)
    optimizer = _sgd(model, config.ascent_lr, config)
    generator = torch.Generator().manual_seed(seed)
    size = config.ascent_batch_size

    steps = 0
    accuracy = _accuracy(model, forget_x, forget_y)
    bar = tqdm(
        total=config.ascent_max_steps, desc="gradient ascent", disable=not progress
    )
    while accuracy >= 1.0 / n_classes and steps < config.ascent_max_steps:
        batch = torch.randint(len(forget_x), (size,), generator=generator).to(device)
        loss = -torch.nn.functional.cross_entropy(
            model(forget_x[batch]), forget_y[batch]
        )
        if config.ascent_interleave:
            batch = torch.randint(len(kept_x), (size,), generator=generator).to(device)
            loss = loss + torch.nn.functional.cross_entropy(
                model(kept_x[batch]), kept_y[batch]
            )
        _descent_step(model, optimizer, loss, config.clip_norm)
        steps += 1
        accuracy = _accuracy(model, forget_x, forget_y)
        bar.update(1)
    bar.close()

    info = {
        "steps": steps,
        "stopped_at_chance": accuracy < 1.0 / n_classes,
        "forget_train_accuracy": accuracy,
        "lr": config.ascent_lr,
        "interleave": config.ascent_interleave,
    }
    return model, time.perf_counter() - start, info


NETWORK_METHODS = ("retrain", "finetune", "gradient_ascent")


def network_metrics(model: torch.nn.Module, dataset, forget_class: int, device) -> dict:
    """:func:`unlearning_metrics` of a network on a ``repdyn.data.Dataset``."""
    return unlearning_metrics(
        predict_logits(model, dataset.X_train, device),
        dataset.y_train,
        predict_logits(model, dataset.X_test, device),
        dataset.y_test,
        forget_class,
        dataset.n_classes,
    )


def network_unlearning(
    method: str,
    network: torch.nn.Module,
    dataset,
    forget_class: int,
    context: dict,
    config: BaselineConfig | None = None,
    arch: dict | None = None,
    train_config=None,
    seed: int = 0,
    device="cpu",
    progress: bool = True,
) -> dict:
    """Run one network baseline and return its :func:`unlearning_report`.

    method: ``retrain`` (needs ``arch`` and ``train_config``, a
    ``repdyn.networks.TrainConfig``), ``finetune`` or ``gradient_ascent`` (both
    start from ``network``; ``config`` sets them). ``before`` is the trained network.
    """
    config = config or BaselineConfig()
    X, y = dataset.X_train, dataset.y_train
    if method == "retrain":
        if arch is None or train_config is None:
            raise ValueError("the retrain baseline needs arch and train_config")
        model, seconds = retrain_without_class(
            X,
            y,
            dataset.n_classes,
            forget_class,
            arch,
            train_config,
            seed,
            device,
            progress,
        )
        details = {"train_config": asdict(train_config), "seed": seed}
    elif method == "finetune":
        model, seconds, details = finetune_on_kept(
            network, X, y, forget_class, config, seed, device, progress
        )
    elif method == "gradient_ascent":
        model, seconds, details = gradient_ascent(
            network,
            X,
            y,
            forget_class,
            dataset.n_classes,
            config,
            seed,
            device,
            progress,
        )
    else:
        raise ValueError(
            f"unknown baseline {method!r}; choose one of {NETWORK_METHODS}"
        )

    before = network_metrics(network, dataset, forget_class, device)
    after = network_metrics(model, dataset, forget_class, device)
    logger.info(
        "%s forget class %d: forget accuracy %.4f -> %.4f, retain %.4f -> %.4f, %.2f s",
        method,
        forget_class,
        before["forget_accuracy"],
        after["forget_accuracy"],
        before["retain_balanced_accuracy"],
        after["retain_balanced_accuracy"],
        seconds,
    )
    return unlearning_report(method, before, after, seconds, context, details)
