"""Preprocessing of layer states (spec section 4), fitted on training states only.

Every layer goes through the same four steps, with parameters fitted per layer:

1. centre by the layer's training mean;
2. rotate onto the layer's principal axes, at full width so nothing is lost, each
   axis signed so that its largest-magnitude entry is positive (no whitening);
3. multiply by one scalar so the training matrix has Frobenius norm ``target_norm``
   (100 in the study);
4. rotate onto the last layer (the anchor) by orthogonal Procrustes, so that all
   layers share one coordinate frame. The anchor's own alignment is the identity.

A state x (a row) of layer l maps to ``((x - mean_[l]) @ rotation_[l]) * scale_[l]
@ alignment_[l]``. Every step is invertible; ``inverse_last`` undoes them for the
last layer, which is what the network's head needs.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes

from repdyn.io import corrupt, read_npz

_FIELDS = ("mean", "rotation", "scale", "alignment")


class StatePreprocessor:
    """Centre, rotate, scale and align the states of every layer.

    Parameters
    ----------
    target_norm : float
        Frobenius norm of every transformed training matrix (100 in the study).
    """

    def __init__(self, target_norm: float = 100.0):
        self.target_norm = float(target_norm)

    def fit(self, states: dict[str, np.ndarray]) -> StatePreprocessor:
        """Fit on training states ``{layer: X[n, p]}``, ordered L0..LB.

        All layers must have the same number of samples and the same width; the last
        layer in the dict is the anchor.
        """
        names = _check_states(states)
        self.layer_names_ = names
        self.mean_, self.rotation_, self.scale_ = {}, {}, {}
        rotated = {}
        for name in names:
            X = np.asarray(states[name], dtype=np.float64)
            self.mean_[name] = X.mean(axis=0)
            centred = X - self.mean_[name]
            self.rotation_[name] = _principal_axes(centred)
            self.scale_[name] = _scale_for_norm(centred, self.target_norm, name)
            rotated[name] = centred @ self.rotation_[name] * self.scale_[name]

        anchor = rotated[names[-1]]
        self.alignment_ = {
            name: orthogonal_procrustes(rotated[name], anchor)[0] for name in names[:-1]
        }
        self.alignment_[names[-1]] = np.eye(anchor.shape[1])
        return self

    def transform_layer(self, name: str, X: np.ndarray) -> np.ndarray:
        """Map raw states ``X[n, p]`` of layer ``name`` to preprocessed coordinates."""
        self._check_fitted()
        X = self._check_layer_input(name, X)
        Z = (X - self.mean_[name]) @ self.rotation_[name]
        Z = Z * self.scale_[name] @ self.alignment_[name]
        return Z.astype(_output_dtype(X))

    def transform(self, states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Transform every layer of ``states`` (any subset of the fitted layers)."""
        return {name: self.transform_layer(name, X) for name, X in states.items()}

    def inverse_last(self, Z: np.ndarray) -> np.ndarray:
        """Map preprocessed last-layer states ``Z[n, p]`` back to raw coordinates."""
        self._check_fitted()
        name = self.layer_names_[-1]
        Z = self._check_layer_input(name, Z)
        X = Z @ self.alignment_[name].T / self.scale_[name]
        X = X @ self.rotation_[name].T + self.mean_[name]
        return X.astype(_output_dtype(Z))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Fitted parameters as flat arrays (keys ``mean/L0``, ...) for ``write_npz``."""
        self._check_fitted()
        arrays = {
            "layer_names": np.array(self.layer_names_),
            "target_norm": np.array(self.target_norm),
        }
        for field in _FIELDS:
            for name, value in getattr(self, f"{field}_").items():
                arrays[f"{field}/{name}"] = np.asarray(value, dtype=np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> StatePreprocessor:
        """Rebuild a fitted preprocessor from the output of :meth:`to_arrays`."""
        missing = {"layer_names", "target_norm"} - set(arrays)
        if missing:
            raise ValueError(
                f"preprocessor arrays lack {sorted(missing)}; they must come from "
                "StatePreprocessor.to_arrays()"
            )
        pre = cls(target_norm=float(arrays["target_norm"]))
        pre.layer_names_ = [str(name) for name in arrays["layer_names"]]
        for field in _FIELDS:
            values = {}
            for name in pre.layer_names_:
                key = f"{field}/{name}"
                if key not in arrays:
                    raise ValueError(f"preprocessor arrays lack {key!r}; re-save them")
                values[name] = np.asarray(arrays[key], dtype=np.float64)
            setattr(pre, f"{field}_", values)
        pre.scale_ = {name: float(value) for name, value in pre.scale_.items()}
        return pre

    def _check_fitted(self) -> None:
        if not hasattr(self, "layer_names_"):
            raise RuntimeError(
                "StatePreprocessor is not fitted; call fit(training_states) first"
            )

    def _check_layer_input(self, name: str, X: np.ndarray) -> np.ndarray:
        if name not in self.mean_:
            raise KeyError(
                f"layer {name!r} was not fitted; fitted layers: {self.layer_names_}"
            )
        X = np.asarray(X)
        width = self.mean_[name].shape[0]
        if X.ndim != 2 or X.shape[1] != width:
            raise ValueError(
                f"layer {name!r} expects states of shape (n, {width}), got {X.shape}"
            )
        return X


def _check_states(states: dict[str, np.ndarray]) -> list[str]:
    """Validate the training states; return the layer names in order."""
    names = list(states)
    if not names:
        raise ValueError("no layer states given; pass {'L0': X0, ..., 'LB': XB}")
    shapes = {name: np.shape(states[name]) for name in names}
    anchor_shape = shapes[names[-1]]
    for name, shape in shapes.items():
        if len(shape) != 2:
            raise ValueError(f"layer {name!r} states must be 2-D (n, p), got {shape}")
        if shape != anchor_shape:
            raise ValueError(
                f"layer {name!r} has shape {shape} but the anchor layer "
                f"{names[-1]!r} has {anchor_shape}; every layer needs the same samples "
                "and the same width"
            )
        if not np.all(np.isfinite(states[name])):
            raise ValueError(f"layer {name!r} states hold NaN or inf; fix the network")
    return names


def _principal_axes(centred: np.ndarray) -> np.ndarray:
    """Full orthogonal PCA basis ``[p, p]`` (columns), signs fixed deterministically.

    Each axis is flipped so that its largest-magnitude entry is positive. The axes
    are the eigenvectors of the p x p scatter matrix, so the cost does not grow with
    the square of the number of samples, and the basis is complete even when there
    are fewer samples than features.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    axes = eigenvectors[:, np.argsort(eigenvalues)[::-1]]
    largest = np.argmax(np.abs(axes), axis=0)
    signs = np.sign(axes[largest, np.arange(axes.shape[1])])
    signs[signs == 0] = 1.0
    return axes * signs


def _scale_for_norm(centred: np.ndarray, target_norm: float, name: str) -> float:
    """Scalar that gives the (rotation-invariant) Frobenius norm ``target_norm``."""
    norm = float(np.linalg.norm(centred))
    if norm == 0.0:
        raise ValueError(
            f"layer {name!r} states are constant after centring; nothing to scale"
        )
    return target_norm / norm


def _output_dtype(X: np.ndarray) -> np.dtype:
    """Keep float64 inputs in float64; everything else comes back as float32."""
    return np.dtype(np.float64) if X.dtype == np.float64 else np.dtype(np.float32)


def load_preprocessor(path) -> StatePreprocessor:
    """The fitted StatePreprocessor stored at ``path``; a broken file names itself."""
    arrays = read_npz(path)
    try:
        return StatePreprocessor.from_arrays(arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise corrupt(path, f"not a preprocessor file ({err})") from err
