"""Koopman-autoencoder training throughput: repdyn's fit against a plain reference.

Three problem sizes: the default study's Yin-Yang and MNIST KAEs (config/config.yaml)
and the paper's MNIST KAE (config/paper.yaml: 784 -> 1000 -> 800, k = 10, batch 512)
on synthetic states of the default study's sizes (5000 x 10, 4000 x 256, 4000 x 784).
Throughput is training samples per second of one epoch (forward, backward and
optimiser step over every batch), the median over the timed epochs; the first epoch of
every fit is a warm-up and not counted.

The reference is the straightforward implementation of the same model and losses: the
same encoder and decoder sizes, the same four weighted mean-squared-error terms
(reconstruction of x0 and xL, state prediction, observable prediction, distance
preservation for x0 and xL), the study's operator ``K = expm(M / k)`` by
``torch.linalg.matrix_exp`` and ``K^k`` by k - 1 repeated multiplications, distance
matrices by ``torch.cdist``, one encoder and decoder call per term, plain autograd and
AdamW. A second, tuned reference changes only the operator: a free matrix K and
``torch.linalg.matrix_power`` (binary powers), which is the cheapest operator there is.
repdyn's own fit is timed with the study's operator (``expm``: ``K^k = expm(M)`` by a
differentiable Taylor series) and, to compare with the tuned reference, with
``matrix`` (a free K and matrix powers).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import item_record, load_average, median, ratio, study_config, write_text
from torch import nn

from repdyn.koopman import KoopmanAutoencoder, KoopmanConfig
from repdyn.runtime import seed_everything
from repdyn.study import koopman_config

TARGET_SPEEDUP = 1.5  # at the paper's MNIST sizes
TWO_OPERATORS = ("expm", "matrix")
COLUMNS = [
    "problem",
    "device",
    "n x p",
    "KAE",
    "batch",
    "repdyn expm (samples/s)",
    "reference expm (samples/s)",
    "speed-up expm",
    "speed-up expm (CPU time)",
    "repdyn matrix (samples/s)",
    "tuned reference matrix (samples/s)",
    "speed-up matrix",
    "epochs timed",
    "load (1 min)",
]


@dataclasses.dataclass
class Problem:
    """One KAE training problem: its name, config and state sizes."""

    name: str
    config: KoopmanConfig
    n: int
    p: int
    epochs: tuple[int, int]  # epochs per timed fit: full run, --quick


def problems() -> list[Problem]:
    """The three sizes, KAE settings read from the study's config files."""
    default, paper = study_config(), study_config("config/paper.yaml")
    yinyang = default["datasets"]["yinyang"]
    mnist = default["datasets"]["mnist"]
    return [
        Problem(
            "Yin-Yang default",
            koopman_config(yinyang),
            yinyang["n_train"],
            yinyang["network"]["width"],
            (21, 11),
        ),
        Problem(
            "MNIST default",
            koopman_config(mnist),
            5000 - mnist["n_test"],
            mnist["network"]["width"],
            (6, 4),
        ),
        Problem(
            "MNIST paper sizes",
            koopman_config(paper["datasets"]["mnist"]),
            5000 - mnist["n_test"],
            784,
            (4, 3),
        ),
    ]


def synthetic_states(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """First states ``[n, p]`` (Gaussian) and a smooth nonlinear image of them."""
    rng = np.random.default_rng(seed)
    Z0 = rng.standard_normal((n, p)).astype(np.float32)
    mixing = rng.standard_normal((p, p)).astype(np.float32) / np.sqrt(p)
    ZL = np.tanh(Z0 @ mixing) + 0.5 * Z0
    return Z0, ZL.astype(np.float32)


# ----------------------------------------------------------------------- reference
class ReferenceKAE(nn.Module):
    """Encoder and decoder (Linear, LeakyReLU, Linear) and the operator parameter:
    M of ``K = expm(M / k)`` for "expm", K itself for "matrix"; the identity."""

    def __init__(self, p: int, hidden: int, q: int, operator: str):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(p, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, q)
        )
        self.decoder = nn.Sequential(
            nn.Linear(q, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, p)
        )
        self.operator = operator
        self.parameter = nn.Parameter(torch.eye(q))

    def power(self, k: int) -> torch.Tensor:
        """``K^k``: k - 1 products of expm(M / k), or binary powers of a free K."""
        if self.operator == "matrix":
            return torch.linalg.matrix_power(self.parameter, k)
        step = torch.linalg.matrix_exp(self.parameter / k)
        power = step
        for _ in range(k - 1):
            power = power @ step
        return power


