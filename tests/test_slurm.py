"""The smoke study on a real (single-node) SLURM cluster, through the SLURM profile.

A private SLURM (Debian's slurm-wlm and munge, installed with apt-get when missing)
is started on this machine for the module and stopped in a finalizer; see
tests/slurm_cluster.py. The smoke study runs through
``--workflow-profile workflow/profiles/slurm`` in a temporary copy of the project, and
the tests check that every job was a SLURM job with the profile's resources and that
the results equal those of the local smoke run, bit for bit (the CPU run is
deterministic and both runs give each rule one thread). A last test runs the four
training and fitting rules through ``workflow/profiles/slurm-gpu`` and checks that
SLURM gave each a GPU (the test node's GPUs are fake; torch still runs on the CPU).

Needs root (the daemons) and apt-get with a package registry when SLURM is missing;
skipped, with the reason, otherwise.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_project, snakemake
from slurm_cluster import ClusterUnavailable, SlurmCluster

pytestmark = pytest.mark.slow

SMOKE = ("--configfile", "config/smoke.yaml")
# Options for this test cluster only; a real cluster needs none of them.
TEST_CLUSTER_OPTIONS = (
    "--max-threads",
    "1",  # a 2-CPU node, and the local run's threads: equal numbers
    "--slurm-status-command",
    "squeue",  # no accounting database, so no sacct
    "--slurm-init-seconds-before-status-checks",
    "2",  # short jobs: poll soon
    "--slurm-keep-successful-logs",  # evidence that every job ran under SLURM
)
GPU_RULES = ("train_network", "fit_koopman", "isometry_ablation", "unlearning_baseline")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


@dataclass
class SlurmRun:
    project: Path
    output: str
    planned: Counter  # rule -> number of jobs in the dry run
    jobs: list[dict[str, str]]
    seconds: float


@pytest.fixture(scope="module")
def cluster(request) -> SlurmCluster:
    cluster = SlurmCluster(cpus=2, fake_gpus=2)
    request.addfinalizer(cluster.stop)
    try:
        cluster.start()
    except ClusterUnavailable as err:
        pytest.skip(f"no SLURM cluster can be set up on this machine: {err}")
    return cluster


def run_on_cluster(cluster: SlurmCluster, project: Path, *args: str):
    """snakemake in ``project`` with the SLURM clients pointed at ``cluster``."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("SLURM_CONF", "PATH"):
            patch.setenv(name, cluster.env[name])
        return snakemake(project, *args, timeout=840)


def rule_of(job: dict[str, str]) -> str:
    """The rule of a job from the comment the executor gives it."""
    match = re.fullmatch(r"rule_(\w+?)(_wildcards_.*)?", job["comment"])
    assert match, f"job {job['id']} has no rule in its comment {job['comment']!r}"
    return match.group(1)


def planned_jobs(project: Path, *args: str) -> Counter:
    """Jobs per rule of a dry run (the local target rule `all` left out)."""
    result = snakemake(project, "-n", "--quiet", "rules", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = Counter(
        {
            r: int(n)
            for r, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE)
        }
    )
    del counts["total"], counts["all"]
    return counts


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> SlurmRun:
    project = copy_project(tmp_path_factory.mktemp("slurm") / "project")
    planned = planned_jobs(project, *SMOKE)
    start = time.monotonic()
    result = run_on_cluster(
        cluster,
        project,
        "--workflow-profile",
        "workflow/profiles/slurm",
        *TEST_CLUSTER_OPTIONS,
        *SMOKE,
    )
    seconds = time.monotonic() - start
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(
            f"the smoke study failed on SLURM:\n{output[-6000:]}\n"
            f"{cluster.daemon_logs('slurmctld', 'slurmd')[-3000:]}"
        )
    print(f"smoke study on SLURM: {seconds:.0f} s, {sum(planned.values())} jobs")
    return SlurmRun(project, output, planned, cluster.jobs(), seconds)


def test_every_job_of_the_smoke_study_ran_as_a_completed_slurm_job(slurm_run):
    assert slurm_run.jobs, "squeue remembers no job"
    states = Counter(job["state"] for job in slurm_run.jobs)
    assert states == {"COMPLETED": len(slurm_run.jobs)}
    ran = Counter(rule_of(job) for job in slurm_run.jobs)
    assert ran == slurm_run.planned


