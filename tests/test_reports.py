"""Report notebooks: stripped in git, self-contained HTML with injected parameters."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, snakemake

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_one_notebook_per_theme():
    names = {path.stem for path in NOTEBOOKS}
    assert names == {"fidelity", "topology", "unlearning", "spectrum", "layers"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} has outputs; strip them"
            assert cell["execution_count"] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_a_parameters_cell_defaulting_to_results(path):
    notebook = json.loads(path.read_text())
    tagged = [
        c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])
    ]
    assert len(tagged) == 1
    assert 'results_dir = "results"' in "".join(tagged[0]["source"])


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_html_report_is_self_contained_with_injected_parameters(smoke_run, name):
    html = (smoke_run / f"results/reports/{name}.html").read_text()
    assert "injected-parameters" in html or "Parameters" in html
    assert "results_dir" in html
    external = re.findall(
        r"<(?:script|img|link|iframe)[^>]*(?:src|href)=\"(?!data:)", html
    )
    assert external == [], f"{name}.html loads files from outside itself"
    assert "Traceback" not in html


@pytest.mark.slow
def test_every_report_figure_is_saved_as_png_and_svg(smoke_run):
    figures = smoke_run / "results/figures"
    pngs = sorted(figures.rglob("*.png"))
    assert len(pngs) >= 10
    for png in pngs:
        assert png.with_suffix(".svg").exists()


@pytest.mark.slow
def test_snakemake_report_holds_the_notebooks_and_figures_with_captions(smoke_run):
    result = snakemake(
        smoke_run,
        "--report",
        "results/report.html",
        "--configfile",
        "config/smoke.yaml",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = (smoke_run / "results/report.html").read_text()
    for name in ("topology_trend.png", "per_class_accuracy.png", "fidelity.html"):
        assert name in report
    assert "executed by papermill" in report  # the notebooks' caption
    assert "held-out test split" in report  # the figures' caption
