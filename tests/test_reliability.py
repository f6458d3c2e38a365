"""Reliability: killed runs, bad configs, bad data and untrusted files, for real.

Every case here breaks something the way it breaks in practice (a SIGKILL, a
misspelt key, a truncated download, a pickle posing as weights) and checks that
nothing is lost and the error names the file or key and the fix.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import BIN, ROOT, copy_project, snakemake

from repdyn import activations, configcheck, data, io, locks, networks, preprocessing
from repdyn.koopman import KoopmanAutoencoder, KoopmanConfig, KoopmanDivergenceError
from repdyn.preprocessing import StatePreprocessor

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
ARCH = {"width": 8, "n_blocks": 2}


# ----------------------------------------------------------------- small artifacts
@pytest.fixture(scope="module")
def toy():
    """A tiny Yin-Yang dataset, a network trained on it, its states, a KAE."""
    dataset = data.yinyang_dataset(train=240, val=0, test=60, seeds=(1, 2, 3))
    train = networks.TrainConfig(epochs=3, batch_size=64, lr=0.05)
    network, history = networks.train_network(
        dataset.X_train, dataset.y_train, ARCH, train, seed=5, progress=False
    )
    train_states = activations.cache_states(network, dataset.X_train)
    test_states = activations.cache_states(network, dataset.X_test)
    preprocessor = StatePreprocessor().fit(train_states)
    Z0 = preprocessor.transform_layer("L0", train_states["L0"])
    ZL = preprocessor.transform_layer("L2", train_states["L2"])
    kae = KoopmanAutoencoder(kae_config(), seed=21, context="toy").fit(
        Z0, ZL, progress=False
    )
    return {
        "dataset": dataset,
        "network": network,
        "history": history,
        "train": train_states,
        "test": test_states,
        "preprocessor": preprocessor,
        "kae": kae,
        "Z0": Z0,
        "ZL": ZL,
    }


def kae_config(**changes) -> KoopmanConfig:
    values = {"hidden": 16, "n_observables": 6, "k": 3, "epochs": 4, "lr": 0.01}
    return KoopmanConfig(**{"batch_size": 64, **values, **changes})


def write_artifacts(toy, folder: Path) -> dict[str, tuple[Path, callable]]:
    """Each kind of artifact the workflow writes, with the loader that reads it."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "network": folder / "network.safetensors",
        "kae": folder / "model.safetensors",
        "dataset": folder / "data.npz",
        "states": folder / "states.npz",
        "preprocessing": folder / "preprocessing.npz",
        "json": folder / "metrics.json",
        "csv": folder / "history.csv",
    }
    networks.save_network(toy["network"], paths["network"])
    toy["kae"].save(paths["kae"])
    data.save_dataset(toy["dataset"], paths["dataset"], folder / "data.json")
    activations.save_states(
        paths["states"],
        toy["train"],
        toy["test"],
        toy["dataset"].y_train,
        toy["dataset"].y_test,
    )
    io.write_npz(paths["preprocessing"], **toy["preprocessor"].to_arrays())
    io.write_json(paths["json"], {"accuracy": 0.5, "per_class": [0.1, 0.2]})
    io.write_csv(paths["csv"], toy["history"])
    loaders = {
        "network": networks.load_network,
        "kae": KoopmanAutoencoder.load,
        "dataset": data.load_dataset,
        "states": activations.load_states,
        "preprocessing": preprocessing.load_preprocessor,
        "json": io.read_json,
        "csv": io.read_csv,
    }
    return {name: (paths[name], loaders[name]) for name in paths}


def regenerate_hint(path: Path) -> str:
    return f"rm {path} && snakemake --cores all {path}"


