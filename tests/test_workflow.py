"""The workflow as a user runs it: plan, lint, schema, and a real smoke run."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from conftest import ROOT, copy_project, snakemake


def test_dry_run_plans_every_stage_of_the_default_study(tmp_path):
    # In a copy: the checkout's own results/ may already be complete.
    result = snakemake(copy_project(tmp_path / "project"), "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    planned = result.stdout + result.stderr
    for rule in (
        "make_dataset",
        "train_network",
        "cache_states",
        "fit_koopman",
        "network_topology",
        "surrogate_topology",
        "edit_operator",
        "unlearning_baseline",
        "render_notebook",
    ):
        assert re.search(rf"\b{rule}\b", planned), f"{rule} missing from the plan"


def test_dry_run_counts_one_network_per_dataset_and_seed(tmp_path):
    result = snakemake(copy_project(tmp_path / "project"), "-n", "--quiet", "rules")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    n_datasets = len(config["datasets"])
    assert int(counts["train_network"]) == n_datasets * len(config["network_seeds"])
    assert int(counts["fit_koopman"]) == n_datasets * len(config["kae_seeds"])


@pytest.mark.parametrize("profile", ["slurm", "slurm-gpu"])
def test_cluster_profiles_plan_the_default_study(tmp_path, profile):
    project = copy_project(tmp_path / "project")
    result = snakemake(
        project, "--workflow-profile", f"workflow/profiles/{profile}", "-n"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plan = result.stdout + result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", plan, flags=re.MULTILINE))
    assert int(counts["fit_koopman"]) == 6 and int(counts["train_network"]) == 6
    assert "slurm" in plan.lower()


def test_lint_reports_nothing():
    result = snakemake(ROOT, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_schema_rejects_a_misspelt_key(tmp_path):
    project = copy_project(tmp_path / "project")
    config = yaml.safe_load((project / "config/smoke.yaml").read_text())
    config["datasets"]["yinyang"]["koopman"]["epohcs"] = 10
    (project / "config/bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(project, "-n", "--configfile", "config/bad.yaml")
    assert result.returncode != 0
    assert "epohcs" in result.stdout + result.stderr


@pytest.mark.slow
def test_smoke_run_writes_every_stage(smoke_run):
    results = smoke_run / "results"
    for dataset in ("yinyang", "mnist"):
        assert (results / f"data/{dataset}.json").exists()
        assert (results / f"networks/{dataset}/net0/network.safetensors").exists()
        assert (results / f"states/{dataset}/net0/states.npz").exists()
        assert (results / f"koopman/{dataset}/net0/kae21/model.safetensors").exists()
        assert (results / f"topology/{dataset}/net0/summary.json").exists()
        assert list(
            (results / f"unlearning/{dataset}/net0").glob("class*/edit_kae*.json")
        )
    for notebook in ("fidelity", "topology", "unlearning", "spectrum", "layers"):
        assert (results / f"reports/{notebook}.html").stat().st_size > 10_000
    assert list((smoke_run / "logs").rglob("*.log"))


@pytest.mark.slow
def test_smoke_yinyang_network_beats_90_percent_on_held_out_data(smoke_run):
    networks = pd.read_csv(smoke_run / "results/metrics/networks.csv")
    yinyang = networks[(networks.dataset == "yinyang") & (networks.model == "resmlp")]
    assert yinyang.test_accuracy.min() > 0.90
    linear = networks[(networks.dataset == "yinyang") & (networks.model != "resmlp")]
    assert 0.5 < linear.test_accuracy.iloc[0] < 0.75  # the official ~64 %


@pytest.mark.slow
def test_smoke_report_contains_the_accuracy_table(smoke_run):
    html = (smoke_run / "results/reports/fidelity.html").read_text()
    assert "Accuracy table" in html
    assert "test_balanced_accuracy" in html
    assert "results_dir" in html  # papermill's injected parameters


@pytest.mark.slow
def test_smoke_summary_names_the_held_out_split(smoke_run):
    summary = json.loads((smoke_run / "results/metrics/summary.json").read_text())
    assert summary["split"] == "test"
    quantities = {row["quantity"] for row in summary["rows"]}
    assert {"network_accuracy", "surrogate_accuracy", "network_betti0"} <= quantities
