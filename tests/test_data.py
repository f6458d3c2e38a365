"""Datasets: the official Yin-Yang splits bit for bit, MNIST sources, storage."""

import gzip
import json

import numpy as np
import pytest

from repdyn.data import (
    Dataset,
    build_dataset,
    load_dataset,
    mnist_embedded,
    mnist_idx,
    read_idx,
    save_dataset,
    yinyang,
    yinyang_class,
    yinyang_dataset,
)
from repdyn.io import ArtifactError

# ----------------------------------------------------------------------- Yin-Yang


@pytest.mark.parametrize(
    "n, seed, counts",
    [
        (5000, 42, [1681, 1702, 1617]),
        (1000, 41, [316, 336, 348]),
        (1000, 40, [350, 316, 334]),
    ],
)
def test_yinyang_reproduces_official_class_counts(n, seed, counts):
    X, y = yinyang(n, seed)

    assert X.shape == (n, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == counts


def test_yinyang_first_training_point_is_official():
    X, y = yinyang(5000, 42)

    np.testing.assert_allclose(X[0], [0.68030754, 0.45049925], rtol=0, atol=1e-7)
    assert y[0] == 2


def test_yinyang_mirrored_features_are_x_y_and_complements():
    X_xy, y_xy = yinyang(200, 42)
    X_m, y_m = yinyang(200, 42, features="mirrored")

    assert X_m.shape == (200, 4)
    np.testing.assert_array_equal(X_m[:, :2], X_xy)
    np.testing.assert_allclose(X_m[:, 2:], 1 - X_xy, atol=1e-7)
    np.testing.assert_array_equal(y_m, y_xy)


def test_yinyang_points_lie_in_disc_and_obey_class_rule():
    X, y = yinyang(1000, 40)

    radius = np.hypot(X[:, 0] - 0.5, X[:, 1] - 0.5)
    assert radius.max() <= 0.5 + 1e-6
    rule = [yinyang_class(float(a), float(b)) for a, b in X.astype(np.float64)]
    # float32 rounding may move a point across a border: allow a handful
    assert np.mean(np.array(rule) == y) > 0.995


@pytest.mark.parametrize(
    "point, label",
    [
        ((0.75, 0.5), 2),
        ((0.25, 0.5), 2),
        ((0.25, 0.62), 1),
        ((0.25, 0.38), 1),
        ((0.5, 0.9), 1),
        ((0.5, 0.1), 0),
        ((0.75, 0.62), 0),
    ],
)
def test_yinyang_class_rule_known_points(point, label):
    assert yinyang_class(*point) == label


def test_yinyang_dataset_official_splits():
    ds = yinyang_dataset()

    summary = ds.summary()
    assert summary["sizes"] == {"train": 5000, "val": 1000, "test": 1000}
    assert summary["class_counts"]["val"] == [316, 336, 348]
    assert summary["class_counts"]["test"] == [350, 316, 334]
    assert ds.feature_names == ["x", "y"] and ds.n_classes == 3


def test_yinyang_dataset_refuses_repeated_seeds():
    with pytest.raises(ValueError, match="repeat"):
        yinyang_dataset(train=10, val=10, test=10, seeds=(42, 41, 42))


# ----------------------------------------------------------------------- Dataset


def _tiny(**changes):
    rng = np.random.default_rng(0)
    parts = {
        "name": "tiny",
        "n_classes": 2,
        "X_train": rng.normal(size=(6, 3)),
        "y_train": np.array([0, 1, 0, 1, 0, 1]),
        "X_test": rng.normal(size=(4, 3)),
        "y_test": np.array([0, 1, 1, 0]),
        "source": "tiny source",
    }
    return Dataset(**{**parts, **changes})


def test_dataset_converts_dtypes():
    ds = _tiny()

    assert ds.X_train.dtype == np.float32 and ds.y_test.dtype == np.int64
    assert ds.splits() == ["train", "test"] and ds.d_in == 3


def test_dataset_refuses_nan_naming_source():
    X = np.ones((6, 3))
    X[2, 1] = np.nan

    with pytest.raises(ValueError, match=r"tiny source.*X_train.*NaN"):
        _tiny(X_train=X)


def test_dataset_refuses_inf_in_test():
    with pytest.raises(ValueError, match=r"tiny source.*X_test"):
        _tiny(X_test=np.full((4, 3), np.inf))


def test_dataset_refuses_mismatched_feature_sizes():
    with pytest.raises(ValueError, match=r"tiny source.*different numbers of features"):
        _tiny(X_test=np.ones((4, 5)))


def test_dataset_refuses_labels_out_of_range():
    with pytest.raises(ValueError, match=r"outside 0..1"):
        _tiny(y_test=np.array([0, 1, 2, 0]))


def test_save_and_load_dataset_round_trip(tmp_path):
    ds = yinyang_dataset(train=100, val=30, test=40, features="mirrored")
    npz, meta = tmp_path / "ds.npz", tmp_path / "ds.json"

    save_dataset(ds, npz, meta)
    loaded = load_dataset(npz, meta)

    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(
            getattr(loaded, f"X_{split}"), getattr(ds, f"X_{split}")
        )
        np.testing.assert_array_equal(
            getattr(loaded, f"y_{split}"), getattr(ds, f"y_{split}")
        )
    assert loaded.feature_names == ["x", "y", "1-x", "1-y"]
    assert (loaded.name, loaded.source, loaded.n_classes) == (ds.name, ds.source, 3)
    summary = json.loads(meta.read_text())
    assert summary["sizes"] == {"train": 100, "val": 30, "test": 40}
    assert sum(summary["class_counts"]["train"]) == 100
    assert summary["sha256"] == ds.summary()["sha256"] and len(summary["sha256"]) == 64


def test_load_dataset_without_validation_split(tmp_path):
    save_dataset(_tiny(), tmp_path / "t.npz", tmp_path / "t.json")

    loaded = load_dataset(tmp_path / "t.npz")

    assert loaded.X_val is None and loaded.feature_names is None


def test_load_dataset_detects_changed_content(tmp_path):
    save_dataset(_tiny(), tmp_path / "t.npz", tmp_path / "t.json")
    save_dataset(
        _tiny(name="other", y_test=np.array([1, 1, 1, 0])),
        tmp_path / "t.npz",
        tmp_path / "other.json",
    )

    with pytest.raises(ArtifactError, match="content hash"):
        load_dataset(tmp_path / "t.npz", tmp_path / "t.json")


# ----------------------------------------------------------------------- IDX files


def _idx_bytes(array, magic):
    header = magic.to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(">u1").tobytes()


def _write_mnist(folder, n_train=12, n_test=5, gz=False, **overrides):
    rng = np.random.default_rng(1)
    contents = {
        "train-images-idx3-ubyte": _idx_bytes(
            rng.integers(0, 256, (n_train, 4, 3)), 2051
        ),
        "train-labels-idx1-ubyte": _idx_bytes(np.arange(n_train) % 4, 2049),
        "t10k-images-idx3-ubyte": _idx_bytes(
            rng.integers(0, 256, (n_test, 4, 3)), 2051
        ),
        "t10k-labels-idx1-ubyte": _idx_bytes(np.arange(n_test) % 4, 2049),
    }
    contents.update(overrides)
    folder.mkdir(exist_ok=True)
    for name, data in contents.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def test_read_idx_plain_and_gz_agree(tmp_path):
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx_bytes(images, 2051))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images, 2051)))

    plain = read_idx(tmp_path / "a-idx3-ubyte", magic=2051)
    packed = read_idx(tmp_path / "a-idx3-ubyte.gz")

    np.testing.assert_array_equal(plain, images)
    np.testing.assert_array_equal(packed, images)


