"""Time repdyn's exact beta0 curve against gudhi's Rips H0 on 784-dimensional clouds.

For each size n, a seeded Gaussian cloud (float32, normalised like the layer states)
gets one full beta0 curve from ``h0_death_times`` + ``betti0_curve``, and the H0 bars
of ``gudhi.RipsComplex(points).create_simplex_tree(max_dimension=1).persistence()``.
The two answers must agree (sorted finite deaths to 1e-9, same count). Neither method's
run time depends much on the cloud's shape: both visit all n(n-1)/2 pairs.

Sizes above the gudhi limit skip gudhi (it needs about 3 minutes and several GB at
10 000 points); its time there is extrapolated from a power law fitted to the measured
sizes and marked as such. Timings are the median of several calls (one call once a
call takes longer than ``--max-seconds``); the load average is recorded with them.

Usage alone: python benchmarks/bench_betti0.py [--sizes 1000 5000 10000]
(``benchmarks/run.py --items betti0`` runs it as part of the suite.)
"""

from __future__ import annotations

import argparse
import time

import gudhi
import numpy as np
from benchlib import (
    DEFAULT_OUTPUT,
    item_record,
    load_average,
    machine_description,
    median,
    save_item,
    write_report,
)

from repdyn.topology import betti0_curve, h0_death_times, normalise_cloud

TOLERANCE = 1e-9
COLUMNS = [
    "n",
    "dim",
    "repdyn beta0 curve (s)",
    "gudhi Rips H0 (s)",
    "gudhi measured",
    "speed-up",
    "max abs difference",
    "equal",
    "runs",
    "load (1 min)",
]


def gudhi_h0_deaths(points: np.ndarray) -> np.ndarray:
    """Finite H0 death times [n - 1] of gudhi's Rips filtration, sorted."""
    rips = gudhi.RipsComplex(points=points)
    simplex_tree = rips.create_simplex_tree(max_dimension=1)
    simplex_tree.persistence(min_persistence=-1)
    bars = simplex_tree.persistence_intervals_in_dimension(0)
    if np.count_nonzero(np.isinf(bars[:, 1])) != 1:
        raise RuntimeError("gudhi returned more than one infinite H0 bar")
    return np.sort(bars[np.isfinite(bars[:, 1]), 1])


def timed(function, points: np.ndarray, repeats: int, max_seconds: float):
    """(result, median seconds, number of calls) of up to ``repeats`` calls.

    Stops after a call longer than ``max_seconds``: there, contention from other
    jobs is a small part of the time and more calls cost too much.
    """
    seconds, result = [], None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = function(points)
        seconds.append(time.perf_counter() - started)
        if seconds[-1] > max_seconds:
            break
    return result, median(seconds), len(seconds)


def repdyn_curve(points: np.ndarray) -> np.ndarray:
    """Death times, after computing one full beta0 curve on a 64-point grid."""
    deaths = h0_death_times(points)
    grid = np.geomspace(deaths[deaths > 0].min(), deaths.max(), 64)
    if betti0_curve(deaths, grid)[-1] != 1:
        raise RuntimeError("the beta0 curve does not end at one component")
    return deaths


def extrapolate(sizes: list[int], seconds: list[float], n: int) -> float:
    """Power-law fit seconds = a n^b on measured sizes, evaluated at n."""
    slope, intercept = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(np.exp(intercept) * n**slope)


def benchmark_size(
    n: int, dim: int, seed: int, run_gudhi: bool, repeats: int, max_seconds: float = 5.0
) -> dict:
    """Time both methods on one cloud and check that they agree."""
    load_start = load_average()[0]
    rng = np.random.default_rng(seed)
    points = normalise_cloud(rng.standard_normal((n, dim)).astype(np.float32))

    deaths, repdyn_seconds, runs = timed(repdyn_curve, points, repeats, max_seconds)
    row = {
        "n": n,
        "dim": dim,
        "repdyn beta0 curve (s)": repdyn_seconds,
        "runs": str(runs),
    }
    print(f"beta0 n={n}: repdyn {repdyn_seconds:.2f} s", flush=True)
    if run_gudhi:
        reference, gudhi_seconds, gudhi_runs = timed(
            gudhi_h0_deaths, points.astype(np.float64), repeats, max_seconds
        )
        if len(reference) != len(deaths):
            raise RuntimeError(f"n={n}: gudhi has {len(reference)} finite bars")
        difference = float(np.abs(reference - deaths).max())
        row.update(
            {
                "gudhi Rips H0 (s)": gudhi_seconds,
                "gudhi measured": True,
                "max abs difference": difference,
                "equal": difference <= TOLERANCE,
                "runs": f"{runs} / {gudhi_runs}",
            }
        )
        print(f"beta0 n={n}: gudhi {gudhi_seconds:.2f} s", flush=True)
    row["load (1 min)"] = f"{load_start:.1f}-{load_average()[0]:.1f}"
    return row


def fill_extrapolations(rows: list[dict]) -> None:
    """Add extrapolated gudhi times to rows where gudhi was skipped; speed-ups."""
    measured = [row for row in rows if row.get("gudhi measured")]
    for row in rows:
        if "gudhi Rips H0 (s)" not in row and len(measured) >= 2:
            sizes = [m["n"] for m in measured]
            seconds = [m["gudhi Rips H0 (s)"] for m in measured]
            row["gudhi Rips H0 (s)"] = extrapolate(sizes, seconds, row["n"])
            row["gudhi measured"] = False
        if "gudhi Rips H0 (s)" in row:
            row["speed-up"] = row["gudhi Rips H0 (s)"] / row["repdyn beta0 curve (s)"]


def run(args) -> dict:
    """Item 3: the beta0 table for the chosen sizes (see the module docstring)."""
    load_start = load_average()
    sizes = args.betti_sizes or [1000, 5000, 10000]
    gudhi_max = args.gudhi_max_points or (
        10000 if args.gudhi_10k else (1000 if args.quick else 5000)
    )
    repeats = args.repeats or (1 if args.quick else 3)
    rows = [benchmark_size(n, 784, 0, n <= gudhi_max, repeats) for n in sizes]
    fill_extrapolations(rows)
    notes = [
        (
            "Seeded standard normal cloud in 784 dimensions, float32, normalise_cloud; "
            "repdyn: h0_death_times (dense BLAS distances + Prim's MST) and a 64-point "
            "betti0_curve; gudhi: RipsComplex + SimplexTree.persistence (H0 bars)."
        ),
        (
            f"Median of up to {repeats} call(s) (one once a call takes > 5 s); 'runs' "
            "is repdyn / gudhi calls. Equal = same number of bars and sorted deaths "
            f"within {TOLERANCE:g}."
        ),
        (
            f"gudhi measured up to {gudhi_max} points; beyond that its time is a "
            "power-law extrapolation (--gudhi-10k measures 10 000: about 3 minutes)."
        ),
    ]
    return item_record(
        "betti0",
        "3. beta0 curve: repdyn vs gudhi Rips H0",
        rows,
        COLUMNS,
        notes,
        load_start,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", dest="betti_sizes", type=int, nargs="+")
    parser.add_argument("--gudhi-max-points", type=int)
    parser.add_argument("--gudhi-10k", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args()
    record = run(args)
    save_item(record, args.output, machine_description())
    print(write_report(args.output)[1].read_text())


if __name__ == "__main__":
    main()
