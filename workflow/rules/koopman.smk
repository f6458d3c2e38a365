rule fit_koopman:
    input:
        data="results/data/{dataset}.npz",
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        model="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/model.safetensors",
        history="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/history.csv",
        metrics="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/metrics.json",
        spectrum="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/eigenvalues.csv",
        iterates="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/iterates.npz",
    log:
        "logs/koopman/{dataset}/net{net_seed}/kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/koopman/{dataset}/net{net_seed}/kae{kae_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        section=sections("koopman"),
        device=config["device"],
    script:
        "../scripts/fit_koopman.py"


rule fit_linear_operator:
    input:
        data="results/data/{dataset}.npz",
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        metrics="results/koopman/{dataset}/net{net_seed}/linear.json",
    log:
        "logs/koopman/{dataset}/net{net_seed}/linear.log",
    benchmark:
        "benchmarks/rules/koopman/{dataset}/net{net_seed}/linear.tsv"
    conda:
        "../envs/repdyn.yaml"
    params:
        section=sections("koopman"),
        device=config["device"],
    script:
        "../scripts/fit_linear_operator.py"
