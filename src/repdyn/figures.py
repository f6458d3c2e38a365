"""The study's figures (seaborn), drawn from the tidy tables in results/metrics/.

Each function returns a matplotlib Figure; :func:`save` writes it as PNG and SVG.
The report notebooks call these, so the figures in the HTML reports and in
results/figures/ are the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repdyn.io import atomic_path

sns.set_theme(context="notebook", style="whitegrid")


def save(fig: plt.Figure, figures_dir: str | Path, name: str) -> Path:
    """Save ``fig`` as ``name.png`` and ``name.svg`` atomically; return the PNG path.

    Each file is drawn under a temporary name and renamed into place, so a killed
    report never leaves a half-written image that looks finished. The figure is
    then closed; inside a notebook the saved PNG is shown in its place, so the
    report holds the very image in results/figures/ and no figure is drawn twice.
    """
    figures_dir = Path(figures_dir)
    png = figures_dir / f"{name}.png"
    for path, options in ((png, {"dpi": 120}), (png.with_suffix(".svg"), {})):
        with atomic_path(path, suffix=f".tmp{path.suffix}") as tmp:
            fig.savefig(tmp, format=path.suffix[1:], bbox_inches="tight", **options)
    plt.close(fig)
    _show_in_notebook(png)
    return png


def _show_in_notebook(png: Path) -> None:
    """Display a PNG as cell output when running in an IPython kernel."""
    shell = sys.modules.get("IPython")
    if shell is None or shell.get_ipython() is None:
        return
    from IPython.display import Image, display

    display(Image(filename=str(png)))


def accuracy_bars(networks: pd.DataFrame, surrogates: pd.DataFrame) -> plt.Figure:
    """Held-out balanced accuracy of networks, KAE surrogates and linear baselines."""
    rows = [
        networks.assign(model=networks.model.replace({"resmlp": "network"}))[
            ["dataset", "model", "test_balanced_accuracy"]
        ],
        surrogates.rename(columns={"method": "model"})[
            ["dataset", "model", "test_balanced_accuracy"]
        ],
    ]
    table = pd.concat(rows, ignore_index=True)
    table["balanced accuracy (%)"] = 100 * table.test_balanced_accuracy
    grid = sns.catplot(
        data=table,
        x="model",
        y="balanced accuracy (%)",
        col="dataset",
        kind="bar",
        errorbar="sd",
        sharey=False,
        height=3.5,
        aspect=1.2,
    )
    grid.set_titles("{col_name} (held-out test split, mean +- sd over seeds)")
    grid.set_xticklabels(rotation=20)
    return grid.figure


def loss_curves(histories: pd.DataFrame) -> plt.Figure:
    """Per-epoch fraction of variance unexplained of each KAE loss term."""
    fvu = [c for c in histories.columns if c.endswith("_fvu")]
    long = histories.melt(
        id_vars=["dataset", "kae_seed", "epoch"],
        value_vars=fvu,
        var_name="loss",
        value_name="FVU",
    )
    grid = sns.relplot(
        data=long,
        x="epoch",
        y="FVU",
        hue="loss",
        col="dataset",
        kind="line",
        units="kae_seed",
        estimator=None,
        height=3.5,
        aspect=1.3,
        facet_kws={"sharex": False},
    )
    grid.set(yscale="log")
    return grid.figure


def _count_scale(counts: pd.Series) -> str:
    """A log axis for counts spanning more than a factor of 10, else linear."""
    return "log" if counts.max() > 10 * max(counts.min(), 1) else "linear"


def topology_trend(topology: pd.DataFrame) -> plt.Figure:
    """beta0 at the summary scale: network per layer; surrogate per iterate at its
    matched scale (the summary scale carried over by median H0 death time)."""
    datasets = sorted(topology.dataset.unique())
    fig, axes = plt.subplots(
        2, len(datasets), figsize=(5 * len(datasets), 6.5), squeeze=False
    )
    for column, dataset in enumerate(datasets):
        part = topology[topology.dataset == dataset]
        classes = part.n_classes.iloc[0]
        network, surrogate = (
            part[part.source == "network"],
            part[part.source == "surrogate"],
        )
        eps = network.eps.iloc[0]
        matched = surrogate.groupby("kae_seed").eps.first()
        sns.lineplot(
            data=network, x="position", y="betti0", marker="o", ax=axes[0, column]
        )
        axes[0, column].set(
            title=f"{dataset}: network, eps = {eps:.3g}",
            xlabel="layer",
            yscale=_count_scale(part.betti0),
            ylabel="beta0",
        )
        axes[0, column].set_xticks(network.position, network.stage)
        sns.lineplot(
            data=surrogate,
            x="position",
            y="betti0",
            marker="o",
            errorbar="sd",
            ax=axes[1, column],
        )
        axes[1, column].set(
            title=f"{dataset}: surrogate iterates (sd over KAE seeds)\n"
            f"matched eps = {matched.min():.3g}..{matched.max():.3g}",
            xlabel="iterate t",
            yscale=_count_scale(part.betti0),
            ylabel="beta0",
        )
        for ax in axes[:, column]:
            ax.axhline(classes, color="grey", linestyle="--", label="classes")
    fig.tight_layout()
    return fig


def betti_curves(curves: pd.DataFrame, dataset: str, betti: str) -> plt.Figure:
    """beta_i(eps) for every network layer and every surrogate iterate of a dataset."""
    part = curves[curves.dataset == dataset]
    grid = sns.relplot(
        data=part,
        x="eps",
        y=betti,
        hue="position",
        col="source",
        kind="line",
        errorbar="sd",
        palette="viridis",
        height=3.5,
        aspect=1.3,
    )
    grid.set(xscale="log")
    grid.figure.suptitle(f"{dataset}: {betti} curves (held-out test states)", y=1.03)
    return grid.figure


def ablation_curves(curves: pd.DataFrame) -> plt.Figure:
    """Betti curves of the encodings for each distance-loss weight, beside the states."""
    long = curves.melt(
        id_vars=["weight", "kae_seed", "cloud", "eps"],
        value_vars=["betti0", "betti1"],
        var_name="betti",
        value_name="count",
    )
    long["cloud"] = np.where(
        long.cloud == "states", "states", "encoded, weight " + long.weight.astype(str)
    )
    grid = sns.relplot(
        data=long,
        x="eps",
        y="count",
        hue="cloud",
        col="betti",
        kind="line",
        errorbar="sd",
        height=3.5,
        aspect=1.3,
        facet_kws={"sharey": False},
    )
    grid.set(xscale="log")
    return grid.figure


def spectrum(eigenvalues: pd.DataFrame) -> plt.Figure:
    """Eigenvalues of K^k in the complex plane with the unit circle, per dataset."""
    part = eigenvalues[eigenvalues.operator == "Kk"]
    grid = sns.relplot(
        data=part,
        x="real",
        y="imag",
        hue="kae_seed",
        col="dataset",
        palette="deep",
        height=3.8,
        facet_kws={"sharex": False, "sharey": False},
    )
    angle = np.linspace(0, 2 * np.pi, 200)
    for ax in grid.axes.flat:
        ax.plot(np.cos(angle), np.sin(angle), color="grey", linewidth=0.8)
        ax.set_aspect("equal", adjustable="datalim")
    grid.figure.suptitle("eigenvalues of the k-step operator K^k", y=1.03)
    return grid.figure


def moduli(eigenvalues: pd.DataFrame) -> plt.Figure:
    """Sorted eigenvalue moduli of K (one step) and K^k, per dataset and KAE seed."""
    part = eigenvalues.copy()
    part["rank"] = part.groupby(["dataset", "kae_seed", "operator"]).modulus.rank(
        ascending=False, method="first"
    )
    grid = sns.relplot(
        data=part,
        x="rank",
        y="modulus",
        hue="kae_seed",
        col="dataset",
        row="operator",
        kind="line",
        marker="o",
        height=3,
        aspect=1.4,
        facet_kws={"sharex": False, "sharey": False},
    )
    return grid.figure


def pca_views(
    clouds: dict[str, np.ndarray], labels: np.ndarray, dims: int = 2, ncols: int = 4
) -> plt.Figure:
    """PCA projection of each cloud (layer or iterate), coloured by class."""
    from sklearn.decomposition import PCA

    names = list(clouds)
    nrows = int(np.ceil(len(names) / ncols))
    projection = "3d" if dims == 3 else None
    fig = plt.figure(figsize=(3.2 * ncols, 3.0 * nrows))
    for index, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, index + 1, projection=projection)
        points = PCA(n_components=dims).fit_transform(clouds[name])
        ax.scatter(*points.T, c=labels, cmap="tab10", s=3, vmin=0, vmax=9)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
        if dims == 3:
            ax.set_zticks([])
    fig.tight_layout()
    return fig


def unlearning_per_class(per_class: pd.DataFrame) -> plt.Figure:
    """Held-out per-class accuracy before and after each unlearning method."""
    part = per_class.copy()
    part["accuracy (%)"] = 100 * part.accuracy
    part["panel"] = part.dataset + ", forget class " + part.forget_class.astype(str)
    grid = sns.catplot(
        data=part,
        x="class",
        y="accuracy (%)",
        hue="stage",
        col="method",
        row="panel",
        kind="bar",
        errorbar="sd",
        height=2.6,
        aspect=1.3,
        hue_order=["before", "after"],
        sharex=False,
    )
    grid.set_titles("{row_name}: {col_name}")
    return grid.figure


def edit_pca(archive: dict) -> plt.Figure:
    """PCA of the held-out advanced observables before and after the operator edit.

    Both panels share one projection (fitted on the observables before the edit),
    so a forgotten class moving onto the kept classes is visible as such.
    """
    from sklearn.decomposition import PCA

    labels, forget = archive["labels"], int(archive["forget_class"])
    pca = PCA(n_components=2).fit(archive["advanced_before"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), sharex=True, sharey=True)
    for ax, key in zip(axes, ("advanced_before", "advanced_after")):
        points = pca.transform(archive[key])
        kept = labels != forget
        ax.scatter(*points[kept].T, c=labels[kept], cmap="tab10", vmin=0, vmax=9, s=4)
        ax.scatter(
            *points[~kept].T,
            color="black",
            marker="x",
            s=10,
            label=f"class {forget} (forgotten)",
        )
        ax.set_title(key.replace("advanced_", "advanced observables, ") + " the edit")
        ax.legend(loc="best", fontsize=8)
    return fig