def leftovers(folder: Path) -> list[str]:
    """Temporary files of repdyn.io.atomic_path left in ``folder``."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.startswith(".") and p.is_file()
    )


# ------------------------------------------------------------------ atomic outputs
def _writers(toy, folder: Path):
    """(name, destination files, call) for every writer of the package."""
    from repdyn import figures, render

    figure = figures.plt.figure()
    notebook = folder / "executed.ipynb"
    notebook.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "markdown",
                        "id": "a",
                        "metadata": {},
                        "source": "# hi",
                    }
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    d = toy["dataset"]
    kae_path = folder / "model.safetensors"
    return [
        (
            "write_json",
            [folder / "a.json"],
            lambda: io.write_json(folder / "a.json", {}),
        ),
        (
            "write_npz",
            [folder / "a.npz"],
            lambda: io.write_npz(folder / "a.npz", a=d.y_test),
        ),
        (
            "write_tensors",
            [folder / "a.safetensors"],
            lambda: io.write_tensors(folder / "a.safetensors", {"w": torch.ones(2)}),
        ),
        (
            "write_csv",
            [folder / "a.csv"],
            lambda: io.write_csv(folder / "a.csv", toy["history"]),
        ),
        (
            "save_dataset",
            [folder / "d.npz", folder / "d.json"],
            lambda: data.save_dataset(d, folder / "d.npz", folder / "d.json"),
        ),
        (
            "save_network",
            [folder / "n.safetensors"],
            lambda: networks.save_network(toy["network"], folder / "n.safetensors"),
        ),
        (
            "save_states",
            [folder / "s.npz"],
            lambda: activations.save_states(
                folder / "s.npz", toy["train"], toy["test"], d.y_train, d.y_test
            ),
        ),
        ("KoopmanAutoencoder.save", [kae_path], lambda: toy["kae"].save(kae_path)),
        (
            "figures.save",
            [folder / "f.png", folder / "f.svg"],
            lambda: figures.save(figure, folder, "f"),
        ),
        (
            "render.to_html",
            [folder / "r.html"],
            lambda: render.to_html(notebook, folder / "r.html"),
        ),
        (
            "locks.record_owner",
            [folder / locks.OWNER_FILE],
            lambda: locks.record_owner(folder),
        ),
    ]


def test_every_writer_renames_into_place_and_leaves_old_files_untouched(
    toy, tmp_path, monkeypatch
):
    """With the final rename failing (as if killed just before it), every writer
    leaves the previous file byte for byte and no temporary behind."""

    def interrupted(src, dst):
        raise OSError("interrupted before the rename")

    writers = _writers(toy, tmp_path)
    for _, paths, _ in writers:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"OLD")
    monkeypatch.setattr(os, "replace", interrupted)
    for name, paths, call in writers:
        with pytest.raises(OSError, match="interrupted"):
            call()
        for path in paths:
            assert path.read_bytes() == b"OLD", f"{name} wrote {path} in place"
            assert leftovers(path.parent) == [], f"{name} left a temporary"


def test_sigkilled_writer_leaves_no_file_and_its_temporary_is_cleaned(tmp_path):
    """A writer SIGKILLed in the middle of writing leaves no file under the final
    name; the next writer of that path removes the dead writer's temporary."""
    target = tmp_path / "states.npz"
    script = f"""
import os, signal
import numpy as np
from repdyn import io

def dies_half_way(file, **arrays):
    with open(file, "wb") as handle:
        handle.write(b"PK half an archive")
        handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

np.savez_compressed = dies_half_way
io.write_npz({str(target)!r}, a=np.arange(10))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=False
    )

    assert result.returncode == -signal.SIGKILL
    assert not target.exists()
    assert len(leftovers(tmp_path)) == 1  # the killed writer's temporary
    io.write_npz(target, a=np.arange(3))
    assert leftovers(tmp_path) == []
    np.testing.assert_array_equal(io.read_npz(target)["a"], np.arange(3))


# --------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_network_and_kae_files(toy, tmp_path):
    """Training the network and fitting the KAE again, in the same process, gives
    the same bytes on disk."""
    d = toy["dataset"]
    train = networks.TrainConfig(epochs=3, batch_size=64, lr=0.05)
    again, _ = networks.train_network(
        d.X_train, d.y_train, ARCH, train, seed=5, progress=False
    )
    networks.save_network(toy["network"], tmp_path / "first.safetensors")
    networks.save_network(again, tmp_path / "again.safetensors")
    kae = KoopmanAutoencoder(kae_config(), seed=21, context="toy")
    kae.fit(toy["Z0"], toy["ZL"], progress=False)
    toy["kae"].save(tmp_path / "kae_first.safetensors")
    kae.save(tmp_path / "kae_again.safetensors")

    first = (tmp_path / "first.safetensors").read_bytes()
    assert first == (tmp_path / "again.safetensors").read_bytes()
    kae_first = (tmp_path / "kae_first.safetensors").read_bytes()
    assert kae_first == (tmp_path / "kae_again.safetensors").read_bytes()
    pd.testing.assert_frame_equal(
        toy["kae"].history_.drop(columns="seconds"),
        kae.history_.drop(columns="seconds"),
    )


# --------------------------------------------------------------- bad configuration
def study_config() -> dict:
    """config/config.yaml updated with config/smoke.yaml, as `--configfile` does."""

    def update(base, extra):
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value
        return base

    base = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    return update(base, yaml.safe_load((ROOT / "config/smoke.yaml").read_text()))


def _set(path: str, value):
    """A change that sets the dotted key ``path`` (created if needed) to ``value``."""

    def change(config, tmp_path):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value(tmp_path) if callable(value) else value

    return change


# (id, change, words the one-line message must hold: key, bad value, what is allowed)
BAD_CONFIGS = [
    ("unknown-kind", _set("datasets.yinyang.kind", "cifar"),
     ["datasets.yinyang.kind = 'cifar'", "one of: yinyang, mnist"]),
    ("unknown-source", _set("datasets.mnist.source", "s3"),
     ["datasets.mnist.source = 's3'", "one of: embedded, idx, download"]),
    ("forget-class-outside-yinyang", _set("datasets.yinyang.unlearning.forget_classes", [3]),
     ["datasets.yinyang.unlearning.forget_classes = [3]", "classes 0..2"]),
    ("forget-class-outside-mnist", _set("datasets.mnist.unlearning.forget_classes", [4, 10]),
     ["datasets.mnist.unlearning.forget_classes = [4, 10]", "[10]", "classes 0..9"]),
    ("zero-n-train", _set("datasets.yinyang.n_train", 0),
     ["datasets.yinyang.n_train = 0", "must be >= 1"]),
    ("negative-width", _set("datasets.mnist.network.width", -4),
     ["datasets.mnist.network.width = -4", "must be >= 1"]),
    ("zero-epochs", _set("datasets.yinyang.training.epochs", 0),
     ["datasets.yinyang.training.epochs = 0", "must be >= 1"]),
    ("zero-kae-epochs", _set("datasets.mnist.koopman.epochs", 0),
     ["datasets.mnist.koopman.epochs = 0", "must be >= 1"]),
    ("zero-k", _set("datasets.yinyang.koopman.k", 0),
     ["datasets.yinyang.koopman.k = 0", "must be >= 1"]),
    ("batch-size-one", _set("datasets.yinyang.training.batch_size", 1),
     ["datasets.yinyang.training.batch_size = 1", "must be >= 2"]),
    ("zero-kae-batch-size", _set("datasets.yinyang.koopman.batch_size", 0),
     ["datasets.yinyang.koopman.batch_size = 0", "must be >= 1"]),
    ("zero-lr", _set("datasets.yinyang.training.lr", 0),
     ["datasets.yinyang.training.lr = 0", "must be > 0"]),
    ("text-for-number", _set("datasets.yinyang.koopman.lr", "fast"),
     ["datasets.yinyang.koopman.lr = 'fast'", "must be a number"]),
    ("fraction-for-integer", _set("datasets.yinyang.network.n_blocks", 2.5),
     ["datasets.yinyang.network.n_blocks = 2.5", "must be an integer"]),
    ("unknown-top-key", _set("netwrok_seeds", [0]),
     ["netwrok_seeds: unknown key", "network_seeds"]),
    ("unknown-nested-key", _set("datasets.yinyang.koopman.epohcs", 10),
     ["datasets.yinyang.koopman.epohcs: unknown key", "epochs"]),
    ("missing-idx-folder", _set("datasets.mnist", lambda t: {
        "kind": "mnist", "source": "idx", "idx_dir": str(t / "no-such-folder")}),
     ["datasets.mnist.idx_dir = ", "no-such-folder", "does not exist"]),
    ("idx-folder-without-files", _set("datasets.mnist", lambda t: {
        "kind": "mnist", "source": "idx", "idx_dir": str(t)}),
     ["datasets.mnist.idx_dir = ", "missing train-images-idx3-ubyte"]),
    ("key-of-other-kind", _set("datasets.mnist.n_train", 300),
     ["datasets.mnist.n_train = 300", "only yinyang datasets read this key"]),
    ("untrained-surrogate-seed", _set("surrogate_network_seeds", [5]),
     ["surrogate_network_seeds = [5]", "not in network_seeds [0]"]),
    ("repeated-yinyang-seeds", _set("datasets.yinyang.seed_test", 42),
     ["datasets.yinyang.seed_train/seed_val/seed_test = [42, 41, 42]", "must all differ"]),
    ("embedded-n-test-too-large", _set("datasets.mnist.n_test", 5000),
     ["datasets.mnist.n_test = 5000", "between 10 and 4990"]),
    ("rank-above-width", _set("datasets.yinyang.koopman.linear_rank", 11),
     ["datasets.yinyang.koopman.linear_rank = 11", "<= the network width 10"]),
    ("unknown-device", _set("device", "gpu"),
     ["device = 'gpu'", "auto", "cuda:N"]),
    ("dataset-without-kind", _set("datasets.extra", {"n_train": 5}),
     ["datasets.extra.kind: required key is missing"]),
    ("repeated-kae-seeds", _set("kae_seeds", [21, 21]),
     ["kae_seeds = [21, 21]", "must not repeat"]),
    ("negative-seed", _set("network_seeds", [-1]),
     ["network_seeds[0] = -1", "must be >= 0"]),
    ("list-items-as-text", _set("kae_seeds", ["21", "53"]),
     ["kae_seeds[0] = '21'", "must be an integer", "--configfile"]),
]  # fmt: skip
BAD_IDS = [case[0] for case in BAD_CONFIGS]


def test_the_shipped_configs_pass_the_checks():
    configcheck.check_config(study_config(), SCHEMA)
    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    configcheck.check_config(default, SCHEMA)


@pytest.mark.parametrize("name, change, words", BAD_CONFIGS, ids=BAD_IDS)
def test_bad_config_is_rejected_naming_key_value_and_allowed(
    name, change, words, tmp_path
):
    config = study_config()
    change(config, tmp_path)

    with pytest.raises(configcheck.ConfigError) as caught:
        configcheck.check_config(config, SCHEMA)

    message = str(caught.value)
    line = next((x for x in message.splitlines() if words[0] in x), None)
    assert line is not None, message
    for word in words[1:]:
        assert word in line, f"{word!r} missing from {line!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name, change, words", BAD_CONFIGS, ids=BAD_IDS)
def test_snakemake_stops_a_bad_config_before_any_job(name, change, words, tmp_path):
    project = copy_project(tmp_path / "project")
    config = study_config()
    change(config, tmp_path)
    (project / "config/bad.yaml").write_text(yaml.safe_dump(config))

    result = snakemake(project, "--cores", "1", "--configfile", "config/bad.yaml")

    assert result.returncode != 0
    assert "no job was run" in result.stderr
    line = next((x for x in result.stderr.splitlines() if words[0] in x), "")
    assert all(word in line for word in words), result.stderr[-3000:]
    assert not (project / "results").exists()


# ------------------------------------------------------------------------ bad data
def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.asarray(array).astype(">u1").tobytes()


def write_mnist(folder: Path, **replace: bytes) -> Path:
    """Four valid IDX files (20 train, 10 test digits of 4 x 4 pixels, 10 classes)."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (20, 4, 4)), 2051),
        "train-labels-idx1-ubyte": idx_bytes(np.arange(20) % 10, 2049),
        "t10k-images-idx3-ubyte": idx_bytes(rng.integers(0, 256, (10, 4, 4)), 2051),
        "t10k-labels-idx1-ubyte": idx_bytes(np.arange(10), 2049),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {**files, **replace}.items():
        (folder / name).write_bytes(content)
    return folder


