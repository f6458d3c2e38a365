"""Koopman autoencoder surrogate of a network's layer dynamics (spec section 5).

An encoder phi lifts a preprocessed first-layer state x0 into observable space, one
linear operator K advances observables by one step of "depth time", and a decoder psi
maps back: the surrogate predicts the last state as ``psi(K^k phi(x0))``.

Conventions: samples and observables are rows, so the operator acts from the right,
``obs_next = obs @ K``. With ``operator="expm"`` the operator is ``K = expm(M / k)``
with M a free matrix initialised to the identity, so ``K^t = expm(t M / k)`` for any
t and ``K^k = expm(M)`` exactly; with ``operator="matrix"`` K itself is the free
matrix (initialised to the identity) and powers are matrix powers.

The module also holds the least-squares linear baseline (a DMD-style operator on the
same states) and the fraction of variance unexplained used to report every fit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from repdyn.io import corrupt, read_json, read_tensors, write_json, write_tensors
from repdyn.runtime import seed_everything, triangular_schedule

log = logging.getLogger(__name__)

LOSS_TERMS = (
    "reconstruction_x0",
    "reconstruction_xL",
    "state",
    "observable",
    "distance_x0",
    "distance_xL",
)
_WEIGHT_NAMES = ("reconstruction", "state", "observable", "distance")
_INFERENCE_ROWS = 8192
_DISTANCE_FLOOR = 1e-12  # squared distances are clamped here before the square root
_FORMAT = "repdyn.koopman_autoencoder/1"


class KoopmanDivergenceError(RuntimeError):
    """Training produced a non-finite loss or operator; no model was kept."""


@dataclasses.dataclass
class KoopmanConfig:
    """Architecture and training settings of a Koopman autoencoder.

    Defaults are the study's Yin-Yang settings except the sizes, which are required.
    ``k`` is the number of operator steps from the first to the last state (a
    hyperparameter, not the network's depth).
    """

    hidden: int
    n_observables: int
    k: int
    operator: str = "expm"
    epochs: int = 1000
    batch_size: int = 1024
    lr: float = 0.1
    weight_decay: float = 5e-4
    rise_fraction: float = 0.2
    weight_reconstruction: float = 1.0
    weight_state: float = 1.0
    weight_observable: float = 1.0
    weight_distance: float = 1.0

    def __post_init__(self):
        if self.operator not in ("expm", "matrix"):
            raise ValueError(
                f"operator must be 'expm' or 'matrix', got {self.operator!r}"
            )
        for name in ("hidden", "n_observables", "k", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer")
        weights = [getattr(self, f"weight_{term}") for term in _WEIGHT_NAMES]
        if min(weights) < 0 or self.lr <= 0:
            raise ValueError("loss weights must be >= 0 and lr must be > 0")

    def term_weights(self) -> dict[str, float]:
        """Weight of every loss term (both reconstructions share one weight)."""
        return {
            term: getattr(self, f"weight_{term.split('_')[0]}") for term in LOSS_TERMS
        }


class KoopmanNetwork(nn.Module):
    """Encoder, decoder and operator parameter of a Koopman autoencoder."""

    def __init__(self, n_features: int, config: KoopmanConfig):
        super().__init__()
        self.k = int(config.k)
        self.operator = config.operator
        self.encoder = _mlp(n_features, config.hidden, config.n_observables)
        self.decoder = _mlp(config.n_observables, config.hidden, n_features)
        # M for "expm" (K = expm(M / k)), K itself for "matrix"; identity either way.
        self.operator_parameter = nn.Parameter(torch.eye(config.n_observables))

    def power(self, steps: int) -> torch.Tensor:
        """The operator after ``steps`` steps, ``K^steps`` ``[q, q]`` (row convention)."""
        return operator_power(self.operator_parameter, self.operator, steps, self.k)


def operator_power(parameter, operator: str, steps: int, k: int) -> torch.Tensor:
    """``expm(steps M / k)`` for "expm" (a matrix exponential, never repeated
    products), ``K^steps`` for "matrix"; ``parameter`` is M or K ``[q, q]``.

    When a gradient is needed (training) the exponential is :func:`taylor_expm`,
    whose backward pass costs about twice its forward; otherwise (prediction,
    ``operator_matrix``, eigenvalues) it is ``torch.linalg.matrix_exp``.
    """
    if operator == "expm":
        scaled = parameter * (steps / k)
        if scaled.requires_grad:
            return taylor_expm(scaled)
        return torch.linalg.matrix_exp(scaled)
    return torch.linalg.matrix_power(parameter, int(steps))


_TAYLOR = [1.0 / math.factorial(i) for i in range(13)]  # degree 12


def taylor_expm(X: torch.Tensor) -> torch.Tensor:
    """``expm(X)`` ``[q, q]`` by scaling and squaring, differentiable by autograd.

    X is scaled by 2^-s so that its 1-norm is at most 1, the degree-12 Taylor
    polynomial is evaluated with five products (Paterson-Stockmeyer in Y, Y^2, Y^3,
    Y^4) and squared s times. The truncation error is below 1/13! ~ 2e-10 relative,
    far under float32 rounding, so value and gradient agree with
    ``torch.linalg.matrix_exp`` to rounding. It exists for speed: torch's backward
    of ``matrix_exp`` exponentiates the 2q x 2q block matrix [[X^T, G], [0, X^T]]
    (eight times the work of each q x q product, and more terms and squarings
    because the gradient G enters the norm); at q = 800 that was about 70 % of a
    KAE training step. Non-finite X gives a non-finite result, not an error.
    """
    norm = float(torch.linalg.matrix_norm(X.detach(), ord=1))
    squarings = math.ceil(math.log2(norm)) if math.isfinite(norm) and norm > 1 else 0
    Y = X * 0.5**squarings
    Y2 = Y @ Y
    Y3 = Y2 @ Y
    Y4 = Y2 @ Y2
    eye = torch.eye(X.shape[-1], dtype=X.dtype, device=X.device)

    def block(j: int) -> torch.Tensor:  # sum_{i<4} Y^i / (4j + i)!
        c = _TAYLOR[4 * j : 4 * j + 4]
        return c[0] * eye + c[1] * Y + c[2] * Y2 + c[3] * Y3

    result = block(0) + Y4 @ (block(1) + Y4 @ (block(2) + _TAYLOR[12] * Y4))
    for _ in range(squarings):
        result = result @ result
    return result


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.LeakyReLU(0.01), nn.Linear(hidden, n_out)
    )


class _DistanceWorkspace:
    """Preallocated ``[2, m, m]`` buffers for the distance loss.

    Allocating fresh n-by-n tensors every batch costs more than the arithmetic (page
    faults on large blocks), so the loss works in place in two reused buffers.
    """

    def __init__(self, max_rows: int, device, dtype=torch.float32):
        size = 2 * max_rows * max_rows
        self.encoded = torch.empty(size, device=device, dtype=dtype)
        self.states = torch.empty(size, device=device, dtype=dtype)

    def views(self, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        size = 2 * rows * rows
        shape = (2, rows, rows)
        return self.encoded[:size].view(shape), self.states[:size].view(shape)


def _distances_into(points: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances of ``points[b, m, d]`` written into ``out[b, m, m]``.

    Points are centred first, which leaves distances unchanged and shrinks the
    rounding error of the Gram-matrix formula. The diagonal is set to the floor so
    that it is identical for states and encodings and has no gradient.
    """
    points = points - points.mean(dim=1, keepdim=True)
    squared_norms = (points * points).sum(dim=-1)
    torch.add(squared_norms[:, :, None], squared_norms[:, None, :], out=out)
    out.baddbmm_(points, points.transpose(1, 2), alpha=-2.0)
    out.clamp_min_(_DISTANCE_FLOOR)
    out.diagonal(dim1=1, dim2=2).fill_(_DISTANCE_FLOOR)
    return out.sqrt_()


class _DistanceMismatch(torch.autograd.Function):
    """Sum over pairs of (encoded distance - state distance)^2, per batch element.

    Inputs: encodings ``[2, m, q]`` (x0 and xL), states ``[2, m, p]``. Outputs: sums of
    squared errors ``[2]`` and the total sums of squares of the state distances about
    their mean ``[2]`` (for the FVU, not differentiable). The gradient is computed in
    closed form, d/de_i = 4 sum_j (D_e - D_s)_ij / D_e,ij (e_i - e_j), which needs one
    matrix product instead of autograd's chain of n-by-n temporaries.
    """

    @staticmethod
    def forward(ctx, encodings, states, workspace):
        encoded, target = workspace.views(encodings.shape[1])
        _distances_into(encodings, encoded)
        _distances_into(states, target)
        count = target[0].numel()
        total = target.sum(dim=(1, 2))
        sst = torch.linalg.vector_norm(target, dim=(1, 2)).square() - total**2 / count

        residual = target.sub_(encoded)  # D_s - D_e, in place
        sse = torch.linalg.vector_norm(residual, dim=(1, 2)).square()
        ctx.weights = residual.div_(encoded)  # -(D_e - D_s) / D_e
        ctx.save_for_backward(encodings)
        ctx.mark_non_differentiable(sst)
        return sse, sst

    @staticmethod
    def backward(ctx, grad_sse, grad_sst):
        (encodings,) = ctx.saved_tensors
        ones = torch.ones_like(encodings[..., :1])
        weighted = torch.bmm(ctx.weights, torch.cat([encodings, ones], dim=-1))
        # sum_j W_ij (e_i - e_j) with W = (D_e - D_s) / D_e = -ctx.weights
        grad = weighted[..., :-1] - weighted[..., -1:] * encodings
        return grad * (4.0 * grad_sse[:, None, None]), None, None


def _sum_of_squares_about_mean(target: torch.Tensor) -> torch.Tensor:
    """Total sum of squares of ``target[m, d]`` about its column means."""
    return ((target - target.mean(dim=0)) ** 2).sum()


class KoopmanAutoencoder:
    """Koopman autoencoder fitted on pairs of preprocessed states (x0, xL).

    Parameters
    ----------
    config : KoopmanConfig
    seed : int
        Seeds initialisation and batch order; the same seed on the same device
        gives identical parameters.
    device : torch.device or str
    context : str
        Names the dataset and seeds in error messages and logs.
    """

    def __init__(
        self, config: KoopmanConfig, seed: int = 0, device="cpu", context: str = ""
    ):
        self.config = config
        self.seed = int(seed)
        self.device = torch.device(device)
        self.context = context

    # ----------------------------------------------------------------- training
    def fit(self, Z0: np.ndarray, ZL: np.ndarray, progress: bool = True):
        """Train on first states ``Z0[n, p]`` and last states ``ZL[n, p]``."""
        for name in ("module_", "n_features_", "history_"):
            self.__dict__.pop(name, None)  # a failed refit must not leave a model
        data = self._check_pair(Z0, ZL)  # [2, n, p] on the device
        generator = seed_everything(self.seed)
        network = KoopmanNetwork(data.shape[2], self.config).to(self.device)
        optimizer = _optimizer(network, self.config)
        schedule = triangular_schedule(
            optimizer, self.config.epochs, self.config.rise_fraction
        )
        rows = min(self.config.batch_size, data.shape[1])
        workspace = _DistanceWorkspace(rows, self.device)

        records = []
        epochs = tqdm(
            range(self.config.epochs), disable=not progress, desc="KAE", leave=False
        )
        for epoch in epochs:
            start = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            sums = self._train_epoch(network, data, optimizer, workspace, generator)
            schedule.step()
            record = self._epoch_record(epoch, sums, lr, time.perf_counter() - start)
            self._check_divergence(network, record, epoch)
            records.append(record)
            epochs.set_postfix(loss=f"{record['total']:.4g}", refresh=False)
            self._log_epoch(record)

        network.eval()
        self.module_ = network
        self.n_features_ = int(data.shape[2])
        self.history_ = pd.DataFrame(records)
        return self

    def _train_epoch(self, network, data, optimizer, workspace, generator):
        """One pass over shuffled batches; returns per-term (sse, sst, count) sums."""
        n = data.shape[1]
        order = torch.randperm(n, generator=generator).to(self.device)
        weights = np.array(list(self.config.term_weights().values()))
        sums = torch.zeros(2, len(LOSS_TERMS), device=self.device)
        counts = np.zeros(len(LOSS_TERMS))
        for start in range(0, n, self.config.batch_size):
            batch = data[:, order[start : start + self.config.batch_size]]
            sse, sst, count = self._batch_terms(network, batch, workspace)
            # weighted sum of the batch's mean squared errors
            factors = torch.tensor(weights / count, dtype=sse.dtype, device=self.device)
            loss = (factors * sse).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums += torch.stack([sse.detach(), sst])
            counts += count
        return sums.cpu().numpy(), counts

    def _batch_terms(self, network, batch, workspace):
        """Sums of squared errors ``[6]`` (with gradient), target sums of squares
        about their means ``[6]`` and element counts ``[6]`` (numpy) of one batch."""
        _, rows, width = batch.shape
        x0, xL = batch[0], batch[1]
        observables = network.encoder(batch.reshape(2 * rows, width))  # [2m, q]
        obs0, obsL = observables[:rows], observables[rows:]
        advanced = obs0 @ network.power(network.k)  # [m, q]
        decoded = network.decoder(torch.cat([observables, advanced]))  # [3m, p]

        pairs = [
            (decoded[:rows], x0),
            (decoded[rows : 2 * rows], xL),
            (decoded[2 * rows :], xL),
            (advanced, obsL),
        ]
        sse = [((prediction - target) ** 2).sum() for prediction, target in pairs]
        with torch.no_grad():
            sst = [_sum_of_squares_about_mean(target) for _, target in pairs]
        distance_sse, distance_sst = _DistanceMismatch.apply(
            observables.view(2, rows, -1), batch, workspace
        )
        counts = [target.numel() for _, target in pairs] + [rows * rows] * 2
        return (
            torch.cat([torch.stack(sse), distance_sse]),
            torch.cat([torch.stack(sst), distance_sst]),
            np.array(counts, dtype=np.float64),
        )

    def _epoch_record(self, epoch, sums, lr, seconds) -> dict:
        (sse, sst), counts = sums
        record = {"epoch": epoch}
        total = 0.0
        for i, (term, weight) in enumerate(self.config.term_weights().items()):
            mse = float(sse[i] / counts[i])
            record[f"{term}_mse"] = mse
            record[f"{term}_fvu"] = float(sse[i] / sst[i]) if sst[i] > 0 else np.nan
            total += weight * mse
        record.update(total=total, lr=lr, seconds=seconds)
        return record

    def _check_divergence(self, network, record, epoch) -> None:
        operator_ok = bool(torch.isfinite(network.operator_parameter).all())
        if np.isfinite(record["total"]) and operator_ok:
            return
        if np.isfinite(record["total"]):
            problem = "non-finite operator"
        else:
            problem = f"non-finite loss {record['total']}"
        raise KoopmanDivergenceError(
            f"{self.context or 'Koopman autoencoder'}: training diverged at epoch "
            f"{epoch + 1} of {self.config.epochs} ({problem}, lr {record['lr']:.3g}, "
            f"seed {self.seed}); no model was kept. Lower the KAE learning rate or "
            "check the states for outliers."
        )

    def _log_epoch(self, record) -> None:
        every = max(1, self.config.epochs // 10)
        if (record["epoch"] + 1) % every == 0 or record["epoch"] == 0:
            log.info(
                "%s epoch %d/%d total %.5g state_fvu %.4g distance_x0_fvu %.4g "
                "lr %.3g %.3fs",
                self.context,
                record["epoch"] + 1,
                self.config.epochs,
                record["total"],
                record["state_fvu"],
                record["distance_x0_fvu"],
                record["lr"],
                record["seconds"],
            )

    def _check_pair(self, Z0, ZL) -> torch.Tensor:
        Z0, ZL = np.asarray(Z0), np.asarray(ZL)
        if Z0.ndim != 2 or Z0.shape != ZL.shape:
            raise ValueError(
                f"Z0 and ZL must be 2-D arrays of the same shape (n, p); got "
                f"{Z0.shape} and {ZL.shape}"
            )
        if not (np.all(np.isfinite(Z0)) and np.all(np.isfinite(ZL))):
            raise ValueError(f"{self.context}: states hold NaN or inf; fix the input")
        stacked = np.stack([Z0, ZL]).astype(np.float32)
        return torch.from_numpy(stacked).to(self.device)

    # ---------------------------------------------------------------- inference
    def encode(self, Z: np.ndarray) -> np.ndarray:
        """Observables ``phi(Z)`` ``[n, q]`` of preprocessed states ``Z[n, p]``."""
        network = self._network()
        return self._map_rows(network.encoder, Z)

    def decode(self, observables: np.ndarray) -> np.ndarray:
        """States ``psi(obs)`` ``[n, p]`` of observables ``[n, q]``."""
        network = self._network()
        return self._map_rows(network.decoder, observables)

    def advance(self, observables: np.ndarray, steps: int = 1) -> np.ndarray:
        """Observables advanced by ``steps`` operator steps, ``obs @ K^steps``."""
        network = self._network()
        with torch.no_grad():
            power = network.power(steps)
        return self._map_rows(lambda obs: obs @ power, observables)

    def predict(self, Z0: np.ndarray) -> np.ndarray:
        """Predicted last states ``psi(K^k phi(Z0))`` ``[n, p]``."""
        network = self._network()
        return self._rollout(Z0, [network.k])[0]

    def iterate_steps(self, stride: int = 1) -> list[int]:
        """Steps 0, stride, 2 stride, ... below k, then k itself."""
        network = self._network()
        if stride < 1:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        return list(range(0, network.k, stride)) + [network.k]

    def iterates(self, Z0: np.ndarray, stride: int = 1) -> np.ndarray:
        """Decoded iterates ``psi(K^t phi(Z0))`` ``[T, n, p]`` for t in iterate_steps."""
        return self._rollout(Z0, self.iterate_steps(stride))

    def _rollout(self, Z0: np.ndarray, steps: list[int]) -> np.ndarray:
        """``psi(K^t phi(Z0))`` for each t in ``steps``, ``[T, n, p]``; predict and
        iterates share it so that the iterate at t = k equals the prediction."""
        network = self._network()
        with torch.no_grad():
            powers = [network.power(t) for t in steps]

        def decoded(rows: torch.Tensor) -> torch.Tensor:
            observables = network.encoder(rows)
            return torch.stack([network.decoder(observables @ p) for p in powers], 1)

        return np.ascontiguousarray(self._map_rows(decoded, Z0).transpose(1, 0, 2))

    def operator_matrix(self, steps: int = 1) -> np.ndarray:
        """``K^steps`` ``[q, q]`` in float64, row convention: obs_next = obs @ A."""
        network = self._network()
        parameter = network.operator_parameter.detach().cpu().double()
        return operator_power(parameter, network.operator, steps, network.k).numpy()

    def eigenvalues(self) -> dict[str, np.ndarray]:
        """Eigenvalues of K and of K^k, sorted by decreasing modulus."""
        network = self._network()
        values = {}
        for name, steps in (("K", 1), ("Kk", network.k)):
            eig = np.linalg.eigvals(self.operator_matrix(steps))
            values[name] = eig[np.argsort(-np.abs(eig), kind="stable")]
        return values

    def _network(self) -> KoopmanNetwork:
        if not hasattr(self, "module_"):
            raise RuntimeError(
                "KoopmanAutoencoder is not fitted; call fit(Z0, ZL) or "
                "KoopmanAutoencoder.load(path) first"
            )
        return self.module_

    def _map_rows(self, function, rows: np.ndarray) -> np.ndarray:
        """Apply a torch function to ``rows`` in chunks on the device; numpy float32."""
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError(f"expected a 2-D array (n, width), got shape {rows.shape}")
        outputs = []
        with torch.no_grad():
            for start in range(0, max(len(rows), 1), _INFERENCE_ROWS):
                chunk = torch.from_numpy(rows[start : start + _INFERENCE_ROWS])
                outputs.append(function(chunk.to(self.device)).cpu())
        return torch.cat(outputs).numpy()

    # ------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """Write parameters to ``path`` (safetensors) and a JSON record beside it.

        The JSON (same name, ``.json`` suffix) holds the config, seed, context and
        the training history.
        """
        network = self._network()
        metadata = self._metadata()
        write_tensors(path, dict(network.state_dict()), metadata)
        history = self.history_.to_dict(orient="records")
        write_json(Path(path).with_suffix(".json"), {**metadata, "history": history})

    @classmethod
    def load(cls, path, device="cpu") -> KoopmanAutoencoder:
        """Rebuild a fitted autoencoder written by :meth:`save`."""
        tensors, metadata = read_tensors(path)
        if metadata.get("format") != _FORMAT:
            raise corrupt(path, f"not a Koopman autoencoder ({_FORMAT}) file")
        try:
            config = KoopmanConfig(**metadata["config"])
            model = cls(config, metadata["seed"], device, metadata["context"])
            network = KoopmanNetwork(metadata["n_features"], config)
            network.load_state_dict(tensors)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise corrupt(path, f"parameters do not match the config ({err})") from err
        if not all(torch.isfinite(t).all() for t in tensors.values()):
            raise corrupt(path, "parameters hold NaN or inf")
        model.module_ = network.to(model.device).eval()
        model.n_features_ = int(metadata["n_features"])
        model.history_ = _read_history(Path(path).with_suffix(".json"))
        return model

    def _metadata(self) -> dict:
        return {
            "format": _FORMAT,
            "config": dataclasses.asdict(self.config),
            "seed": self.seed,
            "context": self.context,
            "n_features": self.n_features_,
        }


def _optimizer(network: nn.Module, config: KoopmanConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices (and M), none on biases."""
    matrices = [p for p in network.parameters() if p.ndim >= 2]
    vectors = [p for p in network.parameters() if p.ndim < 2]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr)


def _read_history(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.DataFrame(read_json(path).get("history", []))


class LinearOperatorBaseline:
    """Least-squares affine map from first to last states (a DMD-style baseline).

    Fits ``ZL ~ Z0 @ operator_ + intercept_``. The intercept matters because the
    maps are fitted on training states and applied to held-out ones; on centred
    training states it is the difference of the means. With ``rank`` set, the
    regression uses only the top-``rank`` principal components of the centred
    ``Z0`` (truncated-SVD DMD), so ``operator_`` has rank at most ``rank``.
    Computed in float64.
    """

    def __init__(self, rank: int | None = None):
        self.rank = rank

    def fit(self, Z0: np.ndarray, ZL: np.ndarray) -> LinearOperatorBaseline:
        """Fit on ``Z0[n, p]`` and ``ZL[n, pL]``."""
        Z0, ZL = np.asarray(Z0, np.float64), np.asarray(ZL, np.float64)
        if Z0.ndim != 2 or ZL.ndim != 2 or len(Z0) != len(ZL):
            raise ValueError(
                f"need Z0 (n, p) and ZL (n, pL); got {Z0.shape}, {ZL.shape}"
            )
        mean0, meanL = Z0.mean(axis=0), ZL.mean(axis=0)
        inputs = Z0 - mean0
        basis = self._basis(inputs)  # [p, r]

        coefficients, *_ = np.linalg.lstsq(inputs @ basis, ZL - meanL, rcond=None)
        self.components_ = basis
        self.operator_ = basis @ coefficients  # [p, pL]
        self.intercept_ = meanL - mean0 @ self.operator_
        return self

    def predict(self, Z0: np.ndarray) -> np.ndarray:
        """Predicted last states ``[n, pL]``; float64 input stays float64."""
        if not hasattr(self, "operator_"):
            raise RuntimeError("LinearOperatorBaseline is not fitted; call fit(Z0, ZL)")
        Z0 = np.asarray(Z0)
        prediction = Z0.astype(np.float64) @ self.operator_ + self.intercept_
        return prediction.astype(np.float64 if Z0.dtype == np.float64 else np.float32)

    def _basis(self, inputs: np.ndarray) -> np.ndarray:
        width = inputs.shape[1]
        if self.rank is None:
            return np.eye(width)
        if not 1 <= self.rank <= width:
            raise ValueError(f"rank must be between 1 and {width}, got {self.rank}")
        _, _, vt = np.linalg.svd(inputs, full_matrices=False)
        return vt[: self.rank].T


def fraction_of_variance_unexplained(
    prediction: np.ndarray, target: np.ndarray
) -> float:
    """Sum of squared errors over the total sum of squares of ``target`` about its
    column means (both ``[n, p]``); 0 is perfect, 1 is as good as the mean."""
    prediction = np.asarray(prediction, np.float64)
    target = np.asarray(target, np.float64)
    if prediction.shape != target.shape:
        raise ValueError(f"shapes differ: {prediction.shape} vs {target.shape}")
    total = np.sum((target - target.mean(axis=0)) ** 2)
    return float(np.sum((prediction - target) ** 2) / total)
