"""The published numbers (Aswani & Jabari 2025) beside this study's measurements.

Every measured number is on the held-out test split unless a row says otherwise, and
carries its spread over seeds. The paper's Yin-Yang numbers were measured on training
points (its "test" set regenerated the training stream), so they are not comparable
one to one; the rows say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAPER = {
    ("yinyang", "network_accuracy"): (99.0, "about 99 %, measured on training points"),
    ("mnist", "network_accuracy"): (99.03, "balanced, full MNIST test set"),
    ("mnist", "surrogate_accuracy"): (98.53, "98.53 +- 0.04 % over 5 KAE seeds"),
    ("yinyang", "surrogate_gap"): (1.0, "within about 1 point of the network"),
    ("mnist", "surrogate_gap"): (0.50, "99.03 - 98.53 points"),
    ("mnist", "network_betti0"): ([368, 10, 1, 1, 1], "layers L0..L4 at eps 0.166"),
    ("mnist", "surrogate_betti0"): (
        [8633, 7655, 5153, 2305, 692, 206, 49, 19, 11, 9, 9],
        "iterates t = 0..10 at eps 0.14, mean of 5 KAE seeds",
    ),
    ("yinyang", "forget_accuracy"): (11.87, "dots class, on training points"),
    ("yinyang", "retain_accuracy"): ([99.82, 96.77], "other classes, training points"),
}

PAPER_FORGET_CLASS = ("yinyang", 2)  # the paper's one unlearning number: the dots


def _spread(values) -> dict:
    values = np.asarray(list(values), dtype=float)
    return {
        "mean": float(np.mean(values)) if len(values) else None,
        "std": float(np.std(values)) if len(values) else None,
        "n": len(values),
    }


def _row(dataset, quantity, measured, split="test", unit="%", note=""):
    paper = PAPER.get((dataset, quantity))
    return {
        "dataset": dataset,
        "quantity": quantity,
        "split": split,
        "unit": unit,
        "paper": paper[0] if paper else None,
        "paper_note": paper[1] if paper else "not reported by the paper",
        **measured,
        "note": note,
    }


def network_rows(networks: pd.DataFrame) -> list[dict]:
    rows = []
    for dataset, group in networks.groupby("dataset"):
        nets = group[group.model == "resmlp"]
        linear = group[group.model == "linear_classifier"]
        rows.append(
            _row(
                dataset,
                "network_accuracy",
                _spread(100 * nets.test_balanced_accuracy),
                note="balanced accuracy over network seeds",
            )
        )
        rows.append(
            _row(
                dataset,
                "linear_classifier_accuracy",
                _spread(100 * linear.test_balanced_accuracy),
            )
        )
    return rows


def surrogate_rows(surrogates: pd.DataFrame) -> list[dict]:
    rows = []
    for dataset, group in surrogates.groupby("dataset"):
        kae = group[group.method == "kae"]
        linear = group[group.method == "linear_operator"]
        rows.append(
            _row(
                dataset,
                "surrogate_accuracy",
                _spread(100 * kae.test_balanced_accuracy),
                note="balanced accuracy over KAE seeds",
            )
        )
        rows.append(
            _row(
                dataset,
                "surrogate_gap",
                _spread(kae.gap_points),
                unit="points",
                note="network minus surrogate, same network",
            )
        )
        rows.append(
            _row(
                dataset,
                "surrogate_agreement",
                _spread(100 * kae.test_agreement),
                note="share of test inputs labelled as the network does",
            )
        )
        rows.append(
            _row(
                dataset,
                "linear_operator_accuracy",
                _spread(100 * linear.test_balanced_accuracy),
                note="least-squares operator on the same states",
            )
        )
    return rows


def topology_rows(summaries: list[dict]) -> list[dict]:
    rows = []
    for s in summaries:
        scale = (
            f"summary scale eps = {s['summary_scale']:.4g} ({s['summary_scale_rule']})"
        )
        rows.append(
            _row(
                s["dataset"],
                "network_betti0",
                {"mean": s["network_betti0"], "std": None, "n": 1},
                unit="components",
                note=scale,
            )
        )
        rows.append(
            _row(
                s["dataset"],
                "surrogate_betti0",
                {
                    "mean": s["surrogate_betti0_mean"],
                    "std": s["surrogate_betti0_std"],
                    "n": len(s["surrogate_betti0"]),
                },
                unit="components",
                note="at each surrogate's matched scale, eps = "
                + ", ".join(f"{e:.4g}" for e in s["surrogate_scales"].values())
                + " (the summary scale carried over by median H0 death time)",
            )
        )
        for source, note in (
            ("network", "depth vs |beta0 - classes|"),
            ("surrogate", "iterate vs |mean beta0 - classes|"),
        ):
            key = f"{source}_trend_spearman"
            rows.append(
                _row(
                    s["dataset"],
                    key,
                    {"mean": s[key], "std": None, "n": 1},
                    unit="rho",
                    note=note,
                )
            )
    return rows


def unlearning_rows(unlearning: pd.DataFrame) -> list[dict]:
    """Forget accuracy, retain drop and time per (dataset, class, method)."""
    rows = []
    if not len(unlearning):
        return rows
    groups = unlearning.groupby(["dataset", "forget_class", "method"])
    for (dataset, forget, method), group in groups:
        label = f"forget class {forget}, {method}"
        forget_row = _row(
            dataset,
            "forget_accuracy",
            _spread(100 * group.forget_accuracy_after),
            note=label,
        )
        if (dataset, forget) != PAPER_FORGET_CLASS:
            forget_row.update(paper=None, paper_note="not reported by the paper")
        rows.append(forget_row)
        rows.append(
            _row(
                dataset,
                "retain_drop",
                _spread(100 * group.retain_drop),
                unit="points",
                note=label,
            )
        )
        rows.append(
            _row(
                dataset,
                "unlearning_seconds",
                _spread(group.seconds),
                unit="s",
                note=label,
            )
        )
    return rows


def paper_comparison(networks, surrogates, topology_summaries, unlearning, ablation):
    """The summary the report and `dvc metrics show` read: paper beside measured."""
    rows = network_rows(networks) + surrogate_rows(surrogates)
    rows += topology_rows(topology_summaries)
    rows += unlearning_rows(unlearning)
    if len(ablation):
        for weight, group in ablation.groupby("weight_distance"):
            for dim in (0, 1):
                rows.append(
                    _row(
                        group.dataset.iloc[0],
                        f"ablation_bottleneck_h{dim}",
                        _spread(group[f"bottleneck_h{dim}"]),
                        unit="distance",
                        note=f"distance-loss weight {weight}",
                    )
                )
    return {"split": "test", "rows": rows}
