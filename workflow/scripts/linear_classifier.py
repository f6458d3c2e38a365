"""Rule linear_classifier: the linear baseline that shows what the network adds."""

from repdyn import data, networks
from repdyn.io import write_json
from repdyn.logs import run_script


def main(smk, log):
    dataset = data.load_dataset(smk.input.data)
    metrics = networks.linear_baseline(
        dataset.X_train, dataset.y_train, dataset.X_test, dataset.y_test
    )
    log.info("%s linear classifier: %s", dataset.name, metrics)
    write_json(smk.output.metrics, {"dataset": dataset.name, "test": metrics})


run_script(snakemake, main)  # noqa: F821
