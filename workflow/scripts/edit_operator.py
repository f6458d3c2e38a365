"""Rule edit_operator: forget a class by a closed-form edit of the KAE's operator."""

import numpy as np

from repdyn import unlearning
from repdyn.io import write_json, write_npz
from repdyn.koopman import KoopmanAutoencoder
from repdyn.logs import run_script
from repdyn.runtime import resolve_device
from repdyn.study import load_surrogate_problem


def main(smk, log):
    section = smk.params.section["unlearning"]
    device = resolve_device(smk.params.device)
    problem = load_surrogate_problem(
        smk.input.data,
        smk.input.weights,
        smk.input.states,
        smk.input.preprocessing,
        device,
    )
    kae = KoopmanAutoencoder.load(smk.input.model, device=device)
    forget_class = int(smk.wildcards.forget_class)
    context = {
        "dataset": problem.dataset.name,
        "network_seed": int(smk.wildcards.net_seed),
        "kae_seed": int(smk.wildcards.kae_seed),
        "forget_class": forget_class,
    }
    config = unlearning.EditConfig(
        selection=section["selection"],
        targets=section["targets"],
        ridge_fraction=section["ridge_fraction"],
    )

    report, arrays = unlearning.surrogate_unlearning(
        problem.network,
        problem.preprocessor,
        kae,
        problem.dataset,
        forget_class,
        context,
        config,
        device,
        Z0_train=problem.Z0_train,
    )
    observables = kae.encode(problem.Z0_test)  # [n_test, q]
    write_npz(
        smk.output.observables,
        advanced_before=observables @ arrays["operator"],
        advanced_after=observables @ arrays["edited_operator"],
        labels=problem.dataset.y_test,
        forget_class=np.asarray(forget_class),
        **arrays,
    )
    write_json(smk.output.result, {**report, "split": "test"})
    log.info(
        "edit: forget accuracy %.4f -> %.4f in %.4f s",
        report["forget_accuracy_before"],
        report["forget_accuracy_after"],
        report["seconds"],
    )


run_script(snakemake, main)  # noqa: F821
