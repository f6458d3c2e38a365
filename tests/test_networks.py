"""ResMLP: architecture of spec section 2, deterministic training, storage."""

import numpy as np
import pytest
import torch
from torch import nn

from repdyn.data import yinyang_dataset
from repdyn.io import ArtifactError
from repdyn.networks import (
    ResMLP,
    TrainConfig,
    classification_metrics,
    evaluate,
    linear_baseline,
    load_network,
    predict_logits,
    save_network,
    sgd_optimizer,
    train_network,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def yinyang():
    return yinyang_dataset()


@pytest.fixture(scope="module")
def trained(yinyang):
    """A Yin-Yang ResMLP after a short run (40 epochs, peak lr 0.05)."""
    config = TrainConfig(epochs=40, batch_size=512, lr=0.05)
    arch = {"width": 10, "n_blocks": 5}
    model, history = train_network(
        yinyang.X_train, yinyang.y_train, arch, config, seed=3, progress=False
    )
    return model, history, config


def test_resmlp_structure_follows_spec():
    model = ResMLP(d_in=2, width=10, n_blocks=5, n_classes=3)

    assert model.layer_names == ["L0", "L1", "L2", "L3", "L4", "L5"]
    assert [type(m) for m in model.input_projection] == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
    ]
    branch = model.blocks[0].branch
    assert [type(m) for m in branch] == [
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.Linear,
        nn.BatchNorm1d,
    ]
    assert len(model.blocks) == 5
    assert (model.head.in_features, model.head.out_features) == (10, 3)
    assert model(torch.zeros(7, 2)).shape == (7, 3)


def test_resmlp_block_is_activation_of_input_plus_branch():
    model = ResMLP(d_in=4, width=6, n_blocks=1, n_classes=2, activation="tanh").eval()
    x = torch.randn(5, 6)

    block = model.blocks[0]
    torch.testing.assert_close(block(x), torch.tanh(x + block.branch(x)))


def test_resmlp_initialisation_kaiming_normal_and_bias():
    model = ResMLP(d_in=400, width=300, n_blocks=2, n_classes=10)

    for linear in [m for m in model.modules() if isinstance(m, nn.Linear)]:
        assert torch.all(linear.bias == 0.01)
        expected_std = np.sqrt(2.0 / linear.in_features)
        assert linear.weight.std().item() == pytest.approx(expected_std, rel=0.1)
        assert abs(linear.weight.mean().item()) < 0.1 * expected_std


def test_resmlp_options():
    plain = ResMLP(3, 8, 2, 4, batchnorm=False, activation="gelu")

    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert isinstance(plain.input_projection[2], nn.GELU)
    assert plain.arch == {
        "d_in": 3,
        "width": 8,
        "n_blocks": 2,
        "n_classes": 4,
        "batchnorm": False,
        "activation": "gelu",
    }
    with pytest.raises(ValueError, match="activation 'swish' unknown"):
        ResMLP(3, 8, 2, 4, activation="swish")


def test_training_is_deterministic_to_the_byte(yinyang):
    X, y = yinyang.X_train[:600], yinyang.y_train[:600]
    config = TrainConfig(epochs=3, batch_size=128, lr=0.05)
    arch = {"width": 10, "n_blocks": 2}

    first, history = train_network(X, y, arch, config, seed=7, progress=False)
    again, _ = train_network(X, y, arch, config, seed=7, progress=False)
    other, _ = train_network(X, y, arch, config, seed=8, progress=False)

    for key, value in first.state_dict().items():
        assert value.numpy().tobytes() == again.state_dict()[key].numpy().tobytes(), key
    assert not torch.equal(first.head.weight, other.head.weight)
    assert list(history.columns) == ["epoch", "loss", "train_accuracy", "lr", "seconds"]


def test_training_learns_yinyang(trained, yinyang):
    model, history, _config = trained

    result = evaluate(model, yinyang.X_test, yinyang.y_test, 3)

    assert not model.training
    assert history.loss.iloc[-1] < history.loss.iloc[0]
    assert result["accuracy"] > 0.9
    assert len(result["per_class_accuracy"]) == 3
    assert result["predictions"].shape == (1000,)


