"""Atomic artifact writing and loading with errors that name the file and the fix.

Every artifact is written to a temporary file in the destination folder and renamed
into place, so a killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


class ArtifactError(RuntimeError):
    """An artifact is missing, truncated or corrupt."""


def corrupt(path: str | os.PathLike, problem: str) -> ArtifactError:
    """Build the error raised for a broken artifact at ``path``."""
    path = Path(path)
    return ArtifactError(
        f"{path}: {problem}. Regenerate it: `rm {path} && snakemake --cores all {path}`"
    )


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    The temporary name keeps the final suffix (``suffix`` overrides it) because some
    writers (``np.savez``) append one when it is missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix + ".tmp"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are shared
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (numpy values converted)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise corrupt(path, "file does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise corrupt(path, f"not valid JSON ({err})") from err


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to a compressed ``.npz`` atomically."""
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` eagerly; pickled objects are refused."""
    path = Path(path)
    if not path.exists():
        raise corrupt(path, "file does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        raise corrupt(path, f"refused to load ({err})") from err
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError, ...
        raise corrupt(path, f"not a readable npz archive ({type(err).__name__}: {err})") from err


def write_tensors(path: str | os.PathLike, tensors: dict, metadata: dict | None = None) -> None:
    """Write a dict of torch tensors with safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: json.dumps(_to_jsonable(v)) for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_tensors(path: str | os.PathLike) -> tuple[dict, dict]:
    """Load tensors and metadata written by :func:`write_tensors` (no pickle)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise corrupt(path, "file does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
            metadata = {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}
    except Exception as err:  # safetensors raises SafetensorError and others
        raise corrupt(path, f"not a readable safetensors file ({err})") from err
    return tensors, metadata


def sha256_of_arrays(*arrays: np.ndarray) -> str:
    """Content hash of arrays (dtype, shape and bytes), stable across runs."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str(array.dtype).encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def check_finite(name: str, array: np.ndarray, source: str | os.PathLike) -> None:
    """Raise a ValueError naming ``source`` if ``array`` holds NaN or inf."""
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{source}: {name} holds {bad} NaN or inf values; fix the input")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV atomically (no index column)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_csv(path: str | os.PathLike):
    """Read a CSV written by :func:`write_csv`, naming the file if it is broken."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise corrupt(path, "file does not exist")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise corrupt(path, f"not a readable CSV ({err})") from err