def reference_loss(model: ReferenceKAE, x0, xL, config: KoopmanConfig) -> torch.Tensor:
    """The four weighted losses on one batch ``x0, xL [m, p]``, written plainly."""
    mse = nn.functional.mse_loss
    obs0, obsL = model.encoder(x0), model.encoder(xL)
    advanced = obs0 @ model.power(config.k)
    reconstruction = mse(model.decoder(obs0), x0) + mse(model.decoder(obsL), xL)
    state = mse(model.decoder(advanced), xL)
    observable = mse(advanced, obsL)
    distance = mse(torch.cdist(obs0, obs0), torch.cdist(x0, x0)) + mse(
        torch.cdist(obsL, obsL), torch.cdist(xL, xL)
    )
    return (
        config.weight_reconstruction * reconstruction
        + config.weight_state * state
        + config.weight_observable * observable
        + config.weight_distance * distance
    )


class EpochClock:
    """Wall and process-CPU seconds of each epoch (CPU time is what a loaded
    machine distorts least: other users' jobs take wall time, not this process's
    CPU time). On CUDA only wall time means anything; the device is synchronised."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)


def reference_fit(Z0, ZL, config: KoopmanConfig, device, seed: int = 0) -> EpochClock:
    """Train the reference for ``config.epochs``; the clock of its epochs."""
    seed_everything(seed)
    x0_all = torch.as_tensor(Z0, device=device)
    xL_all = torch.as_tensor(ZL, device=device)
    model = ReferenceKAE(
        Z0.shape[1], config.hidden, config.n_observables, config.operator
    ).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    clock = EpochClock(device)
    for _ in range(config.epochs):
        with clock:
            order = torch.randperm(len(x0_all), device=device)
            for batch in order.split(config.batch_size):
                loss = reference_loss(model, x0_all[batch], xL_all[batch], config)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            loss.item()  # like repdyn's per-epoch loss summary
    return clock


class _ClockedKAE(KoopmanAutoencoder):
    """repdyn's autoencoder with the same epoch clock around each training epoch."""

    def _train_epoch(self, *args):
        with self.clock_:
            return super()._train_epoch(*args)


def repdyn_fit(Z0, ZL, config: KoopmanConfig, device, seed: int = 0) -> EpochClock:
    """Train repdyn's KoopmanAutoencoder; the clock of its epochs."""
    kae = _ClockedKAE(config, seed=seed, device=device, context="benchmark")
    kae.clock_ = EpochClock(device)
    kae.fit(Z0, ZL, progress=False)
    return kae.clock_


# ------------------------------------------------------------------------ timing
def benchmark_problem(problem: Problem, device, repeats: int, epochs: int) -> dict:
    """Median epoch throughput of repdyn (expm and matrix) and of the reference.

    Each repeat fits every method once for ``epochs`` epochs (interleaved, so slow
    spells of a shared machine hit every method); the first epoch of each fit is a
    warm-up and dropped.
    """
    Z0, ZL = synthetic_states(problem.n, problem.p)
    config = dataclasses.replace(problem.config, epochs=max(2, epochs))
    expm, matrix = (dataclasses.replace(config, operator=o) for o in TWO_OPERATORS)
    methods = {
        "expm": (repdyn_fit, expm),
        "reference expm": (reference_fit, expm),
        "matrix": (repdyn_fit, matrix),
        "reference matrix": (reference_fit, matrix),
    }
    load_start = load_average()[0]
    wall: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    for repeat in range(repeats):
        for name, (fit, method_config) in methods.items():
            clock = fit(Z0, ZL, method_config, device, seed=repeat)
            wall[name] += clock.wall[1:]
            cpu[name] += clock.cpu[1:]
        print(f"  {problem.name} repeat {repeat + 1}/{repeats} done", flush=True)
    rate = {name: problem.n / median(t) for name, t in wall.items()}
    cpu_rate = {name: problem.n / median(t) for name, t in cpu.items()}
    on_cpu = torch.device(device).type == "cpu"
    return {
        "problem": problem.name,
        "device": str(device),
        "n x p": f"{problem.n} x {problem.p}",
        "KAE": f"{problem.p}-{config.hidden}-{config.n_observables}, k={config.k}",
        "batch": config.batch_size,
        "repdyn expm (samples/s)": rate["expm"],
        "reference expm (samples/s)": rate["reference expm"],
        "speed-up expm": ratio(rate["expm"], rate["reference expm"]),
        "speed-up expm (CPU time)": (
            ratio(cpu_rate["expm"], cpu_rate["reference expm"]) if on_cpu else None
        ),
        "repdyn matrix (samples/s)": rate["matrix"],
        "tuned reference matrix (samples/s)": rate["reference matrix"],
        "speed-up matrix": ratio(rate["matrix"], rate["reference matrix"]),
        "epochs timed": len(wall["expm"]),
        "load (1 min)": f"{load_start:.1f}-{load_average()[0]:.1f}",
        "epoch_wall_seconds": wall,
        "epoch_cpu_seconds": cpu,
    }


