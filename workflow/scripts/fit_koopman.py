"""Rule fit_koopman: one Koopman autoencoder surrogate of one network."""

import numpy as np
import pandas as pd

from repdyn.io import write_csv, write_json, write_npz
from repdyn.koopman import KoopmanAutoencoder, fraction_of_variance_unexplained
from repdyn.logs import run_script
from repdyn.runtime import resolve_device
from repdyn.study import koopman_config, load_surrogate_problem
from repdyn.surrogate import surrogate_metrics


def spectrum_table(eigenvalues: dict) -> pd.DataFrame:
    """Tidy eigenvalues of K and K^k: real, imaginary part, modulus, angle."""
    rows = []
    for operator, values in eigenvalues.items():
        for index, value in enumerate(np.asarray(values)):
            rows.append(
                {
                    "operator": operator,
                    "index": index,
                    "real": value.real,
                    "imag": value.imag,
                    "modulus": abs(value),
                    "angle": float(np.angle(value)),
                }
            )
    return pd.DataFrame(rows)


def main(smk, log):
    section = smk.params.section
    device = resolve_device(smk.params.device)
    problem = load_surrogate_problem(
        smk.input.data,
        smk.input.weights,
        smk.input.states,
        smk.input.preprocessing,
        device,
    )
    dataset, net_seed, kae_seed = (
        problem.dataset.name,
        smk.wildcards.net_seed,
        int(smk.wildcards.kae_seed),
    )
    context = f"dataset {dataset}, network seed {net_seed}, KAE seed {kae_seed}"
    kae = KoopmanAutoencoder(
        koopman_config(section), seed=kae_seed, device=device, context=context
    ).fit(problem.Z0_train, problem.ZL_train)

    args = (problem.network, problem.preprocessor, kae)
    test = surrogate_metrics(
        *args,
        problem.dataset.X_test,
        problem.dataset.y_test,
        problem.dataset.n_classes,
        device,
    )
    train = surrogate_metrics(
        *args,
        problem.dataset.X_train,
        problem.dataset.y_train,
        problem.dataset.n_classes,
        device,
    )
    log.info(
        "%s: surrogate test balanced accuracy %.4f, agreement %.4f",
        context,
        test["balanced_accuracy"],
        test["agreement"],
    )

    kae.save(smk.output.model)
    write_csv(smk.output.history, kae.history_)
    write_csv(smk.output.spectrum, spectrum_table(kae.eigenvalues()))
    stride = section["koopman"]["iterate_stride"]
    write_npz(
        smk.output.iterates,
        steps=np.asarray(kae.iterate_steps(stride)),
        iterates=kae.iterates(problem.Z0_test, stride=stride),
        labels=problem.dataset.y_test,
    )
    write_json(
        smk.output.metrics,
        {
            "dataset": dataset,
            "network_seed": int(net_seed),
            "kae_seed": kae_seed,
            "koopman": section["koopman"],
            "device": str(device),
            "seconds": float(kae.history_["seconds"].sum()),
            "final_losses": kae.history_.iloc[-1].to_dict(),
            "test_state_fvu": fraction_of_variance_unexplained(
                kae.predict(problem.Z0_test), problem.ZL_test
            ),
            "test": test,
            "train": train,
        },
    )


run_script(snakemake, main)  # noqa: F821
