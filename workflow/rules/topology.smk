rule network_topology:
    input:
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        persistence="results/topology/{dataset}/net{net_seed}/network.npz",
    params:
        section=sections("topology"),
    threads: 1
    log:
        "logs/topology/{dataset}/net{net_seed}/network.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/network.tsv"
    script:
        "../scripts/persistence.py"


rule surrogate_topology:
    input:
        iterates="results/koopman/{dataset}/net{net_seed}/kae{kae_seed}/iterates.npz",
    output:
        persistence="results/topology/{dataset}/net{net_seed}/kae{kae_seed}.npz",
    params:
        section=sections("topology"),
    threads: 1
    log:
        "logs/topology/{dataset}/net{net_seed}/kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/kae{kae_seed}.tsv"
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
    params:
        section=sections("topology"),
    log:
        "logs/topology/{dataset}/net{net_seed}/summary.log",
    benchmark:
        "benchmarks/rules/topology/{dataset}/net{net_seed}/summary.tsv"
    script:
        "../scripts/topology_summary.py"


rule isometry_ablation:
    input:
        states="results/states/{dataset}/net{net_seed}/states.npz",
        preprocessing="results/states/{dataset}/net{net_seed}/preprocessing.npz",
    output:
        result="results/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.json",
        curves="results/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.csv",
    params:
        section=sections("koopman", "topology"),
        device=config["device"],
    threads: 1
    log:
        "logs/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.log",
    benchmark:
        "benchmarks/rules/ablation/{dataset}/net{net_seed}/w{weight}/kae{kae_seed}.tsv"
    script:
        "../scripts/isometry_ablation.py"
