"""Known answers for the operator edit, selection, targets and membership inference."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from repdyn import unlearning as ul

torch.set_num_threads(1)


def split_problem(seed=0, p=8, n_kept=60, n_forget=3, kept_rank=5):
    """Kept inputs in a rank-5 subspace, forget inputs with parts outside it; rotated."""
    rng = np.random.default_rng(seed)
    kept = np.zeros((n_kept, p))
    kept[:, :kept_rank] = rng.normal(size=(n_kept, kept_rank))
    forget = rng.normal(size=(n_forget, p))
    rotation = ortho_group.rvs(p, random_state=seed)
    Phi = np.vstack([forget, kept]) @ rotation
    mask = np.r_[np.ones(n_forget, bool), np.zeros(n_kept, bool)]
    A = rng.normal(size=(p, p))
    targets = rng.normal(size=(n_forget, p))
    return A, Phi, mask, targets


def test_edit_hits_targets_and_keeps_kept_outputs_as_ridge_vanishes():
    A, Phi, mask, targets = split_problem()
    edited, info = ul.edit_operator(A, Phi, mask, targets, ridge_fraction=1e-12)

    np.testing.assert_allclose(Phi[mask] @ edited, targets, atol=1e-9)
    np.testing.assert_allclose(Phi[~mask] @ edited, Phi[~mask] @ A, atol=1e-8)
    assert info["forget_residual_after_relative"] < 1e-10
    assert info["kept_change_relative"] < 1e-9
    assert (info["n_forget"], info["n_kept"], info["dimension"]) == (3, 60, 8)


def test_edit_vanishes_for_a_large_ridge():
    A, Phi, mask, targets = split_problem()
    edited, info = ul.edit_operator(A, Phi, mask, targets, ridge_fraction=1e6)

    assert np.abs(edited - A).max() < 1e-10
    assert info["operator_change_relative"] < 1e-12


def test_edit_records_absolute_rho_and_matches_the_formula():
    A, Phi, mask, targets = split_problem(seed=3)
    edited, info = ul.edit_operator(A, Phi, mask, targets, ridge_fraction=0.05)

    H, C = Phi[mask], Phi[~mask]
    rho = 0.05 * np.trace(C.T @ C) / 8
    assert info["rho"] == pytest.approx(rho, rel=1e-12)
    kept_system = C.T @ C + rho * np.eye(8)
    keys = np.linalg.solve(kept_system, H.T)
    delta = keys @ np.linalg.solve(H @ keys + rho * np.eye(3), targets - H @ A)
    np.testing.assert_allclose(edited, A + delta, rtol=1e-10, atol=1e-12)
    assert info["seconds"] >= 0


def test_edit_with_more_forget_rows_than_dimensions_matches_the_formula():
    rng = np.random.default_rng(5)
    A, Phi = rng.normal(size=(6, 6)), rng.normal(size=(90, 6))
    mask = np.arange(90) < 40  # 40 forget rows > 6 dimensions: the p x p form
    targets = rng.normal(size=(40, 6))
    edited, info = ul.edit_operator(A, Phi, mask, targets, ridge_fraction=0.02)

    H, C = Phi[mask], Phi[~mask]
    rho = 0.02 * np.trace(C.T @ C) / 6
    keys = np.linalg.solve(C.T @ C + rho * np.eye(6), H.T)
    delta = keys @ np.linalg.solve(H @ keys + rho * np.eye(40), targets - H @ A)
    np.testing.assert_allclose(edited, A + delta, rtol=1e-9, atol=1e-11)
    assert info["n_forget"] == 40


def test_edit_keeps_dtype_and_names_bad_shapes():
    A, Phi, mask, targets = split_problem()
    edited, _ = ul.edit_operator(A.astype(np.float32), Phi, mask, targets, 1e-2)
    assert edited.dtype == np.float32

    with pytest.raises(ValueError, match="targets have shape"):
        ul.edit_operator(A, Phi, mask, targets[:2], 1e-2)
    with pytest.raises(ValueError, match="forget set has 0"):
        ul.edit_operator(A, Phi, np.zeros(len(Phi), bool), targets[:0], 1e-2)


def clusters(seed=0):
    """Three Gaussian classes in 2-D; class 2 around (6, 0)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [0.0, 6.0], [6.0, 0.0]])
    y = np.repeat(np.arange(3), 40)
    Y = centres[y] + rng.normal(scale=0.5, size=(120, 2))
    return Y, y


