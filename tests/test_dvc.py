"""Lineage with DVC: repro, push, pull byte for byte, and Snakemake up to date after."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, ROOT, snakemake


def run(cwd: Path, *command: str) -> str:
    # dvc.yaml's command is a plain `snakemake`: found, as for a user with the
    # environment activated, on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [*command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, str(BIN / "dvc"), *args)


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def dvc_project(smoke_run, tmp_path_factory) -> Path:
    """A git + DVC repository holding the project, its smoke results and a remote."""
    base = tmp_path_factory.mktemp("dvc")
    project = base / "project"
    shutil.copytree(smoke_run, project, symlinks=True)
    for part in ("src", "dvc.yaml", ".gitignore"):
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, project / part)
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(
        dvc_yaml.read_text().replace(
            "configfile: config/config.yaml", "configfile: config/smoke.yaml"
        )
    )
    run(project, "git", "init", "-q")
    run(project, "git", "config", "user.email", "test@example.org")
    run(project, "git", "config", "user.name", "test")
    dvc(project, "init", "-q")
    dvc(project, "remote", "add", "-d", "test", str(base / "remote"))
    run(project, "git", "add", "-A")
    run(project, "git", "commit", "-qm", "project")
    return project


@pytest.mark.slow
def test_repro_push_pull_restores_every_output_byte_for_byte(dvc_project):
    dvc(dvc_project, "repro")
    assert (dvc_project / "dvc.lock").exists()
    before = tree_digest(dvc_project / "results")
    assert len(before) > 50
    dvc(dvc_project, "push")

    shutil.rmtree(dvc_project / "results")
    shutil.rmtree(dvc_project / "logs")
    shutil.rmtree(dvc_project / ".dvc" / "cache")
    dvc(dvc_project, "pull")
    assert tree_digest(dvc_project / "results") == before

    # Pulled files get new modification times; the README's one-step fix:
    touched = snakemake(
        dvc_project, "--touch", "--cores", "1", "--configfile", "config/smoke.yaml"
    )
    assert touched.returncode == 0, touched.stderr
    plan = snakemake(dvc_project, "-n", "--configfile", "config/smoke.yaml")
    assert plan.returncode == 0, plan.stderr
    assert "Nothing to be done" in plan.stdout + plan.stderr


@pytest.mark.slow
def test_metrics_and_plots_show_work_on_the_smoke_results(dvc_project):
    metrics = dvc(dvc_project, "metrics", "show")
    assert "surrogate_balanced_accuracy" in metrics
    assert "yinyang" in metrics
    plots = dvc(dvc_project, "plots", "show", "--json")
    assert "betti_curves.csv" in plots


@pytest.mark.slow
def test_params_diff_names_a_changed_key(dvc_project):
    config = dvc_project / "config/smoke.yaml"
    original = config.read_text()
    config.write_text(original.replace("epochs: 150", "epochs: 151"))
    try:
        diff = dvc(dvc_project, "params", "diff")
    finally:
        config.write_text(original)
    assert "datasets.yinyang.training.epochs" in diff


def test_committed_lock_matches_the_code_config_and_command():
    """dvc.lock records the default study as the code, config and command stand now.

    Results are not in a fresh clone (DVC reports them "not in cache"), but the
    dependencies' hashes, the parameters and the command must all be current;
    `make lock` regenerates the lock when they are not.
    """
    status = json.loads(dvc(ROOT, "status", "--json", "study") or "{}")
    stale = {
        kind: change
        for entry in status.get("study", [])
        if isinstance(entry, dict)
        for kind, change in entry.items()
        if kind != "changed outs"
    }
    assert not stale, f"dvc.lock is stale ({stale}); run `make lock`, commit dvc.lock"
