"""Plain, greppable logging for the workflow's scripts."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(log_path: str | None = None) -> logging.Logger:
    """Log to stderr and, when given, to ``log_path``; return the study's logger."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format=LOG_FORMAT, handlers=handlers, force=True
    )
    return logging.getLogger("repdyn")


def run_script(smk: Any, main: Callable[[Any, logging.Logger], None]) -> None:
    """Run a Snakemake script's ``main(snakemake, log)`` with logging and threads set.

    Any exception is logged (so it is in the rule's log file) and re-raised, so
    Snakemake marks the job failed and removes its incomplete outputs.
    """
    from repdyn.runtime import set_threads

    log = configure(smk.log[0] if len(smk.log) else None)
    set_threads(smk.threads)
    started = time.perf_counter()
    name = getattr(smk, "rule", "script")
    log.info("rule %s wildcards %s threads %d", name, dict(smk.wildcards), smk.threads)
    try:
        main(smk, log)
    except Exception:
        log.exception("rule %s failed", name)
        raise
    log.info("rule %s done in %.1f s", name, time.perf_counter() - started)