def test_training_follows_triangular_schedule(trained):
    _, history, config = trained

    peak_epoch = int(np.argmax(history.lr.to_numpy()))
    # epoch e trains at the factor of (e + 0.5) / epochs; peak at 20 % of 40 epochs
    assert history.lr.iloc[0] == pytest.approx(config.lr * 0.5 / 40 / 0.2)
    assert peak_epoch in (7, 8)
    assert history.lr.max() <= config.lr and history.lr.iloc[-1] < 0.05 * config.lr


def test_weight_decay_spares_biases_and_batchnorm():
    model = ResMLP(d_in=2, width=4, n_blocks=1, n_classes=3)

    optimizer = sgd_optimizer(model, TrainConfig(epochs=1, batch_size=8, lr=0.1))

    decayed, spared = optimizer.param_groups
    names = {id(p): name for name, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decayed["params"]) == [
        "blocks.0.branch.0.weight",
        "blocks.0.branch.3.weight",
        "head.weight",
        "input_projection.0.weight",
    ]
    assert decayed["weight_decay"] == 5e-4 and spared["weight_decay"] == 0.0
    assert len(spared["params"]) == len(names) - 4
    assert decayed["momentum"] == 0.9


def test_class_subset_trains_on_kept_classes_only(yinyang):
    config = TrainConfig(epochs=15, batch_size=512, lr=0.05)

    model, _ = train_network(
        yinyang.X_train,
        yinyang.y_train,
        {"width": 10, "n_blocks": 2},
        config,
        seed=0,
        progress=False,
        class_subset=[0, 1],
    )

    predictions = evaluate(model, yinyang.X_test, yinyang.y_test, 3)["predictions"]
    assert model.head.out_features == 3
    assert np.mean(predictions == 2) < 0.02
    with pytest.raises(ValueError, match="selects no training sample"):
        train_network(yinyang.X_train, yinyang.y_train, {}, config, 0, class_subset=[5])


def test_train_config_refuses_impossible_values():
    with pytest.raises(ValueError, match="batch_size >= 2"):
        TrainConfig(epochs=10, batch_size=1, lr=0.1)


def test_classification_metrics_known_answer():
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predictions = np.array([0, 0, 0, 1, 1, 0, 2, 2])

    result = classification_metrics(y, predictions, n_classes=4)

    assert result["accuracy"] == pytest.approx(6 / 8)
    assert result["per_class_accuracy"][:3] == [0.75, 0.5, 1.0]
    assert np.isnan(result["per_class_accuracy"][3])
    assert result["balanced_accuracy"] == pytest.approx(0.75)


def test_save_and_load_network_round_trip(trained, yinyang, tmp_path):
    model, _, config = trained
    path = tmp_path / "net.safetensors"

    save_network(model, path, model.arch, config)
    loaded = load_network(path)

    assert not loaded.training and loaded.arch == model.arch
    np.testing.assert_array_equal(
        predict_logits(loaded, yinyang.X_test), predict_logits(model, yinyang.X_test)
    )
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_save_network_refuses_wrong_arch(trained, tmp_path):
    model, _, _ = trained

    with pytest.raises(ValueError, match="does not describe"):
        save_network(model, tmp_path / "n.safetensors", {**model.arch, "width": 12})


def test_load_network_refuses_broken_files(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a tensor file")

    with pytest.raises(ArtifactError, match=r"garbage.safetensors"):
        load_network(garbage)
    with pytest.raises(ArtifactError, match="does not exist"):
        load_network(tmp_path / "missing.safetensors")


def test_linear_baseline_yinyang_is_about_64_percent(yinyang):
    result = linear_baseline(
        yinyang.X_train, yinyang.y_train, yinyang.X_test, yinyang.y_test
    )

    assert 0.60 < result["accuracy"] < 0.68
    assert result["seconds"] >= 0
