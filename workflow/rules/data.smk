rule make_dataset:
    output:
        data="results/data/{dataset}.npz",
        info="results/data/{dataset}.json",
    params:
        section=dataset_config,
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "benchmarks/data/{dataset}.tsv"
    script:
        "../scripts/make_dataset.py"