def _gz_cut(folder):
    good = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").unlink()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-20])
    return "train-images-idx3-ubyte.gz", "truncated or corrupt gzip"


BAD_IDX = [
    ("wrong-magic", lambda f: ({"train-images-idx3-ubyte": idx_bytes(
        np.zeros((20, 16)), 2049)}, "train-images-idx3-ubyte", "magic number 2049, expected 2051")),
    ("truncated-data", lambda f: ({"t10k-images-idx3-ubyte": idx_bytes(
        np.zeros((10, 4, 4)), 2051)[:-7]}, "t10k-images-idx3-ubyte", "truncated or padded")),
    ("truncated-header", lambda f: ({"train-labels-idx1-ubyte": idx_bytes(
        np.zeros(20), 2049)[:6]}, "train-labels-idx1-ubyte", "truncated header")),
    ("train-label-out-of-range", lambda f: ({"train-labels-idx1-ubyte": idx_bytes(
        np.r_[np.arange(19) % 10, 12], 2049)}, "train-labels-idx1-ubyte",
        "classes (10, 11) have no training sample")),
    ("test-label-out-of-range", lambda f: ({"t10k-labels-idx1-ubyte": idx_bytes(
        np.r_[np.arange(9), 11], 2049)}, "t10k-labels-idx1-ubyte", "label 11")),
    ("label-count-mismatch", lambda f: ({"train-labels-idx1-ubyte": idx_bytes(
        np.arange(19) % 10, 2049)}, "train-labels-idx1-ubyte", "19 labels for 20 images")),
    ("train-test-sizes-differ", lambda f: ({"t10k-images-idx3-ubyte": idx_bytes(
        np.zeros((10, 5, 5)), 2051)}, "t10k-images-idx3-ubyte", "(5, 5)")),
]  # fmt: skip


