rule train_network:
    input:
        data="results/data/{dataset}.npz",
    output:
        weights="results/networks/{dataset}/net{net_seed}/network.safetensors",
        history="results/networks/{dataset}/net{net_seed}/history.csv",
        metrics="results/networks/{dataset}/net{net_seed}/metrics.json",
    log:
        "logs/networks/{dataset}/net{net_seed}.log",
    benchmark:
        "benchmarks/rules/networks/{dataset}/net{net_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        section=sections("network", "training"),
        device=config["device"],
    script:
        "../scripts/train_network.py"


rule linear_classifier:
    input:
        data="results/data/{dataset}.npz",
    output:
        metrics="results/networks/{dataset}/linear_classifier.json",
    log:
        "logs/networks/{dataset}/linear_classifier.log",
    benchmark:
        "benchmarks/rules/networks/{dataset}/linear_classifier.tsv"
    conda:
        "../envs/repdyn.yaml"
    script:
        "../scripts/linear_classifier.py"
