"""Rule collect_metrics: every result of the study in tidy tables and one summary."""

from pathlib import Path

import numpy as np
import pandas as pd

from repdyn.io import read_csv, read_json, write_csv, write_json
from repdyn.logs import run_script
from repdyn.paper import paper_comparison


def flat(path) -> dict:
    """A result JSON flattened to one row (nested keys joined with dots)."""
    return pd.json_normalize(read_json(path), sep=".").iloc[0].to_dict()


def network_table(paths, linear_paths) -> pd.DataFrame:
    rows = [
        {
            "dataset": m["dataset"],
            "network_seed": m["network_seed"],
            "model": "resmlp",
            "test_accuracy": m["test.accuracy"],
            "test_balanced_accuracy": m["test.balanced_accuracy"],
            "train_accuracy": m["train.accuracy"],
            "seconds": m["seconds"],
        }
        for m in map(flat, paths)
    ]
    rows += [
        {
            "dataset": m["dataset"],
            "network_seed": -1,
            "model": "linear_classifier",
            "test_accuracy": m["test.accuracy"],
            "test_balanced_accuracy": m["test.balanced_accuracy"],
        }
        for m in map(flat, linear_paths)
    ]
    return pd.DataFrame(rows)


def surrogate_table(kae_paths, linear_paths, networks) -> pd.DataFrame:
    def row(m, method, kae_seed):
        return {
            "dataset": m["dataset"],
            "network_seed": m["network_seed"],
            "method": method,
            "kae_seed": kae_seed,
            "test_accuracy": m["test.accuracy"],
            "test_balanced_accuracy": m["test.balanced_accuracy"],
            "test_agreement": m["test.agreement"],
            "test_state_fvu": m["test.state_fvu"],
            "train_balanced_accuracy": m["train.balanced_accuracy"],
            "seconds": m.get("seconds", np.nan),
        }

    rows = [row(m, "kae", m["kae_seed"]) for m in map(flat, kae_paths)]
    rows += [row(m, "linear_operator", -1) for m in map(flat, linear_paths)]
    table = pd.DataFrame(rows)
    network = networks[networks.model == "resmlp"][
        ["dataset", "network_seed", "test_balanced_accuracy"]
    ].rename(columns={"test_balanced_accuracy": "network_test_balanced_accuracy"})
    table = table.merge(network, on=["dataset", "network_seed"], how="left")
    table["gap_points"] = 100 * (
        table.network_test_balanced_accuracy - table.test_balanced_accuracy
    )
    return table


def spectrum_table(kae_paths) -> pd.DataFrame:
    frames = []
    for path in kae_paths:
        m = read_json(path)
        frame = read_csv(Path(path).with_name("eigenvalues.csv"))
        frame.insert(0, "kae_seed", m["kae_seed"])
        frame.insert(0, "network_seed", m["network_seed"])
        frame.insert(0, "dataset", m["dataset"])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def topology_tables(summary_paths) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    rows, curves, summaries = [], [], []
    for path in summary_paths:
        s = read_json(path)
        summaries.append(s)
        curves.append(read_csv(Path(path).with_name("betti_curves.csv")))
        base = {
            "dataset": s["dataset"],
            "network_seed": s["network_seed"],
            "eps": s["summary_scale"],
            "n_classes": s["n_classes"],
        }
        for position, (name, b0) in enumerate(
            zip(s["network_layers"], s["network_betti0"])
        ):
            rows.append(
                {
                    **base,
                    "source": "network",
                    "kae_seed": -1,
                    "stage": name,
                    "position": position,
                    "betti0": b0,
                }
            )
        for seed, values in s["surrogate_betti0"].items():
            for t, b0 in zip(s["surrogate_iterates"], values):
                rows.append(
                    {
                        **base,
                        "eps": s["surrogate_scales"][seed],
                        "source": "surrogate",
                        "kae_seed": int(seed),
                        "stage": f"t{t}",
                        "position": t,
                        "betti0": b0,
                    }
                )
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True), summaries


