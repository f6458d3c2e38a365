"""States of a trained ResMLP: read them layer by layer, store and reload them.

The state of layer Li is the output of the input projection (L0) or of residual
block i (L1 .. LB), read in eval mode (BatchNorm frozen) with forward hooks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from repdyn.io import corrupt, read_npz, write_npz

if TYPE_CHECKING:  # torch only where states are computed, not stored or read
    import torch

    from repdyn.networks import ResMLP


def _state_modules(model: ResMLP) -> dict[str, torch.nn.Module]:
    """The module whose output is each state, in layer order L0 .. LB."""
    modules = [model.input_projection, *model.blocks]
    return dict(zip(model.layer_names, modules, strict=True))


def cache_states(
    model: ResMLP,
    X: np.ndarray,
    device: str | torch.device = "cpu",
    batch_size: int = 4096,
) -> dict[str, np.ndarray]:
    """States of every layer for inputs X [n, d]: {"L0": [n, w], ..., "LB": [n, w]}.

    Float32, in layer order, read in eval mode. The model's train/eval mode is
    restored and the hooks removed afterwards, also when the forward pass fails.
    """
    import torch

    batches: dict[str, list[torch.Tensor]] = {name: [] for name in model.layer_names}

    def recorder(name):
        return lambda module, inputs, output: batches[name].append(output.cpu())

    was_training = model.training
    handles = [
        module.register_forward_hook(recorder(name))
        for name, module in _state_modules(model).items()
    ]
    try:
        model.eval()
        X_device = torch.as_tensor(X, dtype=torch.float32, device=device)  # [n, d]
        with torch.no_grad():
            for chunk in X_device.split(batch_size):
                model(chunk)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: torch.cat(parts).numpy() for name, parts in batches.items()}


def head_logits(
    model: ResMLP, last_state: np.ndarray, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Logits float32 [n, n_classes] of the network's head applied to states [n, w]."""
    import torch

    states = torch.as_tensor(last_state, dtype=torch.float32, device=device)
    with torch.no_grad():
        return model.head(states).cpu().numpy()


def save_states(
    path: str | os.PathLike,
    train: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    y_train: np.ndarray,
    y_test: np.ndarray,
) -> None:
    """Store train and test states (keys ``train/L0`` ...) and labels in one npz."""
    if list(train) != list(test):
        raise ValueError(
            f"train layers {list(train)} differ from test layers {list(test)}"
        )
    arrays = {"layer_names": np.array(list(train), dtype=str)}
    for split, states in (("train", train), ("test", test)):
        for name, state in states.items():
            arrays[f"{split}/{name}"] = np.asarray(state, dtype=np.float32)
    write_npz(path, **arrays, y_train=np.asarray(y_train), y_test=np.asarray(y_test))


def load_states(
    path: str | os.PathLike,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Read a file of :func:`save_states`: train, test, y_train, y_test.

    Missing arrays and non-finite states raise ArtifactError naming the file.
    """
    arrays = read_npz(path)
    if "layer_names" not in arrays:
        raise corrupt(path, "no layer_names array; not a states file")
    names = [str(name) for name in arrays["layer_names"]]
    expected = [f"{s}/{n}" for s in ("train", "test") for n in names]
    missing = [k for k in [*expected, "y_train", "y_test"] if k not in arrays]
    if missing:
        raise corrupt(path, f"missing arrays {missing}")
    train = {name: arrays[f"train/{name}"] for name in names}
    test = {name: arrays[f"test/{name}"] for name in names}
    for split, states in (("train", train), ("test", test)):
        for name, state in states.items():
            if not np.all(np.isfinite(state)):
                raise corrupt(path, f"{split} state {name} holds NaN or inf")
    return train, test, arrays["y_train"], arrays["y_test"]
