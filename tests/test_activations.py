"""Layer states: hooks read L0..LB exactly, in eval mode, and are always removed."""

import numpy as np
import pytest
import torch

from repdyn.activations import cache_states, head_logits, load_states, save_states
from repdyn.io import ArtifactError
from repdyn.networks import ResMLP, predict_logits

torch.set_num_threads(1)


@pytest.fixture
def model():
    """An untrained ResMLP whose BatchNorm statistics are not the defaults."""
    torch.manual_seed(0)
    network = ResMLP(d_in=3, width=8, n_blocks=4, n_classes=3)
    network.train()
    with torch.no_grad():
        for _ in range(5):
            network(torch.randn(64, 3) * 2 + 1)  # moves the running statistics
    return network.eval()


@pytest.fixture
def inputs():
    return np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)


def _hook_count(network):
    return sum(len(m._forward_hooks) for m in network.modules())


def test_cache_states_layers_shapes_and_order(model, inputs):
    states = cache_states(model, inputs)

    assert list(states) == ["L0", "L1", "L2", "L3", "L4"]
    for state in states.values():
        assert state.shape == (50, 8) and state.dtype == np.float32
    assert _hook_count(model) == 0


def test_cache_states_match_a_manual_forward_pass(model, inputs):
    states = cache_states(model, inputs)

    with torch.no_grad():
        state = model.input_projection(torch.as_tensor(inputs))
        np.testing.assert_array_equal(states["L0"], state.numpy())
        for i, block in enumerate(model.blocks, start=1):
            state = block(state)
            np.testing.assert_allclose(states[f"L{i}"], state.numpy(), atol=1e-6)


def test_head_of_last_state_reproduces_logits(model, inputs):
    states = cache_states(model, inputs)

    logits = head_logits(model, states["L4"], "cpu")

    np.testing.assert_allclose(logits, predict_logits(model, inputs), rtol=0, atol=1e-6)
    assert logits.dtype == np.float32


def test_cache_states_reads_eval_mode_and_restores_train_mode(model, inputs):
    expected = cache_states(model, inputs)
    model.train()

    states = cache_states(model, inputs)

    assert model.training
    for name in expected:
        np.testing.assert_array_equal(states[name], expected[name])


def test_cache_states_batches_do_not_change_states(model, inputs):
    whole = cache_states(model, inputs)
    pieces = cache_states(model, inputs, batch_size=7)

    for name in whole:
        np.testing.assert_allclose(pieces[name], whole[name], atol=1e-6)


def test_hooks_removed_when_forward_fails(model):
    wrong_width = np.zeros((4, 5), dtype=np.float32)

    with pytest.raises(RuntimeError):
        cache_states(model, wrong_width)

    assert _hook_count(model) == 0
    assert not model.training


def test_save_and_load_states_keep_layer_order(tmp_path):
    rng = np.random.default_rng(2)
    names = [f"L{i}" for i in range(12)]  # L10, L11 must stay after L9
    train = {n: rng.normal(size=(6, 4)).astype(np.float32) for n in names}
    test = {n: rng.normal(size=(3, 4)).astype(np.float32) for n in names}
    y_train, y_test = np.arange(6) % 2, np.array([1, 0, 1])

    save_states(tmp_path / "states.npz", train, test, y_train, y_test)
    train2, test2, y_train2, y_test2 = load_states(tmp_path / "states.npz")

    assert list(train2) == names and list(test2) == names
    for n in names:
        np.testing.assert_array_equal(train2[n], train[n])
        np.testing.assert_array_equal(test2[n], test[n])
    np.testing.assert_array_equal(y_train2, y_train)
    np.testing.assert_array_equal(y_test2, y_test)


def test_save_states_refuses_different_layers(tmp_path):
    state = np.zeros((2, 2), dtype=np.float32)

    with pytest.raises(ValueError, match="differ"):
        save_states(tmp_path / "s.npz", {"L0": state}, {"L1": state}, [0, 1], [0, 1])


def test_load_states_refuses_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))

    with pytest.raises(ArtifactError, match=r"other.npz.*layer_names"):
        load_states(tmp_path / "other.npz")
