"""Shared pieces of the benchmark suite: machine description, timing, config, output.

Every item module (``bench_*.py``) returns a dict with ``item``, ``title``, ``rows``
(a list of flat dicts), ``columns`` (the keys shown in the markdown table, in order),
``notes`` (a list of strings) and ``load`` (load averages at start and end); this
module writes it as JSON and renders the combined markdown report.
"""

from __future__ import annotations

import copy
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from repdyn.io import atomic_path, read_json, write_json

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PROJECT / "results" / "benchmarks"
ITEM_ORDER = ("study", "kae", "betti0", "unlearning", "gpu")


# --------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else platform's guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """Total physical memory in GiB, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def gpu_description() -> str | None:
    """Name and memory of CUDA device 0, or None when CUDA is not available."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return f"{props.name}, {props.total_memory / 2**30:.0f} GiB"


def machine_description() -> dict:
    """What the numbers were measured on: CPU, cores, threads, library versions."""
    import gudhi
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gudhi": gudhi.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": gpu_description() or "no GPU on this machine",
        "load_average": load_average(),
    }


def load_average() -> list[float]:
    """1-, 5- and 15-minute load averages (other users' work shows up here)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


# ---------------------------------------------------------------------------- timing
def timed_runs(function: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Wall times of ``repeats`` calls of ``function`` and the last call's result."""
    seconds, result = [], None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def median(values: list[float]) -> float:
    """Median of a non-empty list of numbers."""
    return float(statistics.median(values))


def ratio(slow: float | None, fast: float | None) -> float | None:
    """``slow / fast``, or None when either is missing or ``fast`` is zero."""
    if slow is None or fast is None or fast <= 0:
        return None
    return float(slow / fast)


# ---------------------------------------------------------------------------- config
def _deep_update(base: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def study_config(*configfiles: str) -> dict:
    """The validated study config (schema defaults filled in), files merged in order,
    as Snakemake merges ``--configfile`` over the default config."""
    from snakemake.utils import validate

    config: dict = {}
    for name in ("config/config.yaml", *configfiles):
        _deep_update(config, yaml.safe_load((PROJECT / name).read_text()))
    validate(config, str(PROJECT / "workflow" / "schemas" / "config.schema.yaml"))
    return config


# ---------------------------------------------------------------------------- output
def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically (temporary file renamed into place)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def item_record(
    item: str,
    title: str,
    rows: list[dict],
    columns: list[str],
    notes: list[str],
    load_start: list[float],
) -> dict:
    """The dict every benchmark item returns (see the module docstring)."""
    return {
        "item": item,
        "title": title,
        "measured_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "rows": rows,
        "columns": columns,
        "notes": notes,
    }


def save_item(record: dict, output: Path, machine: dict) -> Path:
    """Write one item's record (with the machine) to ``output/<item>.json``."""
    path = Path(output) / f"{record['item']}.json"
    write_json(path, {**record, "machine": machine})
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not np.isfinite(value):
            return "-"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A markdown table of ``rows`` showing ``columns`` (missing cells as '-')."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def item_markdown(record: dict) -> str:
    """One item's section of the report: title, when, load, table, notes."""
    start, end = record["load_average_start"], record["load_average_end"]
    parts = [
        f"## {record['title']}",
        "",
        (
            f"Measured {record['measured_at']}; load average (1, 5, 15 min) at start "
            f"{start}, at end {end}."
        ),
        "",
        markdown_table(record["rows"], record["columns"]),
    ]
    if record["notes"]:
        parts += [""] + [f"- {note}" for note in record["notes"]]
    return "\n".join(parts)


def machine_markdown(machine: dict) -> str:
    """The machine description as a short bullet list."""
    keys = (
        "cpu_model",
        "logical_cores",
        "usable_cores",
        "memory_gib",
        "torch_threads",
        "torch",
        "numpy",
        "gudhi",
        "python",
        "platform",
        "gpu",
    )
    return "\n".join(f"- {key}: {_cell(machine.get(key))}" for key in keys)


def write_report(output: Path) -> tuple[Path, Path]:
    """Combine every ``<item>.json`` in ``output`` into benchmarks.json and .md.

    Items measured in separate runs are combined; each keeps its own date, load
    average and machine, so the report says when each number was taken.
    """
    output = Path(output)
    records = []
    for item in ITEM_ORDER:
        path = output / f"{item}.json"
        if path.exists():
            records.append(read_json(path))
    machines = {json_key(r["machine"]): r["machine"] for r in records}
    sections = ["# repdyn benchmarks", ""]
    for machine in machines.values():
        sections += ["Machine:", "", machine_markdown(machine), ""]
    for record in records:
        sections += [item_markdown(record), ""]
    json_path, md_path = output / "benchmarks.json", output / "benchmarks.md"
    write_json(json_path, {"items": records})
    write_text(md_path, "\n".join(sections))
    return json_path, md_path


def json_key(machine: dict) -> str:
    """Identity of a machine description, ignoring its load average."""
    fields = {k: v for k, v in machine.items() if k != "load_average"}
    return repr(sorted(fields.items()))
