"""Stale Snakemake locks left by a killed run, recognised and removed safely.

Snakemake locks the working directory while it runs and unlocks it when it stops,
also after Ctrl-C or SIGTERM. A SIGKILL (or a power loss, or an out-of-memory
kill) skips that, and the next run refuses to start until ``snakemake --unlock``.
The workflow records which process holds the locks (:func:`record_owner`, from an
``onstart`` handler, after Snakemake has written its locks); at the start of the
next run :func:`remove_stale_locks` deletes the locks only when that process is
gone from this host and the locks are no newer than the record. Anything it cannot
prove stale it leaves to Snakemake, whose own message says to run ``--unlock``.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from repdyn.io import ArtifactError, read_json, write_json

log = logging.getLogger(__name__)

OWNER_FILE = Path(".snakemake") / "repdyn-lock-owner.json"
LOCK_DIR = Path(".snakemake") / "locks"


def record_owner(workdir: str | os.PathLike = ".") -> None:
    """Record this process (pid and host) as the holder of the directory's locks."""
    write_json(
        Path(workdir) / OWNER_FILE, {"pid": os.getpid(), "host": socket.gethostname()}
    )


def _is_running_snakemake(pid: int) -> bool:
    """True when ``pid`` runs here and is (or may be) a Snakemake process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc: a live pid might be Snakemake
    try:
        return b"snakemake" in cmdline.read_bytes()  # empty for a zombie
    except OSError:
        return False


def remove_stale_locks(workdir: str | os.PathLike = ".") -> list[Path]:
    """Delete the lock files of a run that was killed; return the files removed."""
    workdir = Path(workdir)
    locks = sorted((workdir / LOCK_DIR).glob("*.lock"))
    owner_file = workdir / OWNER_FILE
    if not locks or not owner_file.exists():
        return []
    try:
        owner = read_json(owner_file)
        pid, host = int(owner["pid"]), str(owner["host"])
    except (ArtifactError, KeyError, TypeError, ValueError):
        return []
    if host != socket.gethostname() or _is_running_snakemake(pid):
        return []
    recorded = owner_file.stat().st_mtime
    stale = [lock for lock in locks if lock.stat().st_mtime <= recorded]
    for lock in stale:
        lock.unlink(missing_ok=True)
    log.debug("removed stale locks %s of killed process %d", stale, pid)
    return stale
