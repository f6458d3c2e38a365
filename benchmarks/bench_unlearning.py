"""Unlearning: the surrogate's closed-form operator edit against retraining from scratch.

On the default study's MNIST (embedded 5000 digits, ResMLP 784 -> 256 x 4 blocks, KAE
256 -> 512 -> 256, k = 10, forget class 4, the config's edit settings: label
selection, shift targets, ridge 1e-3 by default). The trained network, preprocessing and KAE come from a finished default
run in ``results/`` when it is there (read only: nothing is written there); otherwise
the benchmark trains them itself (with ``--quick``, on few epochs: the edit's cost
depends on the sizes, not on how well the models are trained).

Timed, as the study times them:

- the edit procedure, ``repdyn.unlearning.surrogate_unlearning``'s ``seconds``:
  encoding the cached training states, the unedited surrogate's training predictions (to
  keep only correctly classified targets), forget-set selection, targets and the
  Cholesky edit; the metrics before and after are not part of it;
- the edit alone (``edit_operator``: the closed-form solve);
- retraining from scratch: ``retrain_without_class`` with the study's training
  settings (``retrain_epochs`` or the training epochs). With ``--quick`` it trains a
  few epochs and scales the time to the full epochs (per-epoch cost is constant);
  the table says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from benchlib import (
    PROJECT,
    item_record,
    load_average,
    median,
    ratio,
    study_config,
    timed_runs,
)
from threadpoolctl import threadpool_limits

from repdyn import activations, data, networks, unlearning
from repdyn.koopman import KoopmanAutoencoder
from repdyn.preprocessing import StatePreprocessor
from repdyn.study import koopman_config, load_surrogate_problem

TARGET_RATIO = 100.0
WORKFLOW_THREADS = 1
QUICK_EPOCHS = 4
COLUMNS = [
    "dataset",
    "models from",
    "forget class",
    "forget set",
    "edit procedure (s)",
    "edit solve (s)",
    "retrain (s)",
    "retrain epochs",
    "retrain / procedure",
    "retrain / solve",
    "forget acc. before -> after",
    "load (1 min)",
]


@dataclasses.dataclass
class Surrogate:
    """Everything the edit needs: data, network, preprocessing, KAE; and the source."""

    dataset: data.Dataset
    network: torch.nn.Module
    preprocessor: StatePreprocessor
    kae: KoopmanAutoencoder
    Z0_train: np.ndarray  # preprocessed first states of the training inputs
    source: str


def finished_run(results: Path, config: dict) -> Surrogate | None:
    """The default study's MNIST surrogate from ``results`` if every file exists."""
    net_seed = config["surrogate_network_seeds"][0]
    kae_seed = config["kae_seeds"][0]
    paths = {
        "data": results / "data" / "mnist.npz",
        "weights": results
        / "networks"
        / "mnist"
        / f"net{net_seed}"
        / "network.safetensors",
        "states": results / "states" / "mnist" / f"net{net_seed}" / "states.npz",
        "preprocessing": results
        / "states"
        / "mnist"
        / f"net{net_seed}"
        / "preprocessing.npz",
        "model": results
        / "koopman"
        / "mnist"
        / f"net{net_seed}"
        / f"kae{kae_seed}"
        / "model.safetensors",
    }
    if not all(path.exists() for path in paths.values()):
        return None
    problem = load_surrogate_problem(
        paths["data"], paths["weights"], paths["states"], paths["preprocessing"]
    )
    kae = KoopmanAutoencoder.load(paths["model"])
    return Surrogate(
        problem.dataset,
        problem.network,
        problem.preprocessor,
        kae,
        problem.Z0_train,
        f"finished run ({results})",
    )


def trained_here(section: dict, quick: bool) -> Surrogate:
    """Train the MNIST network and KAE of the default study (short with ``quick``)."""
    dataset = data.build_dataset("mnist", section)
    training = dict(section["training"])
    koopman_overrides = {}
    if quick:
        training["epochs"] = min(training["epochs"], QUICK_EPOCHS)
        koopman_overrides["epochs"] = QUICK_EPOCHS
    arch = {
        "d_in": dataset.X_train.shape[1],
        "n_classes": dataset.n_classes,
        **section["network"],
    }
    network, _ = networks.train_network(
        dataset.X_train,
        dataset.y_train,
        arch,
        networks.TrainConfig(**training),
        seed=0,
        progress=False,
    )
    states = activations.cache_states(network, dataset.X_train)
    preprocessor = StatePreprocessor().fit(states)
    first, last = preprocessor.layer_names_[0], preprocessor.layer_names_[-1]
    Z0_train = preprocessor.transform_layer(first, states[first])
    kae = KoopmanAutoencoder(koopman_config(section, **koopman_overrides), seed=21)
    kae.fit(Z0_train, preprocessor.transform_layer(last, states[last]), progress=False)
    epochs = f"{training['epochs']} network / {kae.config.epochs} KAE epochs"
    return Surrogate(
        dataset, network, preprocessor, kae, Z0_train, f"trained here ({epochs})"
    )


