rule network_topology:
    input:
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        persistence="results/topology/{dataset}/net{net_seed}/network.npz",
    log:
        "logs/topology/{dataset}/net{net_seed}/network.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/network.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    params:
        section=sections("topology"),
    script:
        "../scripts/persistence.py"


rule surrogate_topology:
    input:
        iterates="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/iterates.npz",
    output:
        persistence="results/topology/{dataset}/net{net_seed}/kae{kae_seed}.npz",
    log:
        "logs/topology/{dataset}/net{net_seed}/kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/kae{kae_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    params:
        section=sections("topology"),
    script:
        "../scripts/persistence.py"


rule topology_summary:
    input:
        network="results/topology/{dataset}/net{net_seed}/network.npz",
        surrogates=lambda w: expand(
            "results/topology/{{dataset}}/net{{net_seed}}/kae{kae_seed}.npz",
            kae_seed=config["kae_seeds"],
        ),
        data="results/data/{dataset}.npz",
    output:
        curves="results/topology/{dataset}/net{net_seed}/betti_curves.csv",
        summary="results/topology/{dataset}/net{net_seed}/summary.json",
    log:
        "logs/topology/{dataset}/net{net_seed}/summary.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/summary.tsv"
    conda:
        "../envs/repdyn.yaml"
    params:
        section=sections("topology"),
    script:
        "../scripts/topology_summary.py"


rule isometry_ablation:
    input:
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        result="results/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.json",
        curves="results/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.csv",
    log:
        "logs/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.tsv"
    conda:
        "../envs/repdyn.yaml"
    threads: 1
    params:
        section=sections("koopman", "topology"),
        device=config["device"],
    script:
        "../scripts/isometry_ablation.py"