def test_label_selection_is_the_class():
    Y, y = clusters()
    np.testing.assert_array_equal(ul.select_forget_set(Y, y, 2, "label"), y == 2)


def test_medoid_ball_covers_the_class_and_takes_kept_points_inside():
    Y, y = clusters()
    Y[0] = [6.0, 0.0]  # a class-0 point in the middle of class 2
    mask = ul.select_forget_set(Y, y, 2, "medoid_ball")

    assert mask[y == 2].all()
    assert mask[0]
    assert mask.sum() == 41


def test_medoid_is_the_central_point():
    points = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert ul.class_medoid(points) == 1  # sums of distances 13, 11, 11, 27


def test_squared_distances_match_scipy():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    np.testing.assert_allclose(
        ul.squared_distances(a, b), cdist(a, b, "sqeuclidean"), atol=1e-12
    )


def test_selection_errors_name_the_problem():
    Y, y = clusters()
    with pytest.raises(ValueError, match="no training sample"):
        ul.select_forget_set(Y, y, 7, "label")
    with pytest.raises(ValueError, match="unknown selection"):
        ul.select_forget_set(Y, y, 2, "ball")


def test_nearest_kept_targets_are_the_nearest_kept_outputs():
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.2, 0.0], [4.0, 0.0]])
    y = np.array([0, 0, 0, 1, 1])
    mask = y == 1
    targets = ul.choose_targets(Y, mask, y, 1, "nearest_kept")
    np.testing.assert_array_equal(targets, [[0.0, 0.0], [5.0, 0.0]])


def test_common_target_is_the_kept_output_nearest_the_forget_centroid():
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.2, 0.0], [4.0, 0.0]])
    y = np.array([0, 0, 0, 1, 1])
    targets = ul.choose_targets(Y, y == 1, y, 1, "common")
    np.testing.assert_array_equal(targets, [[1.0, 0.0], [1.0, 0.0]])  # centroid 2.1


def test_shift_targets_move_the_forget_set_onto_the_nearest_kept_class():
    Y = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0], [5, 5], [6, 5]])
    y = np.array([0, 0, 1, 1, 2, 2])
    targets = ul.choose_targets(Y, y == 2, y, 2, "shift")
    # forget mean (5.5, 5); class means (1, 0) at 6.7 and (11, 0) at 7.4
    np.testing.assert_allclose(targets, [[0.5, 0.0], [1.5, 0.0]])
    residual = targets - Y[y == 2]
    assert np.linalg.matrix_rank(residual) == 1


def test_shift_targets_use_only_eligible_rows_for_the_class_means():
    Y = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [12.0, 0.0], [5, 5], [6, 5]])
    y = np.array([0, 0, 1, 1, 2, 2])
    eligible = np.array([True, False, True, True, True, True])  # class 0 mean (0, 0)
    targets = ul.choose_targets(Y, y == 2, y, 2, "shift", eligible)
    np.testing.assert_allclose(targets, [[-0.5, 0.0], [0.5, 0.0]])


def test_targets_come_only_from_eligible_rows():
    Y = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.2, 0.0], [4.0, 0.0]])
    y = np.array([0, 0, 0, 1, 1])
    eligible = np.array([False, True, True, True, True])  # row 0 misclassified
    targets = ul.choose_targets(Y, y == 1, y, 1, "nearest_kept", eligible)
    np.testing.assert_array_equal(targets, [[1.0, 0.0], [5.0, 0.0]])


