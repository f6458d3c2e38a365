"""Checks of the study's configuration before any job runs.

Every problem becomes one line that names the key (a dotted path such as
``datasets.yinyang.koopman.k``), the bad value and what is allowed, and all problems
are reported together in one :class:`ConfigError`. The workflow (rules/common.smk)
runs :func:`schema_problems` and :func:`kind_problems` on the config as given,
Snakemake's ``validate`` to fill in the schema's defaults, then
:func:`consistency_problems` on the completed config; :func:`check_config` does the
same three steps for callers outside Snakemake.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

KNOWN_CLASS_COUNTS = {"yinyang": 3, "mnist": 10}
EMBEDDED_MNIST_DIGITS = 5000
# Keys that only one kind of dataset reads; the other kind would ignore them silently.
KIND_KEYS = {
    "yinyang": {"features", "n_train", "n_val", "seed_train", "seed_val", "seed_test"},
    "mnist": {"source", "idx_dir", "split_seed"},
}
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value)",
    "null": "null",
}


class ConfigError(ValueError):
    """The configuration has problems; each line of the message names one."""


def load_schema(path: str | os.PathLike) -> dict:
    """The JSON schema (YAML or JSON) at ``path``."""
    return yaml.safe_load(Path(path).read_text())


def key_path(parts) -> str:
    """``["datasets", "mnist", "unlearning", "forget_classes", 0]`` ->
    ``datasets.mnist.unlearning.forget_classes[0]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(top level)"


def show(value: Any) -> str:
    """A short, YAML-like rendering of a config value."""
    if isinstance(value, str):
        return repr(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _types(schema_type) -> list[str]:
    return schema_type if isinstance(schema_type, list) else [schema_type]


def _allowed_types(schema_type) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t) for t in _types(schema_type))


def _numeric(schema_type) -> bool:
    return bool({"integer", "number", "boolean"} & set(_types(schema_type)))


