"""Rule cache_states: states L0..LB of every train and test input, in eval mode."""

from repdyn import activations, data, networks
from repdyn.io import check_finite, write_json
from repdyn.logs import run_script
from repdyn.runtime import resolve_device


def main(smk, log):
    device = resolve_device(smk.params.device)
    dataset = data.load_dataset(smk.input.data)
    model = networks.load_network(smk.input.weights, device=device)

    train = activations.cache_states(model, dataset.X_train, device=device)
    test = activations.cache_states(model, dataset.X_test, device=device)
    for split, states in (("train", train), ("test", test)):
        for name, state in states.items():
            check_finite(f"{split} state {name}", state, smk.input.weights)

    activations.save_states(
        smk.output.states, train, test, dataset.y_train, dataset.y_test
    )
    write_json(
        smk.output.info,
        {
            "layers": list(train),
            "dtype": str(next(iter(train.values())).dtype),
            "train_shapes": {name: list(s.shape) for name, s in train.items()},
            "test_shapes": {name: list(s.shape) for name, s in test.items()},
        },
    )
    log.info(
        "cached layers %s for %d train and %d test inputs",
        list(train),
        len(dataset.y_train),
        len(dataset.y_test),
    )


run_script(snakemake, main)  # noqa: F821
