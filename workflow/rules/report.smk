rule collect_metrics:
    input:
        networks=expand(
            "results/networks/{dataset}/net{net_seed}/metrics.json",
            dataset=DATASETS,
            net_seed=config["network_seeds"],
        ),
        linear=expand(
            "results/networks/{dataset}/linear_classifier.json", dataset=DATASETS
        ),
        surrogates=surrogate_outputs(),
    output:
        summary="results/metrics/summary.json",
        metrics="results/metrics/metrics.json",
        networks="results/metrics/networks.csv",
        surrogates="results/metrics/surrogates.csv",
        unlearning="results/metrics/unlearning.csv",
        per_class="results/metrics/unlearning_per_class.csv",
        topology="results/metrics/topology.csv",
        betti="results/metrics/betti_curves.csv",
        ablation="results/metrics/ablation.csv",
        spectrum="results/metrics/spectrum.csv",
    log:
        "logs/report/collect_metrics.log",
    benchmark:
        "benchmarks/rules/report/collect_metrics.tsv"
    conda:
        "../envs/repdyn.yaml"
    script:
        "../scripts/collect_metrics.py"


rule render_notebook:
    input:
        summary="results/metrics/summary.json",
        notebook="notebooks/{notebook}.ipynb",
    output:
        executed="results/reports/{notebook}.ipynb",
        html=report(
            "results/reports/{notebook}.html",
            caption="../report/notebook.rst",
            category="Reports",
        ),
        figures=report(
            directory("results/figures/{notebook}"),
            patterns=["{name}.png"],
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{notebook}",
        ),
    log:
        "logs/report/{notebook}.log",
    benchmark:
        "benchmarks/rules/report/{notebook}.tsv"
    conda:
        "../envs/repdyn.yaml"
    script:
        "../scripts/render_notebook.py"
