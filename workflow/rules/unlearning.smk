rule edit_operator:
    input:
        data="results/data/{dataset}.npz",
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
        model="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/model.safetensors",
    output:
        result="results/unlearning/{dataset}/net{net_seed}/class{forget_class}/edit_kae{kae_seed}.json",
        observables="results/unlearning/{dataset}/net{net_seed}/class{forget_class}/edit_kae{kae_seed}.npz",
    log:
        "logs/unlearning/{dataset}/net{net_seed}/class{forget_class}/edit_kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/unlearning/{dataset}/net{net_seed}/class{forget_class}/edit_kae{kae_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    params:
        section=unlearning_section(EDIT_KEYS),
        device=config["device"],
    script:
        "../scripts/edit_operator.py"


rule unlearning_baseline:
    input:
        data="results/data/{dataset}.npz",
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
    output:
        result="results/unlearning/{dataset}/net{net_seed}/class{forget_class}/{baseline}.json",
    log:
        "logs/unlearning/{dataset}/net{net_seed}/class{forget_class}/{baseline}.log",
    benchmark:
        "benchmarks/rules/unlearning/{dataset}/net{net_seed}/class{forget_class}/{baseline}.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        section=unlearning_section(BASELINE_KEYS, "network", "training"),
        device=config["device"],
    script:
        "../scripts/unlearning_baseline.py"
