"""StatePreprocessor: per-layer centring, PCA rotation, scale and Procrustes alignment."""

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from repdyn.io import read_npz, write_npz
from repdyn.preprocessing import StatePreprocessor

WIDTH = 6


@pytest.fixture
def states() -> dict[str, np.ndarray]:
    """Three layers of 300 float32 states with different means, scales and shapes."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, WIDTH)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])
    return {
        "L0": (base + 4.0).astype(np.float32),
        "L1": np.maximum(base @ rng.normal(size=(WIDTH, WIDTH)), 0).astype(np.float32),
        "L2": (np.tanh(base) * 30.0 - 7.0).astype(np.float32),
    }


@pytest.fixture
def fitted(states) -> StatePreprocessor:
    return StatePreprocessor().fit(states)


def test_every_transformed_training_layer_has_frobenius_norm_100(fitted, states):
    for Z in fitted.transform(states).values():
        assert Z.dtype == np.float32
        assert np.linalg.norm(Z.astype(np.float64)) == pytest.approx(100.0, rel=1e-5)
        assert np.abs(Z.mean(axis=0)).max() < 1e-4  # centred


def test_rotations_and_alignments_are_orthogonal(fitted):
    assert fitted.layer_names_ == ["L0", "L1", "L2"]
    for name in fitted.layer_names_:
        for matrix in (fitted.rotation_[name], fitted.alignment_[name]):
            assert matrix.shape == (WIDTH, WIDTH)
            np.testing.assert_allclose(matrix.T @ matrix, np.eye(WIDTH), atol=1e-12)
    np.testing.assert_array_equal(fitted.alignment_["L2"], np.eye(WIDTH))


def test_largest_entry_of_every_principal_axis_is_positive(fitted):
    for rotation in fitted.rotation_.values():
        largest = np.argmax(np.abs(rotation), axis=0)
        assert np.all(rotation[largest, np.arange(WIDTH)] > 0)


def test_anchor_coordinates_are_principal_components(fitted, states):
    """The anchor is not re-aligned, so its coordinates are uncorrelated with
    variances in decreasing order (PCA, no whitening)."""
    Z = fitted.transform_layer("L2", states["L2"].astype(np.float64))
    covariance = Z.T @ Z
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert np.abs(off_diagonal).max() < 1e-8 * covariance.max()
    assert np.all(np.diff(np.diag(covariance)) <= 0)
    assert np.diag(covariance).min() < 0.99 * np.diag(covariance).max()  # not whitened


def test_inverse_last_undoes_the_last_layer_transform(fitted, states):
    raw64 = states["L2"].astype(np.float64)
    np.testing.assert_allclose(
        fitted.inverse_last(fitted.transform_layer("L2", raw64)), raw64, atol=1e-10
    )
    raw32 = states["L2"]
    back = fitted.inverse_last(fitted.transform_layer("L2", raw32))
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, raw32, atol=1e-4)


def test_a_rotated_scaled_shifted_copy_lands_on_the_anchor(states):
    """Known answer: a layer that is an orthogonal transform of the anchor plus a
    shift and a scale maps onto exactly the anchor's coordinates."""
    anchor = states["L2"].astype(np.float64)
    rotation = special_ortho_group.rvs(WIDTH, random_state=1)
    copy = 0.3 * anchor @ rotation + 11.0
    fitted = StatePreprocessor().fit({"L0": copy, "L1": anchor})
    np.testing.assert_allclose(
        fitted.transform_layer("L0", copy),
        fitted.transform_layer("L1", anchor),
        atol=1e-9,
    )


def test_transform_of_new_states_is_the_same_affine_map(fitted, states):
    """Held-out states go through the training parameters: transform is affine."""
    new = np.random.default_rng(5).normal(size=(7, WIDTH))
    a, b = fitted.transform_layer("L1", new), fitted.transform_layer("L1", 2 * new)
    origin = fitted.transform_layer("L1", np.zeros((1, WIDTH)))
    np.testing.assert_allclose(b - origin, 2 * (a - origin), atol=1e-10)


def test_round_trip_through_npz_gives_identical_transforms(fitted, states, tmp_path):
    write_npz(tmp_path / "pre.npz", **fitted.to_arrays())
    loaded = StatePreprocessor.from_arrays(read_npz(tmp_path / "pre.npz"))
    assert loaded.layer_names_ == fitted.layer_names_
    for name, X in states.items():
        np.testing.assert_array_equal(
            loaded.transform_layer(name, X), fitted.transform_layer(name, X)
        )
    Z = fitted.transform_layer("L2", states["L2"])
    np.testing.assert_array_equal(loaded.inverse_last(Z), fitted.inverse_last(Z))


def test_clear_errors(states, fitted):
    with pytest.raises(RuntimeError, match="not fitted"):
        StatePreprocessor().transform_layer("L0", states["L0"])
    with pytest.raises(ValueError, match="same width"):
        StatePreprocessor().fit({"L0": np.ones((10, 3)), "L1": np.ones((10, 4))})
    with pytest.raises(ValueError, match="NaN"):
        StatePreprocessor().fit({"L0": np.full((10, 3), np.nan)})
    with pytest.raises(ValueError, match="constant"):
        StatePreprocessor().fit({"L0": np.ones((10, 3))})
    with pytest.raises(KeyError, match="L9"):
        fitted.transform_layer("L9", states["L0"])
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        fitted.transform_layer("L0", states["L0"][:, :3])
    with pytest.raises(ValueError, match="mean/L1"):
        arrays = fitted.to_arrays()
        del arrays["mean/L1"]
        StatePreprocessor.from_arrays(arrays)
