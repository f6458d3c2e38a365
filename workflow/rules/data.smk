rule make_dataset:
    output:
        data="results/data/{dataset}.npz",
        info="results/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "benchmarks/rules/data/{dataset}.tsv"
    conda:
        "../envs/repdyn.yaml"
    params:
        section=data_section,
    script:
        "../scripts/make_dataset.py"
