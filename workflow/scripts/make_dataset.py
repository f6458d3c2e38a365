"""Rule make_dataset: build one dataset and record its sizes, classes and hash."""

from repdyn import data
from repdyn.logs import run_script


def main(smk, log):
    dataset = data.build_dataset(smk.wildcards.dataset, smk.params.section)
    data.save_dataset(dataset, smk.output.data, smk.output.info)
    log.info(
        "dataset %s: %d train, %d test, %d classes, %d features",
        dataset.name,
        len(dataset.y_train),
        len(dataset.y_test),
        dataset.n_classes,
        dataset.X_train.shape[1],
    )


run_script(snakemake, main)  # noqa: F821
