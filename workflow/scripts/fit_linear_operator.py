"""Rule fit_linear_operator: the least-squares linear operator baseline (DMD-style)."""

from repdyn.io import write_json
from repdyn.koopman import LinearOperatorBaseline
from repdyn.logs import run_script
from repdyn.runtime import resolve_device
from repdyn.study import load_surrogate_problem
from repdyn.surrogate import surrogate_metrics


def main(smk, log):
    device = resolve_device(smk.params.device)
    problem = load_surrogate_problem(
        smk.input.data,
        smk.input.weights,
        smk.input.states,
        smk.input.preprocessing,
        device,
    )
    rank = smk.params.section["koopman"]["linear_rank"]
    baseline = LinearOperatorBaseline(rank=rank).fit(problem.Z0_train, problem.ZL_train)

    dataset = problem.dataset
    metrics = {
        split: surrogate_metrics(
            problem.network,
            problem.preprocessor,
            baseline,
            X,
            y,
            dataset.n_classes,
            device,
        )
        for split, X, y in (
            ("test", dataset.X_test, dataset.y_test),
            ("train", dataset.X_train, dataset.y_train),
        )
    }
    log.info(
        "linear operator: test balanced accuracy %.4f",
        metrics["test"]["balanced_accuracy"],
    )
    write_json(
        smk.output.metrics,
        {
            "dataset": dataset.name,
            "network_seed": int(smk.wildcards.net_seed),
            "rank": rank,
            **metrics,
        },
    )


run_script(snakemake, main)  # noqa: F821
