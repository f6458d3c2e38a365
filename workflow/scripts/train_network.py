"""Rule train_network: train one ResMLP and measure it on the held-out test split."""

from repdyn import data, networks
from repdyn.io import write_csv, write_json
from repdyn.logs import run_script
from repdyn.runtime import resolve_device


def main(smk, log):
    section = smk.params.section
    dataset = data.load_dataset(smk.input.data)
    seed = int(smk.wildcards.net_seed)
    device = resolve_device(smk.params.device)
    arch = {
        "d_in": dataset.X_train.shape[1],
        "n_classes": dataset.n_classes,
        **section["network"],
    }
    train_config = networks.TrainConfig(**section["training"])

    model, history = networks.train_network(
        dataset.X_train,
        dataset.y_train,
        arch,
        train_config,
        seed,
        device=device,
        context=f"dataset {dataset.name}, network seed {seed}",
    )
    test = networks.evaluate(
        model, dataset.X_test, dataset.y_test, dataset.n_classes, device
    )
    train = networks.evaluate(
        model, dataset.X_train, dataset.y_train, dataset.n_classes, device
    )
    log.info(
        "%s net%d: test accuracy %.4f balanced %.4f (train %.4f)",
        dataset.name,
        seed,
        test["accuracy"],
        test["balanced_accuracy"],
        train["accuracy"],
    )

    networks.save_network(model, smk.output.weights, arch, section["training"])
    write_csv(smk.output.history, history)
    write_json(
        smk.output.metrics,
        {
            "dataset": dataset.name,
            "network_seed": seed,
            "architecture": arch,
            "training": section["training"],
            "device": str(device),
            "seconds": float(history["seconds"].sum()),
            "test": {k: v for k, v in test.items() if k != "predictions"},
            "train": {k: v for k, v in train.items() if k != "predictions"},
        },
    )


run_script(snakemake, main)  # noqa: F821
