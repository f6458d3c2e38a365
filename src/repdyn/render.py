"""Execute a report notebook with papermill and render it to self-contained HTML.

Usage: python -m repdyn.render NOTEBOOK EXECUTED HTML --figures DIR [--results DIR]

The executed notebook keeps papermill's injected-parameters cell, so every report
says which results folder it read. Images are embedded in the HTML, which needs no
file outside itself and no network.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from repdyn.io import atomic_path

KERNEL = "python3"
TEMPLATES = Path(__file__).parent / "templates"


def execute(notebook: Path, executed: Path, parameters: dict) -> None:
    import papermill

    with atomic_path(executed, suffix=".tmp.ipynb") as tmp:
        papermill.execute_notebook(
            str(notebook),
            str(tmp),
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=False,
            cwd=os.getcwd(),
        )


def to_html(executed: Path, html: Path) -> None:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="offline",
        extra_template_basedirs=[str(TEMPLATES)],
        embed_images=True,
        exclude_input_prompt=True,
    )
    body, _ = exporter.from_filename(str(executed))
    with atomic_path(html) as tmp:
        tmp.write_text(body, encoding="utf-8")


def render(
    notebook: Path, executed: Path, html: Path, figures: Path, results: Path
) -> None:
    """Execute ``notebook`` on the ``results`` folder, saving its figures in
    ``figures``, and write the executed notebook and its HTML rendering."""
    # The figures folder is an output of its own; a failed run leaves it to
    # Snakemake, which deletes the outputs of failed jobs.
    shutil.rmtree(figures, ignore_errors=True)
    Path(figures).mkdir(parents=True)
    parameters = {"results_dir": str(results), "figures_dir": str(figures)}
    execute(Path(notebook), Path(executed), parameters)
    to_html(Path(executed), Path(html))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("executed", type=Path)
    parser.add_argument("html", type=Path)
    parser.add_argument("--figures", type=Path, required=True)
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    render(args.notebook, args.executed, args.html, args.figures, args.results)


if __name__ == "__main__":
    main()
