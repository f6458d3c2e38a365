"""The default study, run end to end as `make run` runs it, held to the issues' numbers.

One run of config/config.yaml (both datasets, three networks and three KAEs each,
about seven minutes on a 2-core CPU) in a temporary copy of the project. Every
number checked here is measured on the held-out test split and read from the files
the workflow writes (results/metrics/ and the per-stage JSON); none is recomputed
or assumed. The CPU run is deterministic, so the numbers are the same on every run
on the same software and hardware.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import copy_project, snakemake

from repdyn import topology

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """The results folder of a complete default study."""
    project = copy_project(tmp_path_factory.mktemp("default") / "project")
    result = snakemake(project, "--cores", "2", timeout=2400)
    if result.returncode != 0:
        pytest.fail(f"default run failed:\n{result.stdout[-4000:]}")
    return project / "results"


def table(results: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(results / "metrics" / f"{name}.csv")


def topology_summary(results: Path, dataset: str) -> dict:
    return json.loads((results / f"topology/{dataset}/net0/summary.json").read_text())


# ------------------------------------------------------------ data and networks
def test_networks_reach_the_studys_accuracy_over_three_seeds(default_run):
    networks = table(default_run, "networks")
    resmlp = networks[networks.model == "resmlp"].groupby("dataset")
    assert resmlp.size().to_dict() == {"mnist": 3, "yinyang": 3}
    assert resmlp.test_accuracy.mean()["yinyang"] >= 0.985
    assert resmlp.test_balanced_accuracy.mean()["mnist"] >= 0.92


def test_linear_classifier_is_reported_beside_each_network(default_run):
    networks = table(default_run, "networks")
    linear = networks[networks.model == "linear_classifier"].set_index("dataset")
    assert 0.55 < linear.test_accuracy["yinyang"] < 0.72  # the official ~64 %
    best_network = networks[networks.model == "resmlp"].groupby("dataset")
    gap = best_network.test_balanced_accuracy.mean() - linear.test_balanced_accuracy
    assert (gap > 0.05).all()


# ------------------------------------------------------------------- surrogates
def test_kae_surrogates_stay_close_to_their_network(default_run):
    kae = table(default_run, "surrogates").query("method == 'kae'")
    by_dataset = kae.groupby("dataset")
    assert by_dataset.size().to_dict() == {"mnist": 3, "yinyang": 3}
    assert by_dataset.gap_points.mean()["yinyang"] <= 1.0
    assert by_dataset.test_agreement.mean()["yinyang"] >= 0.985
    assert by_dataset.gap_points.mean()["mnist"] <= 1.5


def test_kae_beats_the_linear_operator_on_both_datasets(default_run):
    surrogates = table(default_run, "surrogates")
    accuracy = surrogates.groupby(["dataset", "method"]).test_balanced_accuracy.mean()
    for dataset in ("yinyang", "mnist"):
        assert accuracy[dataset, "kae"] > accuracy[dataset, "linear_operator"]


# --------------------------------------------------------------------- topology
@pytest.mark.parametrize("dataset", ["yinyang", "mnist"])
def test_beta0_moves_towards_the_number_of_classes_with_depth(default_run, dataset):
    summary = topology_summary(default_run, dataset)
    assert summary["network_trend_spearman"] <= -0.8
    assert summary["surrogate_trend_spearman"] <= -0.7
    assert 0.5 <= summary["last_iterate_ratio_to_classes"] <= 2.0


@pytest.mark.parametrize("dataset", ["yinyang", "mnist"])
def test_summary_counts_are_those_of_the_stored_death_times(default_run, dataset):
    summary = topology_summary(default_run, dataset)
    folder = default_run / f"topology/{dataset}/net0"
    network = np.load(folder / "network.npz")
    counted = [
        int(
            topology.betti0_curve(network[f"deaths/{n}"], [summary["summary_scale"]])[0]
        )
        for n in summary["network_layers"]
    ]
    assert counted == summary["network_betti0"]
    assert counted[-1] == summary["n_classes"]  # the summary scale's own rule
    for seed, eps in summary["surrogate_scales"].items():
        iterates = np.load(folder / f"kae{seed}.npz")
        last = iterates[f"deaths/{iterates['names'][-1]}"]
        expected, _ = topology.matched_scale(
            summary["summary_scale"], network[f"deaths/{network['names'][-1]}"], last
        )
        assert eps == pytest.approx(expected)
        assert (
            topology.betti0_curve(last, [eps])[0]
            == summary["surrogate_betti0"][seed][-1]
        )


def test_isometry_ablation_weight_one_keeps_topology_best(default_run):
    ablation = table(default_run, "ablation")
    distance = ablation.groupby("weight_distance")[["bottleneck_h0", "bottleneck_h1"]]
    mean = distance.mean()
    assert distance.size().to_dict() == {0.0: 3, 0.001: 3, 1.0: 3}
    assert mean.idxmin().to_dict() == {"bottleneck_h0": 1.0, "bottleneck_h1": 1.0}


# ------------------------------------------------------------------- unlearning
@pytest.mark.parametrize(("dataset", "forget_class"), [("yinyang", 2), ("mnist", 4)])
def test_operator_edit_forgets_on_held_out_data_and_keeps_the_rest(
    default_run, dataset, forget_class
):
    unlearning = table(default_run, "unlearning")
    edits = unlearning.query(
        "dataset == @dataset and forget_class == @forget_class "
        "and method == 'operator_edit'"
    )
    assert len(edits) == 3  # one per KAE seed
    assert edits.split.eq("test").all()
    assert edits.forget_accuracy_before.mean() > 0.9
    assert edits.forget_accuracy_after.mean() <= 0.10
    assert edits.retain_drop.mean() <= 0.02


def test_every_configured_class_has_every_method(default_run):
    unlearning = table(default_run, "unlearning")
    methods = {"operator_edit", "retrain", "finetune", "gradient_ascent"}
    expected = {("yinyang", c) for c in (0, 1, 2)} | {("mnist", 4)}
    found = unlearning.groupby(["dataset", "forget_class"]).method.agg(set)
    assert set(found.index) == expected
    assert all(seen == methods for seen in found)
    assert (unlearning.seconds > 0).all()
    assert unlearning.mia_auc_after.between(0, 1).all()


def test_every_report_and_figure_was_written(default_run):
    reports = default_run / "reports"
    for notebook in ("fidelity", "topology", "unlearning", "spectrum", "layers"):
        html = (reports / f"{notebook}.html").read_text()
        assert "Traceback" not in html and "results_dir" in html
    assert (default_run / "figures/topology/topology_trend.svg").exists()
    assert (default_run / "figures/unlearning/per_class_accuracy.png").exists()