def test_targets_never_come_from_the_forgotten_class():
    Y = np.array([[0.0], [0.1], [3.0]])
    y = np.array([1, 1, 0])
    mask = np.array([True, False, False])  # a forget-class row left outside the set
    np.testing.assert_array_equal(ul.choose_targets(Y, mask, y, 1), [[3.0]])


def test_edit_observables_trades_forgetting_against_keeping():
    rng = np.random.default_rng(1)
    Phi = rng.normal(size=(300, 12))
    y = rng.integers(0, 3, size=300)
    Phi[y == 2] += 4.0  # a separate cluster, more rows than observables
    residuals, kept_changes = [], []
    for ridge_fraction in (1e-6, 1e-3, 1e-2, 1e-1):
        config = ul.EditConfig("label", "nearest_kept", ridge_fraction)
        edited, mask, info = ul.edit_observables(Phi, np.eye(12), y, 2, config)
        residuals.append(info["forget_residual_after_relative"])
        kept_changes.append(info["kept_change_relative"])

    np.testing.assert_array_equal(mask, y == 2)
    assert info["n_forget_other_classes"] == 0
    assert np.all(np.diff(residuals) > 0) and np.all(np.diff(kept_changes) < 0)
    centre_before = np.linalg.norm(Phi[mask].mean(0))  # about 4 sqrt(12)
    assert np.linalg.norm((Phi[mask] @ edited).mean(0)) < 0.5 * centre_before


def test_entropy_known_values():
    logits = np.array([[0.0, 0.0], [100.0, 0.0]])
    np.testing.assert_allclose(
        ul.prediction_entropy(logits), [np.log(2), 0.0], atol=1e-12
    )


def test_membership_inference_sees_an_entropy_gap():
    rng = np.random.default_rng(0)
    members = rng.exponential(0.05, 2000)  # confident on training samples
    nonmembers = rng.exponential(0.5, 2000)
    attack = ul.membership_inference(
        members[:1500], nonmembers[:1500], members[1500:], nonmembers[1500:]
    )
    assert attack["auc"] > 0.85
    assert attack["balanced_accuracy"] > 0.75


def test_membership_inference_is_chance_on_identical_distributions():
    rng = np.random.default_rng(0)
    members = rng.exponential(0.05, 2000)
    nonmembers = rng.exponential(0.5, 2000)
    same = rng.exponential(0.2, 2000)
    attack = ul.membership_inference(members, nonmembers, same[:1000], same[1000:])
    assert abs(attack["auc"] - 0.5) < 0.05
    assert abs(attack["balanced_accuracy"] - 0.5) < 0.05


def test_unlearning_metrics_on_constructed_logits():
    y_test = np.array([0, 0, 1, 1, 2, 2])
    logits_test = np.eye(3)[[0, 0, 1, 0, 0, 1]] * 5.0  # class 2 forgotten
    y_train = np.array([0, 1, 2, 2])
    logits_train = np.eye(3)[[0, 1, 2, 0]] * 5.0
    metrics = ul.unlearning_metrics(logits_train, y_train, logits_test, y_test, 2, 3)

    assert metrics["per_class_accuracy"] == [1.0, 0.5, 0.0]
    assert metrics["forget_accuracy"] == 0.0
    assert metrics["forget_train_accuracy"] == 0.5
    assert metrics["retain_balanced_accuracy"] == 0.75
    assert metrics["accuracy"] == pytest.approx(0.5)
    report = ul.unlearning_report("edit", metrics, metrics, 0.1, {"dataset": "toy"})
    assert report["retain_drop"] == 0.0 and report["dataset"] == "toy"