def unlearning_tables(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per unlearning result, and per-class accuracy before/after, tidy."""
    rows, per_class = [], []
    for path in paths:
        result = read_json(path)
        keys = ("dataset", "network_seed", "kae_seed", "forget_class", "method")
        for stage in ("before", "after"):
            for label, accuracy in enumerate(result[stage]["per_class_accuracy"]):
                per_class.append(
                    {
                        **{k: result[k] for k in keys},
                        "stage": stage,
                        "class": label,
                        "accuracy": accuracy,
                    }
                )
        rows.append({k: v for k, v in flat(path).items() if not isinstance(v, list)})
    return pd.DataFrame(rows), pd.DataFrame(per_class)


def headline_metrics(networks, surrogates, unlearning, topology_summaries) -> dict:
    """The few numbers `dvc metrics show/diff` compares, per dataset (test split)."""
    metrics = {}
    for dataset, nets in networks[networks.model == "resmlp"].groupby("dataset"):
        kae = surrogates[(surrogates.dataset == dataset) & (surrogates.method == "kae")]
        linear = surrogates[
            (surrogates.dataset == dataset) & (surrogates.method == "linear_operator")
        ]
        metrics[dataset] = {
            "network_balanced_accuracy": nets.test_balanced_accuracy.mean(),
            "surrogate_balanced_accuracy": kae.test_balanced_accuracy.mean(),
            "surrogate_gap_points": kae.gap_points.mean(),
            "surrogate_agreement": kae.test_agreement.mean(),
            "linear_operator_balanced_accuracy": linear.test_balanced_accuracy.mean(),
        }
    for summary in topology_summaries:
        metrics[summary["dataset"]].update(
            network_topology_trend=summary["network_trend_spearman"],
            surrogate_topology_trend=summary["surrogate_trend_spearman"],
        )
    if len(unlearning):
        groups = unlearning.groupby(["dataset", "forget_class", "method"])
        for (dataset, forget, method), group in groups:
            metrics[dataset].setdefault("unlearning", {}).setdefault(
                f"class{forget}", {}
            )[method] = {
                "forget_accuracy": group.forget_accuracy_after.mean(),
                "retain_drop": group.retain_drop.mean(),
                "seconds": group.seconds.mean(),
            }
    return metrics


def main(smk, log):
    paths = list(smk.input.surrogates)
    kae_paths = [p for p in paths if p.endswith("/metrics.json") and "/koopman/" in p]
    linear_paths = [p for p in paths if p.endswith("/linear.json")]
    summary_paths = [p for p in paths if p.endswith("/summary.json")]
    unlearning_paths = [p for p in paths if "/unlearning/" in p and p.endswith(".json")]
    ablation_paths = [p for p in paths if "/ablation/" in p]

    networks = network_table(smk.input.networks, smk.input.linear)
    surrogates = surrogate_table(kae_paths, linear_paths, networks)
    topology, curves, topology_summaries = topology_tables(summary_paths)
    unlearning, per_class = unlearning_tables(unlearning_paths)
    ablation = pd.DataFrame([flat(p) for p in ablation_paths])

    write_csv(smk.output.networks, networks)
    write_csv(smk.output.surrogates, surrogates)
    write_csv(smk.output.topology, topology)
    write_csv(smk.output.betti, curves)
    write_csv(smk.output.unlearning, unlearning)
    write_csv(smk.output.per_class, per_class)
    write_csv(smk.output.ablation, ablation)
    write_csv(smk.output.spectrum, spectrum_table(kae_paths))

    summary = paper_comparison(
        networks, surrogates, topology_summaries, unlearning, ablation
    )
    write_json(smk.output.summary, summary)
    write_json(
        smk.output.metrics,
        headline_metrics(networks, surrogates, unlearning, topology_summaries),
    )
    log.info(
        "collected %d networks, %d surrogates, %d unlearning results",
        len(networks),
        len(surrogates),
        len(unlearning),
    )


run_script(snakemake, main)  # noqa: F821