@pytest.mark.parametrize("change", [c[1] for c in BAD_IDX], ids=[c[0] for c in BAD_IDX])
def test_bad_idx_file_is_refused_naming_the_file(change, tmp_path):
    replace, filename, problem = change(tmp_path)
    folder = write_mnist(tmp_path / "mnist", **replace)

    with pytest.raises((io.ArtifactError, ValueError)) as caught:
        data.mnist_idx(folder)

    message = str(caught.value)
    assert filename in message and problem in message, message
    assert "snakemake --cores all" not in message  # an input, not a workflow output


def test_truncated_gzip_idx_names_the_file(tmp_path):
    folder = write_mnist(tmp_path / "mnist")
    filename, problem = _gz_cut(folder)

    with pytest.raises(io.ArtifactError, match=rf"{filename}: {problem}"):
        data.mnist_idx(folder)


def test_intact_idx_files_load(tmp_path):
    dataset = data.mnist_idx(write_mnist(tmp_path / "mnist"))
    assert dataset.n_classes == 10 and dataset.X_train.shape == (20, 16)


def _stored_dataset(toy, folder: Path, **changes) -> Path:
    d = toy["dataset"]
    arrays = {
        "X_train": d.X_train,
        "y_train": d.y_train,
        "X_test": d.X_test,
        "y_test": d.y_test,
        "name": np.array("toy"),
        "source": np.array("toy source"),
        "n_classes": np.array(3),
    }
    path = folder / "data.npz"
    io.write_npz(path, **{**arrays, **changes})
    return path


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


