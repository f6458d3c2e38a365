"""repdyn's benchmark suite (``make bench``); see benchmarks/README.md.

Items: ``study`` (whole workflow wall time and peak memory), ``kae`` (KAE training
throughput against a plain reference loop), ``betti0`` (beta0 curve against gudhi),
``unlearning`` (operator edit against retraining), ``gpu`` (the KAE item on CUDA, or
a note that there is no GPU). Each item writes ``<output>/<item>.json``; every run
then rebuilds ``benchmarks.json`` and ``benchmarks.md`` there from all item files, so
items measured at different times are combined (each with its date and load).

Examples::

    python benchmarks/run.py                       # everything (default study: ~10 min)
    python benchmarks/run.py --quick --skip-study  # a fast sanity pass
    python benchmarks/run.py --items kae betti0 --threads 1
    python benchmarks/run.py --items betti0 --gudhi-10k
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from benchlib import (
    DEFAULT_OUTPUT,
    ITEM_ORDER,
    item_record,
    load_average,
    machine_description,
    machine_markdown,
    save_item,
    write_report,
)

from repdyn.runtime import set_threads


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="repdyn benchmark suite; results go to results/benchmarks/."
    )
    parser.add_argument(
        "--items",
        nargs="+",
        choices=ITEM_ORDER,
        default=ITEM_ORDER,
        help="items to run (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs, epochs and gudhi sizes: a sanity pass",
    )
    parser.add_argument(
        "--repeats", type=int, help="runs per measurement (default 3, --quick 1)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch and BLAS threads for items kae and betti0 (default: all "
        "cores), and for item unlearning (default: 1, as the study's rules)",
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="folder for the JSON and markdown results",
    )
    study = parser.add_argument_group("item study")
    study.add_argument(
        "--skip-study",
        action="store_true",
        help="do not run the default study (~10 min)",
    )
    study.add_argument(
        "--skip-smoke", action="store_true", help="do not run the smoke study"
    )
    study.add_argument(
        "--study-repeats", type=int, help="smoke study runs (default 3, --quick 1)"
    )
    study.add_argument(
        "--keep-copies", action="store_true", help="keep the temporary project copies"
    )
    kae = parser.add_argument_group("item kae (and gpu)")
    kae.add_argument(
        "--kae-problems",
        nargs="+",
        metavar="WORD",
        help="only problems whose name contains a word: yin, default, paper",
    )
    kae.add_argument(
        "--kae-epochs",
        type=int,
        help="epochs per fit (default 3, --quick 2; the first is dropped)",
    )
    kae.add_argument(
        "--device",
        default="auto",
        help="device of item kae: auto (= cpu; item gpu covers CUDA), cpu, cuda",
    )
    kae.add_argument(
        "--profile",
        action="store_true",
        help="also write torch.profiler tables at the paper's sizes",
    )
    betti = parser.add_argument_group("item betti0")
    betti.add_argument(
        "--betti-sizes",
        type=int,
        nargs="+",
        help="cloud sizes (default 1000 5000 10000)",
    )
    betti.add_argument(
        "--gudhi-10k",
        action="store_true",
        help="also run gudhi at 10 000 points (~3 min, several GB)",
    )
    betti.add_argument(
        "--gudhi-max-points",
        type=int,
        help="largest size gudhi runs at (default 5000, --quick 1000)",
    )
    unlearn = parser.add_argument_group("item unlearning")
    unlearn.add_argument(
        "--results-dir",
        help="finished default run to reuse, read only "
        "(default: the project's results/)",
    )
    return parser.parse_args(argv)


def gpu_item(args) -> dict:
    """Item 5: the KAE item on CUDA, or a record saying there is no GPU."""
    if torch.cuda.is_available():
        import bench_kae

        return bench_kae.run(args, device="cuda")
    note = (
        "no GPU on this machine: torch.cuda.is_available() is False. On a CUDA "
        "machine this item times the KAE problems on the GPU, and the study "
        "item's jobs use the GPU (device: auto)."
    )
    print(f"gpu: {note}", flush=True)
    row = {"device": "none", "result": "no GPU on this machine"}
    return item_record(
        "gpu", "5. GPU", [row], ["device", "result"], [note], load_average()
    )


def run_item(item: str, args) -> dict:
    if item == "gpu":
        return gpu_item(args)
    module = __import__(f"bench_{item}")
    return module.run(args)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        set_threads(args.threads)  # torch and the BLAS pools
    output = Path(args.output)
    machine = machine_description()
    print("Machine:\n" + machine_markdown(machine), flush=True)
    for item in [i for i in ITEM_ORDER if i in args.items]:
        started = time.perf_counter()
        print(f"\n=== {item} (load average {load_average()}) ===", flush=True)
        record = run_item(item, args)
        record["item_seconds"] = time.perf_counter() - started
        path = save_item(record, output, machine_description())
        print(f"=== {item} done in {record['item_seconds']:.0f} s: {path}", flush=True)
    json_path, md_path = write_report(output)
    print("\n" + md_path.read_text())
    print(f"Written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
