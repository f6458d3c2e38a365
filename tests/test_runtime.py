"""Device choice and the smoke-sized pipeline run on an explicit CPU device.

No GPU is needed: CUDA's presence is simulated with monkeypatch where it matters,
and the pipeline tests pin device="cpu" (as a string and as a torch.device), the
path a GPU-less cluster node or a laptop takes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repdyn import activations, data, networks, surrogate, unlearning
from repdyn.koopman import KoopmanAutoencoder, KoopmanConfig
from repdyn.preprocessing import StatePreprocessor
from repdyn.runtime import resolve_device

torch.set_num_threads(1)
CPU = torch.device("cpu")


def test_auto_is_cpu_on_a_machine_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        assert resolve_device("auto") == CPU


def test_auto_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cuda_names_the_fix(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available; set device: auto"):
        resolve_device(name)


def test_cuda_index_beyond_the_visible_devices_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(RuntimeError, match="only 1 CUDA device"):
        resolve_device("cuda:1")


def test_unknown_device_name_is_a_value_error():
    with pytest.raises(ValueError, match="'gpu' is not a torch device"):
        resolve_device("gpu")


@pytest.mark.parametrize("name", ["cpu", CPU])
def test_cpu_is_accepted_as_string_and_device(name):
    assert resolve_device(name) == CPU


# ---------------------------------------------------------------- smoke-sized pipeline


def _pipeline(device) -> dict:
    """Train, cache, preprocess, fit a KAE, score the surrogate and two unlearning
    baselines on a small Yin-Yang problem, everything on ``device``."""
    dataset = data.yinyang_dataset(train=400, val=50, test=200)
    arch = {"d_in": 2, "width": 10, "n_blocks": 2, "n_classes": 3}
    train = networks.TrainConfig(epochs=20, batch_size=128, lr=0.05)
    model, _ = networks.train_network(
        dataset.X_train,
        dataset.y_train,
        arch,
        train,
        seed=0,
        device=device,
        progress=False,
    )
    states = activations.cache_states(model, dataset.X_train, device=device)
    preprocessor = StatePreprocessor().fit(states)
    first, last = preprocessor.layer_names_[0], preprocessor.layer_names_[-1]
    config = KoopmanConfig(
        hidden=16, n_observables=8, k=5, epochs=5, batch_size=256, lr=0.01
    )
    kae = KoopmanAutoencoder(config, seed=21, device=device).fit(
        preprocessor.transform_layer(first, states[first]),
        preprocessor.transform_layer(last, states[last]),
        progress=False,
    )
    scores = surrogate.surrogate_metrics(
        model, preprocessor, kae, dataset.X_test, dataset.y_test, 3, device
    )
    finetuned, _, _ = unlearning.finetune_on_kept(
        model,
        dataset.X_train,
        dataset.y_train,
        2,
        unlearning.BaselineConfig(finetune_epochs=2),
        device=device,
        progress=False,
    )
    ascended, _, info = unlearning.gradient_ascent(
        model,
        dataset.X_train,
        dataset.y_train,
        2,
        3,
        unlearning.BaselineConfig(ascent_max_steps=5),
        device=device,
        progress=False,
    )
    return {
        "model": model,
        "kae": kae,
        "finetuned": finetuned,
        "ascended": ascended,
        "states": states,
        "scores": scores,
        "logits": networks.predict_logits(model, dataset.X_test, device),
        "iterates": kae.iterates(preprocessor.transform_layer(first, states[first])),
        "ascent_steps": info["steps"],
    }


@pytest.fixture(scope="module")
def cpu_run() -> dict:
    return _pipeline("cpu")


def test_every_parameter_stays_on_the_cpu(cpu_run):
    for key in ("model", "finetuned", "ascended"):
        assert {p.device for p in cpu_run[key].parameters()} == {CPU}, key
    assert {p.device for p in cpu_run["kae"].module_.parameters()} == {CPU}
    assert cpu_run["kae"].device == CPU


def test_outputs_are_numpy_float32_of_the_expected_shapes(cpu_run):
    assert cpu_run["logits"].shape == (200, 3)
    assert cpu_run["logits"].dtype == np.float32
    assert list(cpu_run["states"]) == ["L0", "L1", "L2"]
    assert all(s.shape == (400, 10) for s in cpu_run["states"].values())
    assert cpu_run["iterates"].shape == (6, 400, 10)  # t = 0..5
    assert cpu_run["iterates"].dtype == np.float32
    assert 0.0 <= cpu_run["scores"]["accuracy"] <= 1.0
    assert 1 <= cpu_run["ascent_steps"] <= 5


def test_torch_device_object_gives_the_same_numbers_as_the_string(cpu_run):
    again = _pipeline(CPU)
    np.testing.assert_array_equal(again["logits"], cpu_run["logits"])
    np.testing.assert_array_equal(again["iterates"], cpu_run["iterates"])
    assert again["scores"]["accuracy"] == cpu_run["scores"]["accuracy"]
    for key in ("finetuned", "ascended"):
        for a, b in zip(again[key].parameters(), cpu_run[key].parameters()):
            assert torch.equal(a, b), key
