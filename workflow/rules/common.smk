import os
import sys
from pathlib import Path

from snakemake.utils import validate

# Every job imports repdyn from this checkout's src/ (where there is one), also inside
# a `--use-conda` environment, so results always come from the code beside the rules.
SOURCE = Path(workflow.basedir).parent / "src"
if SOURCE.is_dir():
    os.environ.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SOURCE), os.getenv("PYTHONPATH")]))
    )

from repdyn import configcheck, locks

# Bad configuration stops here, before any job runs: first every schema violation
# and misplaced key as one line each (key, bad value, what is allowed), then
# Snakemake's validate, which also fills in the schema's defaults, then the checks
# across keys.
configcheck.raise_problems(
    configcheck.schema_problems(
        config,
        configcheck.load_schema(Path(workflow.basedir, "schemas/config.schema.yaml")),
    )
    + configcheck.kind_problems(config),
    "schema",
)
validate(config, schema="../schemas/config.schema.yaml")

DATASETS = list(config["datasets"])
NOTEBOOKS = ["fidelity", "topology", "unlearning", "spectrum", "layers"]


def check_config_consistency():
    """Checks the schema cannot express; each names the key, the value and the fix."""
    configcheck.raise_problems(configcheck.consistency_problems(config), "consistency")


check_config_consistency()

# A run killed with SIGKILL leaves Snakemake's locks behind; remove them when the
# process that held them is provably gone, so that a plain rerun resumes (the
# profile's rerun-incomplete redoes the jobs it left unfinished).
if workflow.is_main_process:
    for stale in locks.remove_stale_locks():
        print(f"removed stale lock {stale} of a killed run", file=sys.stderr)


onstart:
    locks.record_owner()


wildcard_constraints:
    dataset="|".join(DATASETS),
    net_seed=r"\d+",
    kae_seed=r"\d+",
    forget_class=r"\d+",
    weight=r"[0-9.e-]+",
    baseline="retrain|finetune|gradient_ascent",
    notebook="|".join(NOTEBOOKS),


STAGE_SECTIONS = ("network", "training", "koopman", "topology", "unlearning")


def dataset_config(wildcards):
    """The validated config section of the wildcard's dataset."""
    return config["datasets"][wildcards.dataset]


def data_section(wildcards):
    """The dataset's data keys only, so a change to a later stage reruns only it."""
    section = dataset_config(wildcards)
    return {k: v for k, v in section.items() if k not in STAGE_SECTIONS}


def sections(*names):
    """Params function giving a rule only the config sections it reads."""

    def params(wildcards):
        return {name: dataset_config(wildcards)[name] for name in names}

    return params


EDIT_KEYS = ("selection", "targets", "ridge_fraction")
BASELINE_KEYS = (
    "retrain_epochs",
    "finetune_epochs",
    "finetune_lr",
    "ascent_max_steps",
    "ascent_lr",
)


def unlearning_section(keys, *names):
    """Params function: the sections ``names`` and only ``keys`` of unlearning, so
    a change to the edit's settings never reruns a baseline, nor the reverse."""

    chosen = sections(*names)

    def params(wildcards):
        unlearning = dataset_config(wildcards)["unlearning"]
        return {**chosen(wildcards), "unlearning": {k: unlearning[k] for k in keys}}

    return params


def kae_paths(dataset, net_seed, filename):
    """One file of every KAE fitted to a network."""
    return expand(
        "results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/{filename}",
        dataset=dataset,
        net_seed=net_seed,
        kae_seed=config["kae_seeds"],
        filename=filename,
    )


def unlearning_paths(dataset, net_seed):
    """Every unlearning result of one surrogate network: edits and baselines."""
    section = config["datasets"][dataset]["unlearning"]
    edits = expand(
        "results/unlearning/{dataset}/net{net_seed}/class{forget_class}/"
        "edit_kae{kae_seed}.json",
        dataset=dataset,
        net_seed=net_seed,
        forget_class=section["forget_classes"],
        kae_seed=config["kae_seeds"],
    )
    baselines = expand(
        "results/unlearning/{dataset}/net{net_seed}/class{forget_class}/"
        "{baseline}.json",
        dataset=dataset,
        net_seed=net_seed,
        forget_class=section["forget_classes"],
        baseline=section["baselines"],
    )
    return edits + baselines


def ablation_paths(dataset, net_seed):
    """Isometry-ablation fits of one network (empty when no weights are set)."""
    return expand(
        "results/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.json",
        dataset=dataset,
        net_seed=net_seed,
        weight=config["datasets"][dataset]["topology"]["ablation_weights"],
        kae_seed=config["kae_seeds"],
    )


def surrogate_outputs():
    """Per (dataset, surrogate network) results: fits, topology, unlearning."""
    outputs = []
    for dataset in DATASETS:
        for net_seed in config["surrogate_network_seeds"]:
            outputs += kae_paths(dataset, net_seed, "metrics.json")
            outputs.append(f"results/koopman/{dataset}/net{net_seed}/linear.json")
            outputs.append(f"results/topology/{dataset}/net{net_seed}/summary.json")
            outputs += unlearning_paths(dataset, net_seed)
            outputs += ablation_paths(dataset, net_seed)
    return outputs


def study_outputs():
    """Everything `snakemake` builds by default: the collected metrics and reports."""
    return [
        "results/metrics/summary.json",
        *expand("results/reports/{notebook}.html", notebook=NOTEBOOKS),
    ]
