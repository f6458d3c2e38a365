"""Shared fixtures: a copy of the workflow in a temporary folder, and one smoke run.

The smoke run (config/smoke.yaml through `snakemake` as a subprocess) is made once per
test session and shared by every test that reads its results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECT_PARTS = ("workflow", "config", "notebooks")

torch.set_num_threads(1)


def copy_project(target: Path) -> Path:
    """Copy what the workflow needs (not results) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        shutil.copytree(ROOT / part, target / part)
    return target


def snakemake(
    cwd: Path, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run this environment's snakemake in ``cwd``; output captured as text."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=cwd,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The project's folder after a complete smoke run; fails loudly if the run did."""
    project = copy_project(tmp_path_factory.mktemp("smoke") / "project")
    result = snakemake(project, "--cores", "2", "--configfile", "config/smoke.yaml")
    if result.returncode != 0:
        pytest.fail(
            f"smoke run failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return project