def test_snakemake_submitted_exactly_the_jobs_squeue_reports(slurm_run):
    submitted = {slurm_id for _, slurm_id in SUBMITTED.findall(slurm_run.output)}
    assert submitted == {job["id"] for job in slurm_run.jobs}
    assert len(submitted) == sum(slurm_run.planned.values())


def test_every_job_left_its_slurm_log(slurm_run):
    logs = slurm_run.project / ".snakemake/slurm_logs"
    found = {path.stem: path for path in logs.rglob("*.log")}
    assert set(found) == {job["id"] for job in slurm_run.jobs}
    train = next(job for job in slurm_run.jobs if rule_of(job) == "train_network")
    assert found[train["id"]].is_relative_to(logs / "rule_train_network")


def test_jobs_asked_slurm_for_the_profiles_resources(slurm_run):
    by_rule = {}
    for job in slurm_run.jobs:
        by_rule.setdefault(rule_of(job), job)
    assert by_rule["train_network"]["memory"] == "8000M"
    assert by_rule["train_network"]["time_limit"] == "8:00:00"
    assert by_rule["fit_koopman"]["memory"] == "10000M"
    assert by_rule["make_dataset"]["memory"] == "4000M"  # default-resources
    assert by_rule["make_dataset"]["time_limit"] == "1:00:00"
    assert {job["cpus"] for job in slurm_run.jobs} == {"1"}  # --max-threads 1
    assert {job["gres"] for job in slurm_run.jobs} == {"N/A"}  # no GPU asked


def comparable_tables(project: Path) -> dict[str, pd.DataFrame]:
    """Every collected metrics table without its timing columns, rows sorted."""
    tables = {}
    for path in sorted((project / "results/metrics").glob("*.csv")):
        table = pd.read_csv(path)
        timing = [c for c in table.columns if "seconds" in c or c.endswith("time")]
        table = table.drop(columns=timing)
        tables[path.name] = table.sort_values(list(table.columns)).reset_index(
            drop=True
        )
    return tables


def test_slurm_metrics_equal_the_local_run(slurm_run, smoke_run):
    local, cluster = comparable_tables(smoke_run), comparable_tables(slurm_run.project)
    assert set(cluster) == set(local)
    assert "networks.csv" in local
    for name, table in local.items():
        pd.testing.assert_frame_equal(cluster[name], table, check_exact=True, obj=name)


def test_slurm_models_are_byte_identical_to_the_local_run(slurm_run, smoke_run):
    models = sorted(
        path.relative_to(smoke_run)
        for path in (smoke_run / "results").rglob("*.safetensors")
    )
    assert len(models) >= 6  # two networks and four KAEs
    for model in models:
        assert (slurm_run.project / model).read_bytes() == (
            smoke_run / model
        ).read_bytes(), f"{model} differs"


def test_gpu_profile_gives_each_training_and_fitting_job_a_gpu(
    cluster, slurm_run, tmp_path
):
    """New seeds of the four GPU rules, on the smoke run's data, network and states."""
    project = copy_project(tmp_path / "project")
    for stage in ("data", "networks", "states"):
        shutil.copytree(
            slurm_run.project / "results" / stage, project / "results" / stage
        )
    targets = [
        "results/networks/yinyang/net1/metrics.json",
        "results/koopman/yinyang/net0/kae99/metrics.json",
        "results/ablation/yinyang/net0/w0.0/kae99.json",
        "results/unlearning/yinyang/net0/class2/finetune.json",
    ]
    before = {job["id"] for job in cluster.jobs()}
    result = run_on_cluster(
        cluster,
        project,
        *targets,  # first: --configfile takes every word after it
        "--workflow-profile",
        "workflow/profiles/slurm-gpu",
        *TEST_CLUSTER_OPTIONS,
        *SMOKE,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    jobs = [job for job in cluster.jobs() if job["id"] not in before]
    assert sorted(rule_of(job) for job in jobs) == sorted(GPU_RULES)
    for job in jobs:
        assert job["gres"] == "gres:gpu:1", job
        assert job["state"] == "COMPLETED", job
    for target in targets:
        assert (project / target).exists()
