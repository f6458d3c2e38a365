rule cache_states:
    input:
        data="results/data/{dataset}.npz",
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
    output:
        states="results/states/{dataset}/net{net_seed}/states.npz",
        info="results/states/{dataset}/net{net_seed}/states.json",
    log:
        "logs/states/{dataset}/net{net_seed}.log",
    benchmark:
        "benchmarks/rules/states/{dataset}/net{net_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    params:
        device=config["device"],
    script:
        "../scripts/cache_states.py"


rule fit_preprocessing:
    input:
        states="results/states/{dataset}/net{net_seed}/states.npz",
    output:
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    log:
        "logs/states/{dataset}/net{net_seed}_preprocessing.log",
    benchmark:
        "benchmarks/rules/states/{dataset}/net{net_seed}_preprocessing.tsv"
    conda:
        "../envs/repdyn.yaml"
    script:
        "../scripts/fit_preprocessing.py"
