"""config/paper.yaml: valid, planned in full, and its 784-wide MNIST path runs.

Full MNIST is not here (and never downloaded in tests): small files in MNIST's IDX
layout, with the real file names, stand in for it in a temporary copy's data/mnist.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, copy_project, snakemake
from snakemake.utils import validate

from repdyn import data

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
PAPER = ROOT / "config/paper.yaml"


def write_idx(path: Path, array: np.ndarray) -> None:
    """One uint8 IDX file: 0, 0, type 0x08, ndim, big-endian dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.tobytes())


def write_small_mnist(folder: Path, n_train: int = 300, n_test: int = 100) -> None:
    """Learnable 28 x 28 digits: class c lights rows 2c..2c+2, over uniform noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, label in enumerate(labels):
            images[i, 2 * label + 3 : 2 * label + 5, 4:24] = 255
        write_idx(folder / data.MNIST_FILES[f"{split}_images"], images)
        write_idx(folder / data.MNIST_FILES[f"{split}_labels"], labels)


@pytest.fixture
def paper_project(tmp_path) -> Path:
    project = copy_project(tmp_path / "project")
    write_small_mnist(project / "data/mnist")
    return project


def test_small_idx_files_read_back_as_mnist(tmp_path):
    write_small_mnist(tmp_path / "mnist")
    dataset = data.mnist_idx(tmp_path / "mnist")
    assert dataset.X_train.shape == (300, 784)
    assert dataset.X_test.shape == (100, 784)
    assert dataset.n_classes == 10
    assert np.bincount(dataset.y_train).tolist() == [30] * 10


def test_paper_config_validates_against_the_schema():
    config = yaml.safe_load(PAPER.read_text())
    validate(config, str(SCHEMA))  # fills in the defaults
    yinyang, mnist = config["datasets"]["yinyang"], config["datasets"]["mnist"]
    assert config["device"] == "auto"
    assert config["kae_seeds"] == [21, 53, 74, 99, 365]
    assert mnist["source"] == "idx" and mnist["idx_dir"] == "data/mnist"
    assert mnist["network"] == {
        "width": 784,
        "n_blocks": 4,
        "activation": "relu",
        "batchnorm": True,
    }
    paper_mnist_kae = {
        "hidden": 1000,
        "n_observables": 800,
        "k": 10,
        "lr": 0.005,
        "epochs": 100,
        "batch_size": 512,
        "weight_distance": 0.001,
    }
    assert paper_mnist_kae.items() <= mnist["koopman"].items()
    assert yinyang["training"]["epochs"] == 2000
    paper_yinyang_kae = {
        "hidden": 30,
        "n_observables": 20,
        "k": 100,
        "lr": 0.1,
        "epochs": 1000,
        "batch_size": 1024,
    }
    assert paper_yinyang_kae.items() <= yinyang["koopman"].items()


def test_paper_config_plans_the_whole_study(paper_project):
    result = snakemake(
        paper_project, "-n", "--quiet", "rules", "--configfile", "config/paper.yaml"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.MULTILINE))
    assert int(counts["train_network"]) == 2 * 3  # datasets x network seeds
    assert int(counts["fit_koopman"]) == 2 * 5  # datasets x the paper's KAE seeds
    assert int(counts["isometry_ablation"]) == 2 * 3 * 5  # x ablation weights
    assert int(counts["render_notebook"]) == 5


def test_paper_config_without_the_idx_folder_names_the_fix(tmp_path):
    project = copy_project(tmp_path / "project")
    result = snakemake(project, "-n", "--configfile", "config/paper.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "datasets.mnist.idx_dir" in output
    assert "put the four MNIST IDX files there" in output


def key_paths(tree: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every leaf of a nested dict."""
    paths = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            paths |= key_paths(value, f"{path}.")
        else:
            paths.add(path)
    return paths


def test_paper_config_overrides_every_key_of_the_default_config():
    """Snakemake merges --configfile over config/config.yaml key by key; a key only
    the default study sets would silently leak into the paper's study."""
    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    paper = yaml.safe_load(PAPER.read_text())
    assert key_paths(default) - key_paths(paper) == set()


@pytest.mark.slow
def test_paper_mnist_data_network_states_and_kae_run_on_small_idx(paper_project):
    """The paper's 784-wide path (ResMLP 784 x 4 blocks, KAE 784 -> 1000 -> 800) on
    300 small digits, with epochs cut so it takes seconds."""
    config = yaml.safe_load(PAPER.read_text())
    small = copy.deepcopy(config)
    small["network_seeds"] = [0]
    small["kae_seeds"] = [21]
    mnist = small["datasets"]["mnist"]
    mnist["training"].update(epochs=3, batch_size=64)
    mnist["koopman"].update(epochs=2, batch_size=128)
    (paper_project / "config/paper_small.yaml").write_text(yaml.safe_dump(small))
    targets = [
        "results/data/mnist.json",
        "results/networks/mnist/net0/metrics.json",
        "results/states/mnist/net0/states.json",
        "results/koopman/mnist/net0/kae21/metrics.json",
    ]
    result = snakemake(  # targets first: --configfile takes every word after it
        paper_project,
        *targets,
        "--cores",
        "1",
        "--configfile",
        "config/paper_small.yaml",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]

    results = paper_project / "results"
    info = json.loads((results / "data/mnist.json").read_text())
    assert info["n_classes"] == 10
    metrics = json.loads((results / "networks/mnist/net0/metrics.json").read_text())
    assert metrics["architecture"]["d_in"] == 784
    assert metrics["architecture"]["width"] == 784
    assert metrics["architecture"]["n_blocks"] == 4
    assert metrics["device"] == "cpu"
    assert metrics["test"]["accuracy"] > 0.5  # the digits are easy; chance is 0.1
    states = np.load(results / "states/mnist/net0/states.npz")
    assert states["train/L0"].shape == (300, 784)
    assert states["test/L4"].shape == (100, 784)
    kae = json.loads((results / "koopman/mnist/net0/kae21/model.json").read_text())
    assert kae["config"]["hidden"] == 1000 and kae["config"]["n_observables"] == 800
