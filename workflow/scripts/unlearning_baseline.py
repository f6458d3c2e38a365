"""Rule unlearning_baseline: retrain, fine-tune or gradient ascent on the network."""

from repdyn import data, networks, unlearning
from repdyn.io import write_json
from repdyn.logs import run_script
from repdyn.runtime import resolve_device


def main(smk, log):
    section = smk.params.section
    settings = section["unlearning"]
    device = resolve_device(smk.params.device)
    dataset = data.load_dataset(smk.input.data)
    network = networks.load_network(smk.input.weights, device=device)
    net_seed, forget_class = (
        int(smk.wildcards.net_seed),
        int(smk.wildcards.forget_class),
    )

    training = dict(section["training"])
    training["epochs"] = settings["retrain_epochs"] or training["epochs"]
    arch = {
        "d_in": dataset.X_train.shape[1],
        "n_classes": dataset.n_classes,
        **section["network"],
    }
    config = unlearning.BaselineConfig(
        finetune_epochs=settings["finetune_epochs"],
        finetune_lr=settings["finetune_lr"],
        ascent_max_steps=settings["ascent_max_steps"],
        ascent_lr=settings["ascent_lr"],
    )
    context = {
        "dataset": dataset.name,
        "network_seed": net_seed,
        "kae_seed": -1,
        "forget_class": forget_class,
    }
    report = unlearning.network_unlearning(
        smk.wildcards.baseline,
        network,
        dataset,
        forget_class,
        context,
        config,
        arch=arch,
        train_config=networks.TrainConfig(**training),
        seed=net_seed,
        device=device,
    )
    write_json(smk.output.result, {**report, "split": "test"})
    log.info(
        "%s: forget accuracy %.4f -> %.4f in %.2f s",
        smk.wildcards.baseline,
        report["forget_accuracy_before"],
        report["forget_accuracy_after"],
        report["seconds"],
    )


run_script(snakemake, main)  # noqa: F821