def test_read_idx_wrong_magic_names_file(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(_idx_bytes(np.arange(5), 2049))

    with pytest.raises(
        ArtifactError, match=r"labels.*magic number 2049, expected 2051"
    ):
        read_idx(path, magic=2051)


def test_read_idx_refuses_garbage_header(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\x01\x02\x03\x04" + bytes(20))

    with pytest.raises(ArtifactError, match=r"junk.*not a valid IDX header"):
        read_idx(path)


def test_read_idx_truncated_file(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(_idx_bytes(np.zeros((3, 4, 4)), 2051)[:-5])

    with pytest.raises(ArtifactError, match=r"short-idx3-ubyte.*truncated"):
        read_idx(path)


def test_read_idx_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((30, 4, 4)), 2051))[:-12])

    with pytest.raises(ArtifactError, match=r"cut.gz.*truncated"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_reads_and_normalises(tmp_path, gz):
    ds = mnist_idx(_write_mnist(tmp_path / "mnist", gz=gz))

    raw = read_idx(next((tmp_path / "mnist").glob("train-images*")))
    assert ds.X_train.shape == (12, 12) and ds.X_test.shape == (5, 12)
    assert ds.n_classes == 4 and ds.y_train.tolist() == [0, 1, 2, 3] * 3
    expected = (raw.reshape(12, -1) / 255.0 - 0.1307) / 0.3081
    np.testing.assert_allclose(ds.X_train, expected, rtol=1e-6)


def test_mnist_idx_label_count_mismatch(tmp_path):
    folder = _write_mnist(
        tmp_path / "m",
        **{"train-labels-idx1-ubyte": _idx_bytes(np.arange(11) % 4, 2049)},
    )

    with pytest.raises(
        ArtifactError, match=r"train-labels-idx1-ubyte.*11 labels for 12"
    ):
        mnist_idx(folder)


def test_mnist_idx_test_label_out_of_range(tmp_path):
    folder = _write_mnist(
        tmp_path / "m",
        **{"t10k-labels-idx1-ubyte": _idx_bytes(np.array([0, 1, 2, 3, 7]), 2049)},
    )

    with pytest.raises(ArtifactError, match=r"t10k-labels-idx1-ubyte.*label 7"):
        mnist_idx(folder)


def test_mnist_idx_images_and_labels_swapped(tmp_path):
    folder = _write_mnist(
        tmp_path / "m",
        **{"train-images-idx3-ubyte": _idx_bytes(np.arange(12) % 4, 2049)},
    )

    with pytest.raises(ArtifactError, match=r"train-images-idx3-ubyte.*expected 2051"):
        mnist_idx(folder)


def test_mnist_idx_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist_idx(tmp_path)


# ----------------------------------------------------------------------- embedded


@pytest.fixture(scope="module")
def embedded():
    return mnist_embedded(n_test=1000, seed=0)


def test_mnist_embedded_is_stratified_and_normalised(embedded):
    assert embedded.X_train.shape == (4000, 784) and embedded.X_test.shape == (
        1000,
        784,
    )
    assert np.bincount(embedded.y_test).tolist() == [100] * 10
    assert np.bincount(embedded.y_train).tolist() == [400] * 10
    assert embedded.X_train.min() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert embedded.X_train.max() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-5)
    assert abs(float(embedded.X_train.mean())) < 0.05
    assert abs(float(embedded.X_train.std()) - 1) < 0.05


def test_build_dataset_from_config(tmp_path, embedded):
    yy = build_dataset(
        "yy4",
        {
            "kind": "yinyang",
            "features": "mirrored",
            "n_train": 50,
            "n_val": 0,
            "n_test": 20,
        },
    )
    mnist = build_dataset(
        "mnist5k", {"kind": "mnist", "source": "embedded", "n_test": 1000}
    )
    idx = build_dataset(
        "mnist_full",
        {
            "kind": "mnist",
            "source": "idx",
            "idx_dir": str(_write_mnist(tmp_path / "m")),
        },
    )

    assert yy.name == "yy4" and yy.X_train.shape == (50, 4) and yy.X_val is None
    np.testing.assert_array_equal(mnist.X_test, embedded.X_test)
    assert idx.name == "mnist_full" and idx.n_classes == 4
    with pytest.raises(ValueError, match="kind"):
        build_dataset("x", {"kind": "cifar"})
    with pytest.raises(ValueError, match="idx_dir"):
        build_dataset("x", {"kind": "mnist", "source": "idx"})
