"""The whole study: wall time and peak memory of ``snakemake --cores all``.

Each run works in a fresh temporary copy of the project (the files git tracks plus
untracked files git does not ignore: no results, logs or .snakemake), with the
installed environment (this interpreter's snakemake; ``PYTHONPATH`` points at the
copy's ``src`` so the copy's code is what runs). The default study
(config/config.yaml, about ten minutes on two cores) runs once; the smoke study
(config/smoke.yaml) ``--study-repeats`` times (median).

Peak memory, two ways:

- ``peak tree RSS``: the sum of the resident set sizes of Snakemake and every
  process below it, sampled every 0.2 s with psutil (short spikes between samples
  are missed; shared pages are counted once per process);
- ``max process RSS``: ``/usr/bin/time -v``'s maximum resident set size, which for a
  process tree is that of the largest single process (getrusage of waited-for
  children keeps the maximum, not the sum). Without /usr/bin/time,
  ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` gives the same quantity.

With ``device: auto`` the study's jobs use CUDA when it is available.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchlib import PROJECT, item_record, load_average, median

TIME = Path("/usr/bin/time")
COLUMNS = [
    "study",
    "config",
    "runs",
    "wall (s)",
    "peak tree RSS (MiB)",
    "max process RSS (MiB)",
    "max RSS measured by",
    "jobs",
    "cores",
    "load (1 min)",
]


def project_files() -> list[str]:
    """Paths (relative to the project) git tracks or would track, that exist."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listing.split("\0") if name and (PROJECT / name).is_file()]


def copy_project(destination: Path) -> None:
    """Copy the project's source files (no results) into ``destination``."""
    for name in project_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, target)


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants (those still alive)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def parse_time_output(text: str) -> int | None:
    """Maximum resident set size in bytes from ``/usr/bin/time -v`` output."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return int(match.group(1)) * 1024 if match else None


def run_snakemake(copy: Path, configfile: str | None) -> dict:
    """One ``snakemake --cores all`` in ``copy``; wall time, peak memories, jobs."""
    snakemake = Path(sys.executable).with_name("snakemake")
    command = [str(snakemake), "--cores", "all"]
    if configfile:
        command += ["--configfile", configfile]
    time_file = copy / ".time-v.txt"
    if TIME.exists():
        command = [str(TIME), "-v", "-o", str(time_file), *command]
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    log_path = copy / "snakemake-output.txt"

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.2)
    wall = time.perf_counter() - started
    output = log_path.read_text()
    if process.returncode != 0:
        raise RuntimeError(
            f"snakemake failed (exit {process.returncode}) in {copy}; its output is "
            f"in {log_path}:\n{output[-3000:]}"
        )
    if time_file.exists():
        max_process, method = (
            parse_time_output(time_file.read_text()),
            "/usr/bin/time -v",
        )
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        max_process = max(after, before) * 1024
        method = "getrusage(RUSAGE_CHILDREN)"
    jobs = re.findall(r"(\d+) of (\d+) steps \(100%\) done", output)
    return {
        "wall": wall,
        "peak_tree_rss": peak,
        "max_process_rss": max_process,
        "method": method,
        "jobs": int(jobs[-1][1]) if jobs else None,
    }


def benchmark_study(name: str, configfile: str | None, repeats: int, keep: bool):
    """``repeats`` runs of one study, each from empty results in a fresh copy."""
    load_start = load_average()[0]
    runs = []
    for repeat in range(repeats):
        copy = Path(tempfile.mkdtemp(prefix=f"repdyn-bench-{name}-"))
        try:
            copy_project(copy)
            print(f"study {name}: run {repeat + 1}/{repeats} in {copy}", flush=True)
            runs.append(run_snakemake(copy, configfile))
            print(f"  {runs[-1]['wall']:.0f} s", flush=True)
        finally:
            if not keep:
                shutil.rmtree(copy, ignore_errors=True)
    mib = 2**20
    return {
        "study": name,
        "config": configfile or "config/config.yaml",
        "runs": repeats,
        "wall (s)": median([r["wall"] for r in runs]),
        "peak tree RSS (MiB)": max(r["peak_tree_rss"] for r in runs) / mib,
        "max process RSS (MiB)": max(r["max_process_rss"] for r in runs) / mib,
        "max RSS measured by": runs[0]["method"],
        "jobs": runs[0]["jobs"],
        "cores": os.cpu_count(),
        "load (1 min)": f"{load_start:.1f}-{load_average()[0]:.1f}",
        "wall_seconds": [r["wall"] for r in runs],
    }


def run(args) -> dict:
    """Item 1: the smoke study (median of runs) and the default study (once)."""
    load_start = load_average()
    rows = []
    if not args.skip_smoke:
        repeats = args.study_repeats or (1 if args.quick else 3)
        rows.append(
            benchmark_study("smoke", "config/smoke.yaml", repeats, args.keep_copies)
        )
    if not args.skip_study:
        rows.append(benchmark_study("default", None, 1, args.keep_copies))
    notes = [
        (
            "snakemake --cores all from empty results in a temporary copy of the "
            "project, environment already installed; the default study runs once."
        ),
        (
            "peak tree RSS: psutil sum over Snakemake and its job processes, sampled "
            "every 0.2 s; max process RSS: the largest single process "
            "(/usr/bin/time -v, or getrusage RUSAGE_CHILDREN)."
        ),
        (
            "Each rule sets torch and BLAS threads to its Snakemake threads "
            "(repdyn.logs.run_script -> repdyn.runtime.set_threads); Snakemake also "
            "sets OMP/OPENBLAS/MKL_NUM_THREADS to them for script jobs."
        ),
    ]
    if args.skip_study:
        notes.append("default study skipped (--skip-study).")
    return item_record(
        "study",
        "1. Whole study (snakemake --cores all)",
        rows,
        COLUMNS,
        notes,
        load_start,
    )
