"""Atomic artifact writing and loading with errors that name the file and the fix.

Every artifact is written to a temporary file in the destination folder and renamed
into place, so a killed job never leaves a file that looks finished.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


class ArtifactError(RuntimeError):
    """An artifact is missing, truncated or corrupt."""


def corrupt(
    path: str | os.PathLike, problem: str, fix: str | None = None
) -> ArtifactError:
    """Build the error raised for a broken artifact at ``path``.

    The message names the file, the problem and the fix; the default fix is the
    command that regenerates a workflow output. Inputs the workflow cannot make
    (IDX files, say) pass their own ``fix``.
    """
    path = Path(path)
    fix = fix or f"Regenerate it: `rm {path} && snakemake --cores all {path}`"
    return ArtifactError(f"{path}: {problem}. {fix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    The temporary name keeps the final suffix (``suffix`` overrides it) because some
    writers (``np.savez``) append one when it is missing. It also holds the writer's
    process id, so the temporaries of a killed writer (SIGKILL skips every cleanup)
    are recognised and removed by the next writer of the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent,
        prefix=f".{path.name}.{os.getpid()}.",
        suffix=suffix or path.suffix + ".tmp",
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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries of ``path`` whose writer process no longer exists."""
    prefix = f".{path.name}."
    for candidate in path.parent.glob(f"{glob.escape(prefix)}*"):
        pid = candidate.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            candidate.unlink(missing_ok=True)


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
        raise corrupt(
            path, f"not a readable npz archive ({type(err).__name__}: {err})"
        ) from err


def write_tensors(
    path: str | os.PathLike, tensors: dict, metadata: dict | None = None
) -> None:
    """Write a dict of torch tensors with safetensors, atomically.

    The same tensors and metadata always give the same bytes: safetensors writes its
    metadata in hash-map order, which changes from call to call, so the header is
    rewritten in a canonical order (metadata keys sorted, tensors by offset).
    """
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: json.dumps(_to_jsonable(v)) for k, v in (metadata or {}).items()}
    raw = _canonical_header(save(tensors, metadata=meta))
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)


def _canonical_header(raw: bytes) -> bytes:
    """safetensors bytes with the JSON header in a fixed key order, same length."""
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    ordered = {}
    if "__metadata__" in header:
        ordered["__metadata__"] = dict(sorted(header.pop("__metadata__").items()))
    ordered.update(sorted(header.items(), key=lambda item: item[1]["data_offsets"]))
    text = json.dumps(ordered, separators=(",", ":")).encode()
    if len(text) > size:  # escaping differs from the writer's; keep its header
        return raw
    return raw[:8] + text + b" " * (size - len(text)) + raw[8 + size :]


def read_tensors(path: str | os.PathLike) -> tuple[dict, dict]:
    """Load tensors and metadata written by :func:`write_tensors` (no pickle)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise corrupt(path, "file does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
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
        raise ValueError(
            f"{source}: {name} holds {bad} NaN or inf values; fix the input"
        )


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
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(size - 1, 0))
        last = handle.read(1)
    if size and last != b"\n":
        raise corrupt(path, "truncated CSV (the last line has no line end)")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise corrupt(path, f"not a readable CSV ({err})") from err
