rule make_dataset:
    output:
        data="results/data/{dataset}.npz",
        info="results/data/{dataset}.json",
    params:
        section=data_section,
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "benchmarks/rules/data/{dataset}.tsv"
    script:
        "../scripts/make_dataset.py"
