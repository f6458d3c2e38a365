"""Rule topology_summary: Betti curves of a network and its surrogates, and the trend.

The summary scale is chosen by topology.summary_scale from the last network layer
(never set by hand) and carried over to each surrogate's iterates by
topology.matched_scale (same median nearest-neighbour spacing at the last iterate).
At those scales the distance |beta0 - number of classes| should shrink with depth,
in the network's layers and in the surrogate's iterates alike. The surrogate's
beta0 at the network's own scale is recorded too.
"""

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from repdyn import data, topology
from repdyn.io import corrupt, read_npz, write_csv, write_json
from repdyn.logs import run_script


def load_persistence(path) -> list[dict]:
    """One dict per cloud: name, position (layer index or iterate t), arrays."""
    archive = read_npz(path)
    try:
        return [
            {
                "name": str(name),
                "position": int(position),
                "deaths": archive[f"deaths/{name}"],
                "h1": archive[f"h1/{name}"],
            }
            for name, position in zip(archive["names"], archive["positions"])
        ]
    except KeyError as err:
        raise corrupt(path, f"missing array {err}") from err


def curves_of(clouds, eps_grid, **labels) -> pd.DataFrame:
    frames = []
    for cloud in clouds:
        betti1 = topology.betti_curve_from_diagram(cloud["h1"], eps_grid).astype(float)
        betti1[eps_grid > cloud["deaths"].max()] = np.nan  # beyond the truncation
        frames.append(
            pd.DataFrame(
                {
                    **labels,
                    "stage": cloud["name"],
                    "position": cloud["position"],
                    "eps": eps_grid,
                    "betti0": topology.betti0_curve(cloud["deaths"], eps_grid),
                    "betti1": betti1,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def trend(positions, betti0, n_classes) -> float:
    """Spearman correlation of depth with |beta0 - classes| (negative: approaching).

    A distance that never changes has no trend; Spearman's rho is undefined there
    (scipy gives NaN, which JSON cannot hold), so it is reported as 0.0.
    """
    distance = np.abs(np.asarray(betti0) - n_classes)
    if np.ptp(distance) == 0:
        return 0.0
    return float(spearmanr(positions, distance).statistic)


def betti0_at(clouds, eps: float) -> list[int]:
    """beta0 of every cloud at one scale."""
    return [int(topology.betti0_curve(c["deaths"], np.array([eps]))[0]) for c in clouds]


def main(smk, log):
    dataset = data.load_dataset(smk.input.data)
    n_classes = dataset.n_classes
    net_seed = int(smk.wildcards.net_seed)
    network = load_persistence(smk.input.network)
    surrogates = {
        int(path.rsplit("kae", 1)[1].split(".")[0]): load_persistence(path)
        for path in smk.input.surrogates
    }

    all_deaths = [c["deaths"] for c in network] + [
        c["deaths"] for clouds in surrogates.values() for c in clouds
    ]
    eps_grid = topology.eps_grid(all_deaths, n=smk.params.section["topology"]["n_eps"])
    scale, rule = topology.summary_scale(network[-1]["deaths"], n_classes)

    labels = {"dataset": dataset.name, "network_seed": net_seed}
    frames = [curves_of(network, eps_grid, **labels, kae_seed=-1, source="network")]
    frames += [
        curves_of(clouds, eps_grid, **labels, kae_seed=seed, source="surrogate")
        for seed, clouds in surrogates.items()
    ]
    write_csv(smk.output.curves, pd.concat(frames, ignore_index=True))

    network_betti0 = betti0_at(network, scale)
    matched = {
        seed: topology.matched_scale(scale, network[-1]["deaths"], clouds[-1]["deaths"])
        for seed, clouds in surrogates.items()
    }
    surrogate_scales = {seed: eps for seed, (eps, _) in matched.items()}
    surrogate_betti0 = {
        seed: betti0_at(clouds, surrogate_scales[seed])
        for seed, clouds in surrogates.items()
    }
    unmatched_betti0 = {
        seed: betti0_at(clouds, scale) for seed, clouds in surrogates.items()
    }
    mean_surrogate = np.mean(list(surrogate_betti0.values()), axis=0)
    mean_unmatched = np.mean(list(unmatched_betti0.values()), axis=0)
    iterate_positions = [c["position"] for c in next(iter(surrogates.values()))]
    summary = {
        "dataset": dataset.name,
        "network_seed": net_seed,
        "n_classes": n_classes,
        "split": "test",
        "summary_scale": scale,
        "summary_scale_rule": rule,
        "surrogate_scales": {str(k): v for k, v in surrogate_scales.items()},
        "surrogate_scale_rules": {str(k): rule for k, (_, rule) in matched.items()},
        "network_layers": [c["name"] for c in network],
        "network_betti0": network_betti0,
        "surrogate_iterates": iterate_positions,
        "surrogate_betti0": {str(k): v for k, v in surrogate_betti0.items()},
        "surrogate_betti0_mean": mean_surrogate.tolist(),
        "surrogate_betti0_std": np.std(
            list(surrogate_betti0.values()), axis=0
        ).tolist(),
        "network_trend_spearman": trend(range(len(network)), network_betti0, n_classes),
        "surrogate_trend_spearman": trend(iterate_positions, mean_surrogate, n_classes),
        "last_iterate_ratio_to_classes": float(mean_surrogate[-1] / n_classes),
        "surrogate_betti0_at_network_scale": {
            str(k): v for k, v in unmatched_betti0.items()
        },
        "surrogate_trend_spearman_at_network_scale": trend(
            iterate_positions, mean_unmatched, n_classes
        ),
    }
    log.info(
        "summary scale %.4g: network beta0 %s; surrogate at matched scales %s: "
        "mean beta0 %s",
        scale,
        network_betti0,
        np.round(list(surrogate_scales.values()), 4).tolist(),
        np.round(mean_surrogate, 1).tolist(),
    )
    write_json(smk.output.summary, summary)


run_script(snakemake, main)  # noqa: F821
