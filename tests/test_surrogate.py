"""Surrogate classifier: the network's ends around a predictor of the last state."""

import numpy as np
import pytest
import torch

from repdyn.koopman import KoopmanAutoencoder, KoopmanConfig, LinearOperatorBaseline
from repdyn.networks import ResMLP
from repdyn.preprocessing import StatePreprocessor
from repdyn.surrogate import surrogate_logits, surrogate_metrics

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def network() -> ResMLP:
    """An untrained ResMLP with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(0)
    model = ResMLP(d_in=2, width=8, n_blocks=3, n_classes=3)
    model.train()
    with torch.no_grad():
        for _ in range(20):  # move the BatchNorm running statistics off their defaults
            model(torch.rand(256, 2) * 3.0)
    return model.eval()


@pytest.fixture(scope="module")
def inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(400, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=400)
    return X, y


def network_states(network: ResMLP, X: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        state = network.input_projection(torch.from_numpy(X))
        states = {"L0": state.numpy()}
        for i, block in enumerate(network.blocks, start=1):
            state = block(state)
            states[f"L{i}"] = state.numpy()
    return states


class OraclePredictor:
    """Knows the true preprocessed last state of the inputs it was built for."""

    def __init__(self, Z0: np.ndarray, ZL: np.ndarray):
        self.Z0, self.ZL = Z0, ZL

    def predict(self, Z0: np.ndarray) -> np.ndarray:
        np.testing.assert_array_equal(Z0, self.Z0)
        return self.ZL


def test_an_exact_predictor_reproduces_the_network(network, inputs):
    X, y = inputs
    states = network_states(network, X)
    pre = StatePreprocessor().fit(states)
    oracle = OraclePredictor(
        pre.transform_layer("L0", states["L0"]), pre.transform_layer("L3", states["L3"])
    )
    with torch.no_grad():
        expected = network(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(
        surrogate_logits(network, pre, oracle, X, "cpu"), expected, atol=1e-4
    )

    metrics = surrogate_metrics(network, pre, oracle, X, y, 3, "cpu")
    assert metrics["agreement"] == 1.0
    assert metrics["accuracy"] == metrics["network_accuracy"]
    assert metrics["accuracy"] == np.mean(expected.argmax(1) == y)
    assert metrics["state_fvu"] < 1e-8


def test_metrics_of_the_linear_baseline_match_a_direct_computation(network, inputs):
    X, y = inputs
    states = network_states(network, X)
    pre = StatePreprocessor().fit(states)
    Z = pre.transform(states)
    baseline = LinearOperatorBaseline().fit(Z["L0"], Z["L3"])
    metrics = surrogate_metrics(network, pre, baseline, X, y, 3, "cpu")

    last = pre.inverse_last(baseline.predict(Z["L0"]))
    with torch.no_grad():
        labels = network.head(torch.from_numpy(last)).numpy().argmax(1)
        network_labels = network(torch.from_numpy(X)).numpy().argmax(1)
    residual = np.sum((last.astype(np.float64) - states["L3"]) ** 2)
    total = np.sum((states["L3"] - states["L3"].mean(0)) ** 2)
    assert metrics["accuracy"] == pytest.approx(np.mean(labels == y))
    assert metrics["agreement"] == pytest.approx(np.mean(labels == network_labels))
    assert metrics["state_fvu"] == pytest.approx(residual / total, rel=1e-4)
    recalls = [np.mean(labels[y == c] == c) for c in range(3)]
    assert metrics["per_class_accuracy"] == pytest.approx(recalls)
    assert metrics["balanced_accuracy"] == pytest.approx(np.mean(recalls))
    assert metrics["n"] == 400


def test_absent_class_is_nan_and_left_out_of_balanced_accuracy(network, inputs):
    X, y = inputs
    states = network_states(network, X)
    pre = StatePreprocessor().fit(states)
    Z = pre.transform(states)
    baseline = LinearOperatorBaseline().fit(Z["L0"], Z["L3"])
    metrics = surrogate_metrics(network, pre, baseline, X, y, 4, "cpu")
    assert np.isnan(metrics["per_class_accuracy"][3])
    assert metrics["balanced_accuracy"] == pytest.approx(
        np.mean(metrics["per_class_accuracy"][:3])
    )


def test_network_mode_is_restored_and_eval_mode_is_used(network, inputs):
    X, _ = inputs
    states = network_states(network, X)
    pre = StatePreprocessor().fit(states)
    baseline = LinearOperatorBaseline().fit(
        pre.transform_layer("L0", states["L0"]), pre.transform_layer("L3", states["L3"])
    )
    expected = surrogate_logits(network, pre, baseline, X, "cpu")
    network.train()
    try:
        np.testing.assert_array_equal(
            surrogate_logits(network, pre, baseline, X, "cpu"), expected
        )
        assert network.training
    finally:
        network.eval()


def test_koopman_surrogate_end_to_end(network, inputs):
    """A briefly trained KAE gives logits of the right shape and sane metrics."""
    X, y = inputs
    states = network_states(network, X)
    pre = StatePreprocessor().fit(states)
    Z = pre.transform(states)
    config = KoopmanConfig(
        hidden=16, n_observables=10, k=5, epochs=40, batch_size=128, lr=0.01
    )
    kae = KoopmanAutoencoder(config, seed=1).fit(Z["L0"], Z["L3"], progress=False)
    logits = surrogate_logits(network, pre, kae, X, "cpu")
    assert logits.shape == (400, 3) and logits.dtype == np.float32
    metrics = surrogate_metrics(network, pre, kae, X, y, 3, "cpu")
    assert metrics["state_fvu"] < 0.2
    assert metrics["agreement"] > 0.8
