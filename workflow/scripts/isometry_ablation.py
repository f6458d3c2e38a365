"""Rule isometry_ablation: does the distance loss keep the encoder's topology?

A KAE is fitted with the wildcard's distance-loss weight; the H0 and H1 diagrams of
its encodings of the held-out last-layer states are compared with those of the states
themselves by the bottleneck distance. Both clouds keep their own scale, since
preserving distances (scale included) is what the loss asks of the encoder.
"""

import pandas as pd

from repdyn import activations, topology
from repdyn.io import write_csv, write_json
from repdyn.koopman import KoopmanAutoencoder
from repdyn.logs import run_script
from repdyn.preprocessing import load_preprocessor
from repdyn.runtime import resolve_device
from repdyn.study import koopman_config


def main(smk, log):
    section = smk.params.section
    device = resolve_device(smk.params.device)
    weight, seed = float(smk.wildcards.weight), int(smk.wildcards.kae_seed)
    train, test, _, _ = activations.load_states(smk.input.states)
    preprocessor = load_preprocessor(smk.input.preprocessing)
    first, last = preprocessor.layer_names_[0], preprocessor.layer_names_[-1]

    epochs = section["topology"]["ablation_epochs"] or section["koopman"]["epochs"]
    config = koopman_config(section, weight_distance=weight, epochs=epochs)
    context = f"ablation {smk.wildcards.dataset} weight {weight} KAE seed {seed}"
    kae = KoopmanAutoencoder(config, seed=seed, device=device, context=context).fit(
        preprocessor.transform_layer(first, train[first]),
        preprocessor.transform_layer(last, train[last]),
    )

    states = preprocessor.transform_layer(last, test[last])
    clouds = {"states": states, "encoded": kae.encode(states)}
    max_points = section["topology"]["max_points_beta1"]
    deaths = {name: topology.h0_death_times(cloud) for name, cloud in clouds.items()}
    diagrams = {
        name: topology.persistence_diagrams(
            cloud,
            max_points=max_points,
            max_edge_length=float(deaths[name].max()),
            seed=0,
        )
        for name, cloud in clouds.items()
    }
    distances = {
        f"bottleneck_h{dim}": topology.bottleneck(
            diagrams["states"][dim], diagrams["encoded"][dim]
        )
        for dim in (0, 1)
    }
    log.info("%s: %s", context, distances)

    grid = topology.eps_grid(list(deaths.values()))
    write_csv(
        smk.output.curves,
        pd.concat(
            [
                pd.DataFrame(
                    {
                        "weight": weight,
                        "kae_seed": seed,
                        "cloud": name,
                        "eps": grid,
                        "betti0": topology.betti0_curve(deaths[name], grid),
                        "betti1": topology.betti_curve_from_diagram(
                            diagrams[name][1], grid
                        ),
                    }
                )
                for name in clouds
            ],
            ignore_index=True,
        ),
    )
    write_json(
        smk.output.result,
        {
            "dataset": smk.wildcards.dataset,
            "network_seed": int(smk.wildcards.net_seed),
            "kae_seed": seed,
            "weight_distance": weight,
            "epochs": epochs,
            "split": "test",
            "layer": last,
            **distances,
            "final_losses": kae.history_.iloc[-1].to_dict(),
        },
    )


run_script(snakemake, main)  # noqa: F821