# ------------------------------------------------- end to end on a tiny Yin-Yang
@pytest.fixture(scope="module")
def tiny_surrogate():
    """A small Yin-Yang ResMLP, its preprocessing and a small Koopman autoencoder."""
    from repdyn import activations, data, networks
    from repdyn.koopman import KoopmanAutoencoder, KoopmanConfig
    from repdyn.preprocessing import StatePreprocessor

    dataset = data.yinyang_dataset(train=1500, val=0, test=600)
    arch = {"width": 10, "n_blocks": 3}
    train_config = networks.TrainConfig(epochs=60, batch_size=128, lr=0.05)
    network, _ = networks.train_network(
        dataset.X_train, dataset.y_train, arch, train_config, seed=0, progress=False
    )
    states = activations.cache_states(network, dataset.X_train)
    preprocessor = StatePreprocessor().fit(states)
    Z0 = preprocessor.transform_layer("L0", states["L0"])
    ZL = preprocessor.transform_layer("L3", states["L3"])
    config = KoopmanConfig(
        hidden=30, n_observables=20, k=10, epochs=100, batch_size=256, lr=0.02
    )
    kae = KoopmanAutoencoder(config, seed=1).fit(Z0, ZL, progress=False)
    return dataset, network, preprocessor, kae, arch, train_config


def test_edited_operator_with_the_unedited_operator_is_the_surrogate(tiny_surrogate):
    from repdyn.surrogate import surrogate_logits

    dataset, network, preprocessor, kae, *_ = tiny_surrogate
    predictor = ul.EditedOperator(kae, kae.operator_matrix(kae.config.k))
    X = dataset.X_test
    np.testing.assert_allclose(
        surrogate_logits(network, preprocessor, predictor, X),
        surrogate_logits(network, preprocessor, kae, X),
        atol=1e-4,
    )


def test_operator_edit_forgets_the_dots_on_held_out_data(tiny_surrogate):
    dataset, network, preprocessor, kae, *_ = tiny_surrogate
    config = ul.EditConfig()  # label selection, shift targets, ridge 1e-3
    context = {"dataset": "yinyang", "forget_class": 2}
    report, arrays = ul.surrogate_unlearning(
        network, preprocessor, kae, dataset, 2, context, config
    )

    assert report["method"] == "operator_edit" and report["forget_class"] == 2
    assert report["forget_accuracy_before"] > 0.9
    assert report["forget_accuracy_after"] < 0.05  # held-out dots
    assert report["retain_drop"] < 0.03
    assert report["details"]["rho"] > 0 and report["details"]["n_forget"] > 0
    assert arrays["edited_operator"].shape == (20, 20)
    assert arrays["forget_mask"].sum() == report["details"]["n_forget"]
    assert 0.0 <= report["mia_auc_after"] <= 1.0


def test_network_baselines_report_the_same_metrics(tiny_surrogate):
    dataset, network, _, _, arch, train_config = tiny_surrogate
    config = ul.BaselineConfig(finetune_epochs=2, ascent_lr=1e-2, ascent_max_steps=50)
    retrain_config = type(train_config)(epochs=30, batch_size=128, lr=0.05)
    reports = {
        method: ul.network_unlearning(
            method,
            network,
            dataset,
            2,
            {"dataset": "yinyang"},
            config,
            arch=arch,
            train_config=retrain_config,
            progress=False,
        )
        for method in ul.NETWORK_METHODS
    }

    assert reports["retrain"]["forget_accuracy_after"] < 0.05
    ascent = reports["gradient_ascent"]["details"]
    assert ascent["stopped_at_chance"] or ascent["steps"] == 50
    for method, report in reports.items():
        assert report["method"] == method and report["seconds"] > 0
        assert report["before"] == reports["retrain"]["before"]
        assert len(report["after"]["per_class_accuracy"]) == 3


def test_unknown_baseline_is_named(tiny_surrogate):
    dataset, network, *_ = tiny_surrogate
    with pytest.raises(ValueError, match="unknown baseline 'forget'"):
        ul.network_unlearning("forget", network, dataset, 2, {})