def _format_error(error) -> list[str]:
    """One or more lines for one jsonschema ValidationError."""
    key, value = key_path(error.absolute_path), error.instance
    kind, expected = error.validator, error.validator_value
    if kind == "additionalProperties" and expected is False:
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return [
            f"{key_path([*error.absolute_path, name])}: unknown key; allowed keys "
            f"here: {', '.join(allowed)}"
            for name in extra
        ]
    if kind == "required":
        missing = [name for name in expected if name not in value]
        return [
            f"{key_path([*error.absolute_path, name])}: required key is missing"
            for name in missing
        ]
    messages = {
        "type": lambda: f"must be {_allowed_types(expected)}",
        "enum": lambda: f"must be one of: {', '.join(map(str, expected))}",
        "minimum": lambda: f"must be >= {expected}",
        "exclusiveMinimum": lambda: f"must be > {expected}",
        "maximum": lambda: f"must be <= {expected}",
        "exclusiveMaximum": lambda: f"must be < {expected}",
        "pattern": lambda: f"must match the pattern {expected}",
        "minItems": lambda: f"must list at least {expected} item(s)",
        "uniqueItems": lambda: "must not repeat an item",
        "minProperties": lambda: f"must hold at least {expected} entry(ies)",
    }
    if kind == "propertyNames":
        return [f"{key}: name {show(value)} is not allowed ({error.message})"]
    detail = messages.get(kind, lambda: error.message)()
    if kind == "type" and isinstance(value, str) and _numeric(expected):
        detail += (
            "; if it came from --config on the command line, where Snakemake reads "
            "items of a list as text, set it in a YAML file passed with --configfile"
        )
    if kind == "pattern" and "description" in error.schema:
        detail += f" ({error.schema['description']})"
    return [f"{key} = {show(value)}: {detail}"]


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Every violation of ``schema`` by ``config``, one line each, sorted by key."""
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    lines = []
    for error in validator.iter_errors(config):
        lines += _format_error(error)
    return sorted(set(lines))


def kind_problems(config: dict) -> list[str]:
    """Keys set on a dataset of the wrong kind (a Yin-Yang key on MNIST, say).

    Run it on the config as given, before defaults fill in every key.
    """
    lines = []
    for name, dataset in (config.get("datasets") or {}).items():
        if not isinstance(dataset, dict) or dataset.get("kind") not in KIND_KEYS:
            continue
        kind = dataset["kind"]
        for other, keys in KIND_KEYS.items():
            for key in sorted(keys & set(dataset)) if other != kind else []:
                lines.append(
                    f"datasets.{name}.{key} = {show(dataset[key])}: only {other} "
                    f"datasets read this key, this one has kind: {kind}; remove it"
                )
    return lines


def consistency_problems(config: dict) -> list[str]:
    """Checks the schema cannot express, on the config with its defaults filled in."""
    lines = []
    unknown = sorted(
        set(config["surrogate_network_seeds"]) - set(config["network_seeds"])
    )
    if unknown:
        lines.append(
            f"surrogate_network_seeds = {show(config['surrogate_network_seeds'])}: "
            f"seeds {unknown} are not in network_seeds "
            f"{show(config['network_seeds'])}; list only trained network seeds"
        )
    for name, dataset in config["datasets"].items():
        lines += _dataset_problems(name, dataset)
    return lines


def _dataset_problems(name: str, dataset: dict) -> list[str]:
    lines = []
    n_classes = known_class_count(dataset)
    forget = dataset["unlearning"]["forget_classes"]
    outside = [c for c in forget if n_classes is not None and c >= n_classes]
    if outside:
        lines.append(
            f"datasets.{name}.unlearning.forget_classes = {show(forget)}: classes "
            f"{outside} are outside the dataset's classes 0..{n_classes - 1}"
        )
    rank, width = dataset["koopman"]["linear_rank"], dataset["network"]["width"]
    if rank is not None and rank > width:
        lines.append(
            f"datasets.{name}.koopman.linear_rank = {rank}: must be <= the network "
            f"width {width} (the states have {width} coordinates)"
        )
    if dataset["kind"] == "yinyang":
        lines += _yinyang_problems(name, dataset)
    else:
        lines += _mnist_problems(name, dataset)
    return lines


def _yinyang_problems(name: str, dataset: dict) -> list[str]:
    seeds = {split: dataset[f"seed_{split}"] for split in ("train", "val", "test")}
    if len(set(seeds.values())) < 3:
        return [
            (
                f"datasets.{name}.seed_train/seed_val/seed_test = "
                f"{show(list(seeds.values()))}: must all differ, or the held-out "
                "splits repeat the training points"
            )
        ]
    return []


def _mnist_problems(name: str, dataset: dict) -> list[str]:
    source = dataset["source"]
    if source == "embedded":
        low, high = 10, EMBEDDED_MNIST_DIGITS - 10
        if not low <= dataset["n_test"] <= high:
            return [
                (
                    f"datasets.{name}.n_test = {dataset['n_test']}: must be between "
                    f"{low} and {high} (the embedded set has {EMBEDDED_MNIST_DIGITS} "
                    "digits, split stratified over 10 classes)"
                )
            ]
        return []
    if source == "idx":
        return _idx_problems(name, Path(dataset["idx_dir"]))
    return []


def _idx_problems(name: str, folder: Path) -> list[str]:
    from repdyn.data import MNIST_FILES

    key = f"datasets.{name}.idx_dir = {show(str(folder))}"
    if not folder.is_dir():
        return [
            (
                f"{key}: folder does not exist; put the four MNIST IDX files there, "
                "or use source: download or source: embedded"
            )
        ]
    missing = [
        stem
        for stem in MNIST_FILES.values()
        if not (folder / stem).exists() and not (folder / f"{stem}.gz").exists()
    ]
    if missing:
        return [f"{key}: missing {', '.join(missing)} (plain or .gz)"]
    return []


def known_class_count(dataset: dict) -> int | None:
    """Number of classes known before reading data, or None (IDX files decide)."""
    if dataset["kind"] == "mnist" and dataset.get("source", "embedded") != "embedded":
        return None
    return KNOWN_CLASS_COUNTS[dataset["kind"]]


def raise_problems(problems: list[str], stage: str) -> None:
    """Raise ConfigError listing ``problems``, one per line; nothing when empty."""
    if problems:
        lines = "\n".join(f"  - {line}" for line in problems)
        raise ConfigError(
            f"the configuration has {len(problems)} problem(s) ({stage}); no job was "
            f"run. Fix these keys in your config file:\n{lines}"
        )


def check_config(config: dict, schema_path: str | os.PathLike) -> dict:
    """Validate ``config`` in place as the workflow does and fill in its defaults.

    Raises ConfigError naming every bad key, its value and what is allowed.
    """
    from snakemake.utils import validate

    schema_path = Path(schema_path).resolve()
    raise_problems(
        schema_problems(config, load_schema(schema_path)) + kind_problems(config),
        "schema",
    )
    validate(config, str(schema_path))
    raise_problems(consistency_problems(config), "consistency")
    return config
