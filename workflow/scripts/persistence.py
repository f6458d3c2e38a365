"""Rules network_topology and surrogate_topology: persistence of every test cloud.

A cloud is the held-out test states of one network layer (preprocessed with the
training statistics) or one decoded surrogate iterate. Each cloud is normalised to
root-mean-square point norm 1 before counting, so layers and iterates, whose overall
scale differs, are compared at one common scale. beta1 comes from gudhi on a subsample,
up to the scale at which the whole cloud is connected; loops still open there are
recorded as infinite bars.
"""

import numpy as np
from tqdm import tqdm

from repdyn import activations, topology
from repdyn.io import corrupt, read_npz, write_npz
from repdyn.logs import run_script
from repdyn.preprocessing import load_preprocessor


def network_clouds(smk) -> tuple[list[str], list[int], list[np.ndarray]]:
    _, test, _, _ = activations.load_states(smk.input.states)
    preprocessor = load_preprocessor(smk.input.preprocessing)
    names = list(test)
    clouds = [preprocessor.transform_layer(name, test[name]) for name in names]
    return names, list(range(len(names))), clouds


def surrogate_clouds(smk) -> tuple[list[str], list[int], list[np.ndarray]]:
    archive = read_npz(smk.input.iterates)
    if not {"steps", "iterates"} <= archive.keys():
        raise corrupt(smk.input.iterates, "no steps or iterates array")
    steps = [int(step) for step in archive["steps"]]
    return [f"t{step}" for step in steps], steps, list(archive["iterates"])


def main(smk, log):
    is_network = hasattr(smk.input, "states")
    names, positions, clouds = (network_clouds if is_network else surrogate_clouds)(smk)
    max_points = smk.params.section["topology"]["max_points_beta1"]

    arrays = {"names": np.asarray(names), "positions": np.asarray(positions)}
    for name, cloud in tqdm(list(zip(names, clouds)), desc="persistence", unit="cloud"):
        cloud = topology.normalise_cloud(cloud)
        deaths = topology.h0_death_times(cloud)
        # The Rips filtration stops where the whole cloud is connected (its largest
        # H0 death): that keeps gudhi fast, and beta1 is exact up to that scale.
        diagrams = topology.persistence_diagrams(
            cloud, max_points=max_points, max_edge_length=float(deaths.max()), seed=0
        )
        arrays[f"deaths/{name}"] = deaths
        arrays[f"h0/{name}"] = diagrams[0]
        arrays[f"h1/{name}"] = diagrams[1]
        log.info(
            "%s: %d points, %d H1 bars on the subsample",
            name,
            len(cloud),
            len(diagrams[1]),
        )
    write_npz(smk.output.persistence, **arrays)


run_script(snakemake, main)  # noqa: F821
