"""Rule fit_preprocessing: centring, PCA rotation, scale and Procrustes per layer."""

from repdyn import activations
from repdyn.io import write_npz
from repdyn.logs import run_script
from repdyn.preprocessing import StatePreprocessor


def main(smk, log):
    train, _, _, _ = activations.load_states(smk.input.states)
    preprocessor = StatePreprocessor().fit(train)
    write_npz(smk.output.preprocessing, **preprocessor.to_arrays())
    log.info("preprocessing fitted on layers %s", preprocessor.layer_names_)


run_script(snakemake, main)  # noqa: F821
