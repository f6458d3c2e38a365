"""The surrogate classifier: the network's own ends around a learned layer map.

An input goes through the real network up to state L0, is preprocessed, the predictor
(a Koopman autoencoder or the linear baseline) predicts the preprocessed last state,
the preprocessing of the last layer is undone, and the network's own head reads the
logits. Where the surrogate and the network disagree, the predictor is to blame.

The network needs three attributes, as ``ResMLP`` has them: ``input_projection``
(inputs to L0), ``blocks`` (L0 to the last state, in order) and ``head`` (logits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from repdyn.koopman import fraction_of_variance_unexplained
from repdyn.networks import classification_metrics
from repdyn.preprocessing import StatePreprocessor

_ROWS = 4096


def surrogate_logits(
    network: nn.Module,
    preprocessor: StatePreprocessor,
    predictor,
    X_inputs: np.ndarray,
    device="cpu",
) -> np.ndarray:
    """Surrogate logits ``[n, n_classes]`` for network inputs ``X_inputs[n, d]``.

    ``predictor`` is anything with ``predict(Z0[n, p]) -> ZL[n, p]`` working in the
    preprocessed coordinates of ``preprocessor``.
    """
    Z0 = first_states(network, preprocessor, X_inputs, device)
    return head_logits(network, preprocessor, predictor.predict(Z0), device)


def first_states(
    network: nn.Module, preprocessor: StatePreprocessor, X_inputs: np.ndarray, device
) -> np.ndarray:
    """Preprocessed first states ``Z0[n, p]`` of network inputs ``X_inputs[n, d]``."""
    first = []
    with _eval_mode(network), torch.no_grad():
        for start in range(0, len(X_inputs), _ROWS):
            rows = torch.as_tensor(X_inputs[start : start + _ROWS], dtype=torch.float32)
            first.append(network.input_projection(rows.to(device)).cpu())  # [m, w]
    first = torch.cat(first).numpy()
    return preprocessor.transform_layer(preprocessor.layer_names_[0], first)


def head_logits(
    network: nn.Module, preprocessor: StatePreprocessor, ZL: np.ndarray, device
) -> np.ndarray:
    """The network's logits ``[n, n_classes]`` for preprocessed last states ``ZL``."""
    return _head_logits(network, preprocessor.inverse_last(ZL), device)


def surrogate_metrics(
    network: nn.Module,
    preprocessor: StatePreprocessor,
    predictor,
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    device="cpu",
) -> dict:
    """Accuracy of the surrogate on inputs ``X[n, d]`` with labels ``y[n]``.

    Returns accuracy, balanced_accuracy, per_class_accuracy (NaN for a class absent
    from ``y``), agreement (fraction of inputs where surrogate and network predict
    the same class), the network's own accuracy and balanced accuracy, and
    state_fvu: the fraction of the variance of the true last state that the
    predicted last state leaves unexplained (the same in raw and preprocessed
    coordinates, since preprocessing is a shift, a rotation and one scale).
    """
    states = _network_states(network, X, device)
    predicted_last = _predicted_last_state(preprocessor, predictor, states["first"])
    surrogate_labels = _head_logits(network, predicted_last, device).argmax(axis=1)
    network_labels = states["logits"].argmax(axis=1)

    y = np.asarray(y)
    surrogate = _accuracies(surrogate_labels, y, n_classes)
    own = _accuracies(network_labels, y, n_classes)
    return {
        **surrogate,
        "agreement": float(np.mean(surrogate_labels == network_labels)),
        "network_accuracy": own["accuracy"],
        "network_balanced_accuracy": own["balanced_accuracy"],
        "state_fvu": fraction_of_variance_unexplained(predicted_last, states["last"]),
        "n": len(y),
    }


def _predicted_last_state(preprocessor, predictor, first: np.ndarray) -> np.ndarray:
    """Raw last state ``[n, w]`` predicted from the raw first state ``[n, w]``."""
    first_name = preprocessor.layer_names_[0]
    Z0 = preprocessor.transform_layer(first_name, first)
    return preprocessor.inverse_last(predictor.predict(Z0))


def _network_states(network: nn.Module, X: np.ndarray, device) -> dict:
    """The network's first state, last state and logits for inputs ``X[n, d]``."""
    parts = {"first": [], "last": [], "logits": []}
    with _eval_mode(network), torch.no_grad():
        for start in range(0, len(X), _ROWS):
            rows = torch.as_tensor(X[start : start + _ROWS], dtype=torch.float32)
            state = network.input_projection(rows.to(device))  # [m, w], L0
            parts["first"].append(state.cpu())
            for block in network.blocks:
                state = block(state)  # [m, w], L1 .. LB
            parts["last"].append(state.cpu())
            parts["logits"].append(network.head(state).cpu())
    return {name: torch.cat(chunks).numpy() for name, chunks in parts.items()}


def _head_logits(network: nn.Module, last: np.ndarray, device) -> np.ndarray:
    """The network's head applied to raw last states ``[n, w]``."""
    logits = []
    with _eval_mode(network), torch.no_grad():
        for start in range(0, len(last), _ROWS):
            rows = torch.as_tensor(last[start : start + _ROWS], dtype=torch.float32)
            logits.append(network.head(rows.to(device)).cpu())
    return torch.cat(logits).numpy()


def _accuracies(predictions: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    metrics = classification_metrics(y, predictions, n_classes)
    metrics.pop("predictions")
    return metrics


@contextlib.contextmanager
def _eval_mode(network: nn.Module) -> Iterator[None]:
    """Eval mode (frozen BatchNorm) for a block; the previous mode comes back after."""
    was_training = network.training
    network.eval()
    try:
        yield
    finally:
        network.train(was_training)