def time_edit(surrogate: Surrogate, section: dict, forget_class: int, repeats: int):
    """Median procedure and solve seconds over ``repeats`` edits; the last report."""
    settings = section["unlearning"]
    config = unlearning.EditConfig(
        selection=settings["selection"],
        targets=settings["targets"],
        ridge_fraction=settings["ridge_fraction"],
    )
    context = {"dataset": "mnist", "forget_class": forget_class}
    procedure, solve, report = [], [], None
    for _ in range(repeats):
        report, _ = unlearning.surrogate_unlearning(
            surrogate.network,
            surrogate.preprocessor,
            surrogate.kae,
            surrogate.dataset,
            forget_class,
            context,
            config,
            Z0_train=surrogate.Z0_train,
        )
        procedure.append(report["seconds"])
        solve.append(report["details"]["seconds"])
    return procedure, solve, report


def time_retrain(
    surrogate: Surrogate, section: dict, forget_class: int, repeats: int, quick: bool
) -> tuple[list[float], int, int]:
    """Retrain-from-scratch seconds (scaled to the full epochs with ``quick``)."""
    training = dict(section["training"])
    full_epochs = section["unlearning"]["retrain_epochs"] or training["epochs"]
    epochs = min(full_epochs, QUICK_EPOCHS) if quick else full_epochs
    arch = {
        "d_in": surrogate.dataset.X_train.shape[1],
        "n_classes": surrogate.dataset.n_classes,
        **section["network"],
    }
    train_config = networks.TrainConfig(**{**training, "epochs": epochs})
    dataset = surrogate.dataset

    def retrain():
        return unlearning.retrain_without_class(
            dataset.X_train,
            dataset.y_train,
            dataset.n_classes,
            forget_class,
            arch,
            train_config,
            seed=0,
            progress=False,
        )[1]

    seconds, _ = timed_runs(retrain, repeats)
    return [s * full_epochs / epochs for s in seconds], epochs, full_epochs


def run(args) -> dict:
    """Item 4: the edit's wall time against retraining, on MNIST default sizes."""
    load_start = load_average()
    config = study_config()
    section = config["datasets"]["mnist"]
    forget_class = section["unlearning"]["forget_classes"][0]
    results = Path(args.results_dir) if args.results_dir else PROJECT / "results"
    surrogate = finished_run(results, config)
    if surrogate is None:
        print(
            "unlearning: no finished default run in results/; training here", flush=True
        )
        surrogate = trained_here(section, args.quick)
    print(f"unlearning: models from {surrogate.source}", flush=True)

    edit_repeats = args.repeats or (3 if args.quick else 5)
    retrain_repeats = args.repeats or (1 if args.quick else 3)
    # Both with the threads the study's rules run them with (edit_operator and
    # unlearning_baseline: one), torch and BLAS alike.
    threads = args.threads or WORKFLOW_THREADS
    with threadpool_limits(limits=threads):
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            procedure, solve, report = time_edit(
                surrogate, section, forget_class, edit_repeats
            )
            retrain, epochs, full_epochs = time_retrain(
                surrogate, section, forget_class, retrain_repeats, args.quick
            )
        finally:
            torch.set_num_threads(torch_threads)
    epochs_text = (
        str(full_epochs)
        if epochs == full_epochs
        else (f"{full_epochs} (scaled from {epochs})")
    )
    row = {
        "dataset": "MNIST default (embedded 5000)",
        "models from": surrogate.source,
        "forget class": forget_class,
        "forget set": report["details"]["n_forget"],
        "edit procedure (s)": median(procedure),
        "edit solve (s)": median(solve),
        "retrain (s)": median(retrain),
        "retrain epochs": epochs_text,
        "retrain / procedure": ratio(median(retrain), median(procedure)),
        "retrain / solve": ratio(median(retrain), median(solve)),
        "forget acc. before -> after": f"{report['forget_accuracy_before']:.3f} -> "
        f"{report['forget_accuracy_after']:.3f}",
        "load (1 min)": f"{load_start[0]:.1f}-{load_average()[0]:.1f}",
        "procedure_seconds": procedure,
        "solve_seconds": solve,
        "retrain_seconds": retrain,
        "threads": threads,
        "edit_details": {k: v for k, v in report["details"].items() if np.isscalar(v)},
    }
    print(
        f"unlearning: retrain / edit procedure = {row['retrain / procedure']:.0f}x",
        flush=True,
    )
    notes = [
        (
            f"Median of {edit_repeats} edits and {retrain_repeats} retraining run(s), "
            f"{threads} thread(s) for torch and BLAS, as the study's rules run them. "
            "Edit procedure = what the study reports as the edit's seconds (encode the "
            "cached training states, selection, targets, solve; with nearest_kept or "
            "common targets also the unedited surrogate's training predictions); edit "
            "solve = the closed-form Cholesky solve alone."
        ),
        f"Target: retrain / procedure >= {TARGET_RATIO:.0f}x.",
        "Forget accuracy is on the held-out test split (the study's metric).",
    ]
    return item_record(
        "unlearning",
        "4. Unlearning: operator edit vs retraining",
        [row],
        COLUMNS,
        notes,
        load_start,
    )