def profile_problem(problem: Problem, device, output: Path) -> Path:
    """torch.profiler tables (top ops by self time) of one short fit of each method."""
    from torch.profiler import ProfilerActivity, profile

    batches = 4
    n = min(problem.n, batches * problem.config.batch_size)
    Z0, ZL = synthetic_states(n, problem.p)
    activities = [ProfilerActivity.CPU]
    if torch.device(device).type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    sort_key = "self_cuda_time_total" if len(activities) > 1 else "self_cpu_time_total"
    sections = []
    for name, fit, operator in (
        ("repdyn expm", repdyn_fit, "expm"),
        ("repdyn matrix", repdyn_fit, "matrix"),
        ("reference expm", reference_fit, "expm"),
    ):
        config = dataclasses.replace(problem.config, epochs=1, operator=operator)
        fit(Z0, ZL, config, device)  # warm-up
        with profile(activities=activities) as prof:
            fit(Z0, ZL, config, device)
        table = prof.key_averages().table(sort_by=sort_key, row_limit=18)
        sections.append(f"## {name}: {problem.name}, {batches} batches\n\n{table}")
    path = output / f"kae_profile_{device.type}.txt"
    write_text(path, "\n\n".join(sections))
    return path


def run(args, device=None) -> dict:
    """Item 2 on the CPU (or ``args.device``); item 5 calls it with CUDA."""
    load_start = load_average()
    device = torch.device(device or (args.device if args.device != "auto" else "cpu"))
    chosen = problems()
    if args.kae_problems:
        wanted = [word.lower() for word in args.kae_problems]
        chosen = [p for p in chosen if any(w in p.name.lower() for w in wanted)]
    repeats = args.repeats or (1 if args.quick else 3)
    rows = []
    for problem in chosen:
        epochs = args.kae_epochs or problem.epochs[1 if args.quick else 0]
        print(f"KAE throughput: {problem.name} on {device}", flush=True)
        rows.append(benchmark_problem(problem, device, repeats, epochs))
        print(
            f"  speed-up {rows[-1]['speed-up expm']:.2f}x (expm), "
            f"{rows[-1]['speed-up matrix']:.2f}x (matrix)",
            flush=True,
        )
    notes = [
        (
            f"{repeats} fit(s) per method, interleaved, the first epoch of each fit "
            "dropped (epochs timed = the rest); median epoch time; speed-up = "
            "repdyn throughput / reference throughput (same device, same torch "
            f"threads: {torch.get_num_threads()}). The CPU-time speed-up uses this "
            "process's CPU seconds instead of wall seconds: the steadier of the two "
            "on a loaded machine."
        ),
        (
            f"Target: at least {TARGET_SPEEDUP}x the reference (expm columns: the "
            "study's operator K = expm(M / k), K^k by repeated multiplication, "
            "torch.cdist distances) at the paper's MNIST sizes."
        ),
        (
            "The matrix columns give both loops a free K with binary matrix powers, "
            "the cheapest operator: what is left is repdyn's distance loss (Gram "
            "matrix, closed-form gradient, reused buffers) and its batching of the "
            "encoder and decoder calls."
        ),
    ]
    if args.profile:
        path = profile_problem(problems()[-1], device, Path(args.output))
        notes.append(f"torch.profiler tables (paper sizes): {path}")
    item, title = ("kae", "2. Koopman-autoencoder training throughput")
    if device.type == "cuda":
        item, title = ("gpu", f"5. GPU: KAE training throughput on {device}")
    return item_record(item, title, rows, COLUMNS, notes, load_start)
