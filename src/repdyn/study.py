"""Loading the artifacts one stage of the study needs, together and checked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repdyn import activations, data, networks
from repdyn.preprocessing import StatePreprocessor, load_preprocessor


@dataclass
class SurrogateProblem:
    """A trained network, its data and its preprocessed first and last states.

    ``Z0_*`` and ``ZL_*`` are the preprocessed L0 and last-layer states, shape
    (n_samples, width); the last layer is the Procrustes anchor.
    """

    dataset: data.Dataset
    network: torch.nn.Module
    preprocessor: StatePreprocessor
    first_layer: str
    last_layer: str
    Z0_train: np.ndarray
    ZL_train: np.ndarray
    Z0_test: np.ndarray
    ZL_test: np.ndarray


def load_surrogate_problem(
    data_path, weights_path, states_path, preprocessing_path, device="cpu"
) -> SurrogateProblem:
    """Load and preprocess everything a surrogate of one network is fitted on."""
    dataset = data.load_dataset(data_path)
    network = networks.load_network(weights_path, device=device)
    train, test, _, _ = activations.load_states(states_path)
    preprocessor = load_preprocessor(preprocessing_path)
    first, last = preprocessor.layer_names_[0], preprocessor.layer_names_[-1]
    return SurrogateProblem(
        dataset=dataset,
        network=network,
        preprocessor=preprocessor,
        first_layer=first,
        last_layer=last,
        Z0_train=preprocessor.transform_layer(first, train[first]),
        ZL_train=preprocessor.transform_layer(last, train[last]),
        Z0_test=preprocessor.transform_layer(first, test[first]),
        ZL_test=preprocessor.transform_layer(last, test[last]),
    )


def koopman_config(section: dict, **overrides):
    """The KoopmanConfig of a dataset's config section (workflow-only keys dropped)."""
    from repdyn.koopman import KoopmanConfig

    workflow_keys = {"iterate_stride", "linear_rank"}
    values = {k: v for k, v in section["koopman"].items() if k not in workflow_keys}
    return KoopmanConfig(**{**values, **overrides})