BAD_STORED = [
    ("nan-input", lambda d: {"X_train": _with(d.X_train, (3, 1), np.nan)}, "X_train holds 1 NaN or inf"),
    ("inf-test-input", lambda d: {"X_test": _with(d.X_test, (0, 0), np.inf)}, "X_test holds 1 NaN or inf"),
    ("label-out-of-range", lambda d: {"y_train": _with(d.y_train, 0, 7)}, "labels 0..7 outside 0..2"),
    ("negative-label", lambda d: {"y_test": _with(d.y_test, 0, -1)}, "outside 0..2"),
    ("feature-sizes-differ", lambda d: {"X_test": d.X_test[:, :1]}, "different numbers of features"),
]  # fmt: skip


@pytest.mark.parametrize(
    "change, problem",
    [c[1:] for c in BAD_STORED],
    ids=[c[0] for c in BAD_STORED],
)
def test_bad_stored_dataset_names_the_file(toy, tmp_path, change, problem):
    path = _stored_dataset(toy, tmp_path, **change(toy["dataset"]))

    with pytest.raises(io.ArtifactError) as caught:
        data.load_dataset(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message, message
    assert regenerate_hint(path) in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_cached_states_name_the_file(toy, tmp_path, bad):
    d = toy["dataset"]
    test = dict(toy["test"], L1=_with(toy["test"]["L1"], (2, 2), bad))
    path = tmp_path / "states.npz"
    activations.save_states(path, toy["train"], test, d.y_train, d.y_test)

    with pytest.raises(io.ArtifactError, match="test state L1 holds NaN or inf") as err:
        activations.load_states(path)
    assert regenerate_hint(path) in str(err.value)


def test_non_finite_states_are_refused_by_the_kae(toy):
    Z0 = _with(toy["Z0"], (0, 0), np.nan)
    kae = KoopmanAutoencoder(kae_config(), context="dataset toy, seeds 5/21")
    with pytest.raises(ValueError, match="dataset toy, seeds 5/21: states hold NaN"):
        kae.fit(Z0, toy["ZL"], progress=False)


# ------------------------------------------------------------ untrusted artifacts
class CodeOnLoad:
    """Unpickling this creates ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_npz(path: Path, marker: Path) -> None:
    np.savez(path, evil=np.array([CodeOnLoad(marker)], dtype=object))


def _plain_pickle(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"evil": CodeOnLoad(marker)}))


def _torch_pickle(path: Path, marker: Path) -> None:
    torch.save({"weight": torch.ones(2), "evil": CodeOnLoad(marker)}, path)


UNTRUSTED = [
    ("npz-object-array", "data.npz", _pickle_npz, data.load_dataset),
    ("npz-object-array-states", "states.npz", _pickle_npz, activations.load_states),
    ("npz-object-array-raw", "any.npz", _pickle_npz, io.read_npz),
    ("pickle-named-npz", "prep.npz", _plain_pickle, preprocessing.load_preprocessor),
    ("torch-pickle-as-network", "network.safetensors", _torch_pickle, networks.load_network),
    ("torch-pickle-as-kae", "model.safetensors", _torch_pickle, KoopmanAutoencoder.load),
    ("pickle-as-safetensors", "w.safetensors", _plain_pickle, io.read_tensors),
]  # fmt: skip


@pytest.mark.parametrize(
    "filename, make, load", [c[1:] for c in UNTRUSTED], ids=[c[0] for c in UNTRUSTED]
)
def test_pickled_code_is_refused_not_run(tmp_path, filename, make, load):
    path, marker = tmp_path / filename, tmp_path / "code-ran"
    make(path, marker)

    with pytest.raises(io.ArtifactError) as caught:
        load(path)

    assert not marker.exists(), "loading the file ran the code inside it"
    assert str(path) in str(caught.value)


def test_the_pickle_payload_does_run_when_unpickled(tmp_path):
    """Control: the payloads above are live; an unsafe loader runs them."""
    markers = [tmp_path / f"ran{i}" for i in range(3)]
    _pickle_npz(tmp_path / "a.npz", markers[0])
    _plain_pickle(tmp_path / "b.pkl", markers[1])
    _torch_pickle(tmp_path / "c.pt", markers[2])

    np.load(tmp_path / "a.npz", allow_pickle=True)["evil"]
    pickle.loads((tmp_path / "b.pkl").read_bytes())
    torch.load(tmp_path / "c.pt", weights_only=False)

    assert all(marker.exists() for marker in markers)


# ------------------------------------------------------ truncated or corrupt files
DAMAGE = {
    "half": lambda raw: raw[: len(raw) // 2],
    "empty": lambda raw: b"",
    "garbage": lambda raw: np.random.default_rng(0).bytes(len(raw)),
}
KINDS = ["network", "kae", "dataset", "states", "preprocessing", "json", "csv"]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", KINDS)
def test_damaged_artifact_names_the_file_and_the_command_to_regenerate_it(
    toy, tmp_path, kind, damage
):
    path, load = write_artifacts(toy, tmp_path)[kind]
    load(path)  # intact, it loads
    path.write_bytes(DAMAGE[damage](path.read_bytes()))

    with pytest.raises(io.ArtifactError) as caught:
        load(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert message.endswith(f"Regenerate it: `{regenerate_hint(path)}`"), message


def test_csv_cut_in_the_middle_of_a_line_is_truncated(toy, tmp_path):
    path, _ = write_artifacts(toy, tmp_path)["csv"]
    text = path.read_text()
    path.write_text(text[: text.rindex(",") + 2])  # the last row loses its end

    with pytest.raises(io.ArtifactError, match="truncated CSV"):
        io.read_csv(path)


# ------------------------------------------------------------ numerical failures
def test_diverging_network_training_stops_naming_dataset_seed_and_epoch(toy):
    d = toy["dataset"]
    train = networks.TrainConfig(epochs=4, batch_size=64, lr=1e30, clip_norm=1e30)

    with pytest.raises(networks.NetworkDivergenceError) as caught:
        networks.train_network(
            d.X_train, d.y_train, ARCH, train, seed=9, progress=False,
            context="dataset yinyang, network seed 9",
        )  # fmt: skip

    message = str(caught.value)
    assert message.startswith(
        "dataset yinyang, network seed 9: diverged at epoch 1 of 4"
    )
    assert "seed 9" in message and "no model was kept" in message
    assert isinstance(caught.value, FloatingPointError)


def test_diverging_kae_fit_stops_naming_context_and_epoch(toy):
    kae = KoopmanAutoencoder(
        kae_config(lr=1e30), seed=21, context="dataset yinyang, network seed 0, KAE 21"
    )
    with pytest.raises(
        KoopmanDivergenceError, match=r"KAE 21: training diverged at epoch"
    ):
        kae.fit(toy["Z0"], toy["ZL"], progress=False)
    assert not hasattr(kae, "module_")


def test_stored_weights_with_nan_are_refused(toy, tmp_path):
    path = tmp_path / "network.safetensors"
    state = toy["network"].state_dict()
    state["head.weight"] = torch.full_like(state["head.weight"], float("nan"))
    io.write_tensors(
        path, state, {"format": "repdyn.ResMLP", "arch": toy["network"].arch}
    )

    with pytest.raises(io.ArtifactError, match="weights hold NaN or inf"):
        networks.load_network(path)


# -------------------------------------------------------------------- stale locks
def _lock_dir(tmp_path: Path, owner_pid: int, host: str | None = None) -> Path:
    lock_dir = tmp_path / locks.LOCK_DIR
    lock_dir.mkdir(parents=True)
    (lock_dir / "0.input.lock").write_text("results/data/yinyang.npz\n")
    (lock_dir / "0.output.lock").write_text("results/networks/x\n")
    locks.record_owner(tmp_path)  # after the locks, as the onstart handler does
    owner = io.read_json(tmp_path / locks.OWNER_FILE)
    io.write_json(
        tmp_path / locks.OWNER_FILE, {"pid": owner_pid, "host": host or owner["host"]}
    )
    return lock_dir


def _finished_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_locks_of_a_killed_run_are_removed(tmp_path):
    lock_dir = _lock_dir(tmp_path, _finished_pid())
    removed = locks.remove_stale_locks(tmp_path)
    assert sorted(p.name for p in removed) == ["0.input.lock", "0.output.lock"]
    assert list(lock_dir.iterdir()) == []


def test_locks_of_a_running_snakemake_are_kept(tmp_path):
    # A live process whose command line names snakemake stands in for a running one.
    alive = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "snakemake"]
    )
    try:
        lock_dir = _lock_dir(tmp_path, alive.pid)
        assert locks.remove_stale_locks(tmp_path) == []
        assert len(list(lock_dir.iterdir())) == 2
    finally:
        alive.kill()
        alive.wait()


def test_locks_of_another_host_or_newer_than_the_record_are_kept(tmp_path):
    lock_dir = _lock_dir(tmp_path / "a", _finished_pid(), host="elsewhere")
    assert locks.remove_stale_locks(tmp_path / "a") == []
    assert len(list(lock_dir.iterdir())) == 2

    lock_dir = _lock_dir(tmp_path / "b", _finished_pid())
    newer = time.time() + 5  # written by a later run after the record
    os.utime(lock_dir / "0.input.lock", (newer, newer))
    assert [p.name for p in locks.remove_stale_locks(tmp_path / "b")] == [
        "0.output.lock"
    ]


# ------------------------------------------------------- killed and resumed workflow
KAE_DIRS = [f"results/koopman/yinyang/net0/kae{seed}" for seed in (21, 53)]
TARGETS = [f"{folder}/metrics.json" for folder in KAE_DIRS]
RUN = [*TARGETS, "--cores", "2", "--configfile", "config/smoke.yaml"]


def _start(project: Path, log: Path) -> subprocess.Popen:
    """Snakemake in its own process group (its jobs inherit the group)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        [str(BIN / "snakemake"), *RUN],
        cwd=project,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _running_in_group(group: int) -> list[int]:
    """Processes of ``group`` that still run (zombies excluded)."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            running.append(int(stat.parent.name))
    return running


def _kill_when(process, project: Path, log: str, text: str, delay: float) -> None:
    """SIGKILL the whole process group once ``log`` holds ``text`` (plus ``delay``)."""
    deadline = time.monotonic() + 600
    path = project / log
    while not (path.exists() and text in path.read_text()):
        assert process.poll() is None, f"the run ended before {text!r} appeared"
        assert time.monotonic() < deadline, f"{text!r} never appeared in {log}"
        time.sleep(0.2)
    time.sleep(delay)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while _running_in_group(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running_in_group(process.pid) == [], "a job survived the SIGKILL"


def _without_timing(value):
    """JSON content with wall-clock timings (keys named seconds) removed."""
    if isinstance(value, dict):
        return {
            k: _without_timing(v) for k, v in value.items() if not k.endswith("seconds")
        }
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def assert_same_results(reference: Path, project: Path, relative: str) -> None:
    """Two workflow outputs hold the same results (timings aside)."""
    a, b = reference / relative, project / relative
    if a.suffix == ".safetensors":
        assert a.read_bytes() == b.read_bytes(), relative
    elif a.suffix == ".npz":
        left, right = io.read_npz(a), io.read_npz(b)
        assert left.keys() == right.keys(), relative
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=relative)
    elif a.suffix == ".json":
        assert _without_timing(io.read_json(a)) == _without_timing(io.read_json(b))
    elif a.suffix == ".csv":
        left, right = io.read_csv(a), io.read_csv(b)
        timing = [c for c in left.columns if c.endswith("seconds")]
        pd.testing.assert_frame_equal(
            left.drop(columns=timing), right.drop(columns=timing)
        )


@pytest.mark.slow
def test_sigkilled_run_resumes_with_a_plain_rerun_and_matches_an_uninterrupted_run(
    smoke_run, tmp_path
):
    """Kill snakemake and its jobs with SIGKILL mid-training, then mid-fit; a plain
    rerun finishes, keeps the finished network, and every result equals the smoke
    run's (made in one go in another folder): the same bytes for the weights."""
    project = copy_project(tmp_path / "project")
    network = project / "results/networks/yinyang/net0/network.safetensors"

    first = _start(project, tmp_path / "first.log")
    _kill_when(
        first, project, "logs/networks/yinyang/net0.log", "rule train_network", 1.0
    )
    assert not network.exists()
    assert (project / ".snakemake/locks").exists()
    data.load_dataset(project / "results/data/yinyang.npz")  # finished before: intact

    second = _start(project, tmp_path / "second.log")
    _kill_when(second, project, "logs/koopman/yinyang/net0/kae21.log", "epoch 1/", 0.5)
    assert "removed stale lock" in (tmp_path / "second.log").read_text()
    networks.load_network(network)  # finished before the kill: complete and loadable
    assert not any((project / d / "model.safetensors").exists() for d in KAE_DIRS)
    trained_at = network.stat().st_mtime_ns

    third = snakemake(project, *RUN)
    assert third.returncode == 0, third.stderr[-4000:]
    assert "removed stale lock" in third.stderr
    assert network.stat().st_mtime_ns == trained_at  # finished work was kept

    results = [
        "results/data/yinyang.npz",
        "results/data/yinyang.json",
        "results/networks/yinyang/net0/network.safetensors",
        "results/networks/yinyang/net0/metrics.json",
        "results/networks/yinyang/net0/history.csv",
        "results/states/yinyang/net0/states.npz",
        "results/states/yinyang/net0/preprocessing.npz",
    ]
    for folder in KAE_DIRS:
        results += [
            f"{folder}/{name}"
            for name in (
                "model.safetensors",
                "model.json",
                "metrics.json",
                "history.csv",
                "eigenvalues.csv",
                "iterates.npz",
            )
        ]
    for relative in results:
        assert_same_results(smoke_run, project, relative)
    temporaries = [p for p in (project / "results").rglob(".*") if p.is_file()]
    assert temporaries == []
