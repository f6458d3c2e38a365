"""Koopman autoencoder, linear baseline and FVU on systems with a known answer."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from repdyn.io import ArtifactError
from repdyn.koopman import (
    LOSS_TERMS,
    KoopmanAutoencoder,
    KoopmanConfig,
    KoopmanDivergenceError,
    LinearOperatorBaseline,
    _DistanceMismatch,
    _DistanceWorkspace,
    fraction_of_variance_unexplained,
    taylor_expm,
)

torch.set_num_threads(1)

ROTATION = np.array(
    [[np.cos(0.6), -np.sin(0.6), 0.0], [np.sin(0.6), np.cos(0.6), 0.0], [0, 0, 1]]
)
LINEAR_MAP = ROTATION @ np.diag([1.5, 0.8, 1.2])  # the synthetic network's L0 -> LB


def linear_network_states(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last states of a synthetic network whose depth map is linear."""
    Z0 = np.random.default_rng(seed).normal(size=(n, 3))
    return Z0.astype(np.float32), (Z0 @ LINEAR_MAP).astype(np.float32)


def small_config(**changes) -> KoopmanConfig:
    config = KoopmanConfig(
        hidden=32, n_observables=6, k=4, epochs=60, batch_size=128, lr=0.03
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def fitted() -> KoopmanAutoencoder:
    Z0, ZL = linear_network_states(1000, seed=0)
    return KoopmanAutoencoder(small_config(), seed=3, context="synthetic").fit(
        Z0, ZL, progress=False
    )


# ------------------------------------------------------------ linear baseline
def test_linear_baseline_recovers_a_known_affine_map():
    rng = np.random.default_rng(1)
    operator, intercept = rng.normal(size=(5, 4)), rng.normal(size=4)
    Z0 = rng.normal(size=(400, 5))
    baseline = LinearOperatorBaseline().fit(Z0, Z0 @ operator + intercept)
    np.testing.assert_allclose(baseline.operator_, operator, atol=1e-8)
    np.testing.assert_allclose(baseline.intercept_, intercept, atol=1e-8)

    held_out = rng.normal(size=(50, 5))
    prediction = baseline.predict(held_out)
    assert prediction.dtype == np.float64
    np.testing.assert_allclose(prediction, held_out @ operator + intercept, atol=1e-8)
    assert baseline.predict(held_out.astype(np.float32)).dtype == np.float32


def test_linear_baseline_rank_truncation_keeps_the_leading_components():
    """States in a 2-D subspace: rank 2 loses nothing, rank 1 loses something."""
    rng = np.random.default_rng(2)
    Z0 = rng.normal(size=(300, 2)) * [3.0, 1.0] @ rng.normal(size=(2, 5))
    ZL = Z0 @ rng.normal(size=(5, 5))
    rank2 = LinearOperatorBaseline(rank=2).fit(Z0, ZL)
    assert np.linalg.matrix_rank(rank2.operator_, tol=1e-8) == 2
    np.testing.assert_allclose(rank2.predict(Z0), ZL, atol=1e-8)
    rank1 = LinearOperatorBaseline(rank=1).fit(Z0, ZL)
    assert fraction_of_variance_unexplained(rank1.predict(Z0), ZL) > 1e-3
    with pytest.raises(ValueError, match="rank must be between 1 and 5"):
        LinearOperatorBaseline(rank=6).fit(Z0, ZL)
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearOperatorBaseline().predict(Z0)


def test_fraction_of_variance_unexplained_golden_values():
    target = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert fraction_of_variance_unexplained(target, target) == 0.0
    means = np.broadcast_to(target.mean(axis=0), target.shape)
    assert fraction_of_variance_unexplained(means, target) == 1.0
    # errors 1 in every entry: 6 / total sum of squares 16
    assert fraction_of_variance_unexplained(target + 1, target) == pytest.approx(0.375)


# --------------------------------------------------------------- distance loss
def test_distance_loss_matches_cdist_and_its_gradient():
    generator = torch.Generator().manual_seed(0)
    encodings = torch.randn(2, 9, 3, dtype=torch.float64, generator=generator)
    states = torch.randn(2, 9, 4, dtype=torch.float64, generator=generator)
    workspace = _DistanceWorkspace(9, "cpu", torch.float64)

    def loss(E):
        return _DistanceMismatch.apply(E, states, workspace)[0]

    def reference(E):
        return ((torch.cdist(E, E) - torch.cdist(states, states)) ** 2).sum((1, 2))

    encodings.requires_grad_(True)
    torch.testing.assert_close(loss(encodings), reference(encodings))
    assert torch.autograd.gradcheck(loss, (encodings,))

    _, sst = _DistanceMismatch.apply(encodings, states, workspace)
    distances = torch.cdist(states, states)
    expected = ((distances - distances.mean((1, 2), keepdim=True)) ** 2).sum((1, 2))
    torch.testing.assert_close(sst, expected, atol=1e-6, rtol=1e-6)


def test_distance_loss_gradient_is_finite_for_coincident_points():
    encodings = torch.zeros(2, 5, 3, requires_grad=True)  # every distance is zero
    workspace = _DistanceWorkspace(5, "cpu")
    sse, _ = _DistanceMismatch.apply(encodings, torch.randn(2, 5, 4), workspace)
    sse.sum().backward()
    assert torch.isfinite(encodings.grad).all()


@pytest.mark.parametrize("scale", [0.05, 1.0, 30.0])
def test_taylor_expm_matches_matrix_exp_in_value_and_gradient(scale):
    """The training-time exponential equals torch's in value and gradient; 1-norms
    0.15, 3.0 and 90 take 0, 2 and 7 squarings."""
    generator = torch.Generator().manual_seed(0)
    X = scale * torch.randn(7, 7, dtype=torch.float64, generator=generator) / 7**0.5
    G = torch.randn(7, 7, dtype=torch.float64, generator=generator)
    X.requires_grad_(True)
    value, expected = taylor_expm(X), torch.linalg.matrix_exp(X)
    (gradient,) = torch.autograd.grad(value, X, G)
    (expected_gradient,) = torch.autograd.grad(expected, X, G)

    def relative(a, b):
        return float((a - b).detach().norm() / b.detach().norm())

    assert relative(value, expected) < 1e-11
    assert relative(gradient, expected_gradient) < 1e-11
    X = X.detach().numpy()
    np.testing.assert_allclose(value.detach().numpy(), expm(X), rtol=1e-10)


def test_taylor_expm_passes_non_finite_values_through():
    assert torch.isnan(taylor_expm(torch.full((3, 3), float("nan")))).all()


# ------------------------------------------------------------ autoencoder fit
def test_autoencoder_learns_a_known_linear_map_on_held_out_states(fitted):
    T0, TL = linear_network_states(500, seed=1)
    assert fraction_of_variance_unexplained(fitted.predict(T0), TL) < 0.01


def test_history_has_every_loss_as_mse_and_fvu(fitted):
    history = fitted.history_
    assert len(history) == 60 and list(history.epoch) == list(range(60))
    for term in LOSS_TERMS:
        assert np.isfinite(history[f"{term}_mse"]).all()
        assert np.isfinite(history[f"{term}_fvu"]).all()
    assert history.total.iloc[-1] < history.total.iloc[0]
    # triangular schedule: epoch e trains at the factor of (e + 0.5) / epochs
    assert history.lr.iloc[0] == pytest.approx(0.03 * (0.5 / 60) / 0.2)
    assert history.lr.idxmax() == 12 and history.lr.max() < 0.03
    assert (history.seconds > 0).all()


def test_iterates_end_at_the_prediction(fitted):
    Z0, _ = linear_network_states(20, seed=2)
    assert fitted.iterate_steps(3) == [0, 3, 4]
    assert fitted.iterate_steps(1) == [0, 1, 2, 3, 4]
    iterates = fitted.iterates(Z0, stride=1)
    assert iterates.shape == (5, 20, 3) and iterates.dtype == np.float32
    np.testing.assert_array_equal(iterates[-1], fitted.predict(Z0))
    np.testing.assert_allclose(iterates[0], fitted.decode(fitted.encode(Z0)), atol=1e-6)
    advanced = fitted.advance(fitted.encode(Z0), 2)
    np.testing.assert_allclose(iterates[2], fitted.decode(advanced), atol=1e-5)


def test_expm_operator_powers_and_eigenvalues(fitted):
    M = fitted.module_.operator_parameter.detach().double().numpy()
    np.testing.assert_allclose(fitted.operator_matrix(4), expm(M), atol=1e-10)
    one_step = fitted.operator_matrix(1)
    np.testing.assert_allclose(one_step, expm(M / 4), atol=1e-10)
    np.testing.assert_allclose(
        np.linalg.matrix_power(one_step, 4), fitted.operator_matrix(4), atol=1e-8
    )
    eigenvalues = fitted.eigenvalues()
    assert eigenvalues["K"].shape == (6,) and np.iscomplexobj(eigenvalues["K"])
    np.testing.assert_allclose(
        np.abs(eigenvalues["K"]) ** 4, np.abs(eigenvalues["Kk"]), rtol=1e-8
    )


def test_matrix_operator_uses_matrix_powers():
    Z0, ZL = linear_network_states(200, seed=0)
    config = small_config(operator="matrix", epochs=3)
    model = KoopmanAutoencoder(config, seed=0).fit(Z0, ZL, progress=False)
    K = model.module_.operator_parameter.detach().double().numpy()
    np.testing.assert_allclose(model.operator_matrix(1), K)
    np.testing.assert_allclose(model.operator_matrix(3), K @ K @ K, atol=1e-12)
    np.testing.assert_array_equal(model.iterates(Z0, stride=2)[-1], model.predict(Z0))


def test_same_seed_gives_identical_parameters():
    Z0, ZL = linear_network_states(300, seed=0)
    config = small_config(epochs=4)
    runs = [
        KoopmanAutoencoder(config, seed=s).fit(Z0, ZL, progress=False)
        for s in (7, 7, 8)
    ]
    first, again, other = (run.module_.state_dict() for run in runs)
    for name in first:
        assert torch.equal(first[name], again[name]), name
    assert not torch.equal(first["encoder.0.weight"], other["encoder.0.weight"])


def test_weight_decay_covers_weight_matrices_and_the_operator_not_biases():
    from repdyn.koopman import KoopmanNetwork, _optimizer

    network = KoopmanNetwork(3, small_config())
    decayed, plain = _optimizer(network, small_config()).param_groups
    assert decayed["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert any(p is network.operator_parameter for p in decayed["params"])
    assert all(p.ndim == 1 for p in plain["params"]) and len(plain["params"]) == 4


# ------------------------------------------------------------ errors and files
def test_clear_errors_before_fit_and_for_bad_input():
    model = KoopmanAutoencoder(small_config())
    Z0, ZL = linear_network_states(10, seed=0)
    for call in (lambda: model.predict(Z0), lambda: model.eigenvalues()):
        with pytest.raises(RuntimeError, match="not fitted"):
            call()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save("never.safetensors")
    with pytest.raises(ValueError, match="same shape"):
        model.fit(Z0, ZL[:5])
    with pytest.raises(ValueError, match="operator"):
        small_config(operator="lie")


def test_divergence_raises_naming_context_and_epoch_and_keeps_no_model():
    Z0, ZL = linear_network_states(200, seed=0)
    model = KoopmanAutoencoder(
        small_config(lr=1e30, epochs=5), seed=21, context="yinyang seed 42 kae 21"
    )
    with pytest.raises(KoopmanDivergenceError, match=r"yinyang seed 42 kae 21.*epoch"):
        model.fit(Z0, ZL, progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(Z0)


def test_save_and_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    path = tmp_path / "kae.safetensors"
    fitted.save(path)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["config"]["k"] == 4 and record["context"] == "synthetic"
    assert len(record["history"]) == 60

    loaded = KoopmanAutoencoder.load(path, device="cpu")
    assert loaded.config == fitted.config and loaded.seed == 3
    T0, _ = linear_network_states(50, seed=4)
    np.testing.assert_array_equal(loaded.predict(T0), fitted.predict(T0))
    np.testing.assert_array_equal(loaded.iterates(T0), fitted.iterates(T0))
    assert loaded.history_.shape == fitted.history_.shape

    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ArtifactError, match="kae.safetensors"):
        KoopmanAutoencoder.load(path)
