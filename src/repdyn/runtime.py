"""Seeding, device choice and thread control shared by every stage.

torch is imported where it is used, not here: every workflow script sets its threads
through this module, and the scripts that never touch torch (topology, reports,
preprocessing) then start without paying for its import.
"""

from __future__ import annotations

import os
import random
import sys
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded the same way."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Map the config's ``device`` key (auto, cpu, cuda, cuda:N) to a torch device.

    auto is the first CUDA device when CUDA is available, else the CPU. A device
    that does not exist here (no CUDA, a CUDA index beyond the visible devices, no
    MPS) raises RuntimeError, an unknown name ValueError; both name the fix.
    """
    import torch

    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device {name!r} is not a torch device; use auto, cpu, cuda or cuda:N"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {name!r} requested but CUDA is not available; set device: auto or cpu"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise RuntimeError(
            f"device {name!r} requested but only {torch.cuda.device_count()} CUDA "
            "device(s) are visible; use auto, cuda or a lower index"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(
            f"device {name!r} requested but MPS is not available; set device: auto or cpu"
        )
    return device


def set_threads(threads: int) -> None:
    """Make torch and the BLAS and OpenMP pools under NumPy and SciPy use exactly
    the threads Snakemake gave the rule, so that parallel jobs do not oversubscribe
    the cores (and spin-waiting pools of one job do not stall the next call)."""
    threads = max(1, int(threads))
    # torch reads OMP_NUM_THREADS when it is first imported, later, if at all.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    threadpool_limits(limits=threads)


def triangular_schedule(
    optimizer: torch.optim.Optimizer, epochs: int, rise_fraction: float = 0.2
) -> torch.optim.lr_scheduler.LambdaLR:
    """One triangular cycle over training, stepped once per epoch.

    The learning rate rises linearly from 0 to the optimizer's lr over the first
    ``rise_fraction`` of the epochs, then falls linearly back to 0 at the last epoch.
    Epoch e (0-based) trains at the factor for the middle of the epoch,
    (e + 0.5) / epochs, so neither the first nor the last epoch trains at exactly 0.
    """
    import torch

    peak = max(rise_fraction, 1e-12)

    def factor(epoch: int) -> float:
        position = min((epoch + 0.5) / epochs, 1.0)
        if position <= peak:
            return position / peak
        return max(0.0, (1.0 - position) / (1.0 - peak)) if peak < 1 else 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
