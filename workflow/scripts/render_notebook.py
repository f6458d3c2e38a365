"""Rule render_notebook: papermill runs one report notebook, nbconvert renders it.

A script rather than a shell command, so the notebook's kernel is the interpreter
that runs the workflow (the virtual environment's, or the rule's conda
environment's) whether or not that environment is on PATH.
"""

from pathlib import Path

from repdyn import render
from repdyn.logs import run_script


def main(smk, log):
    render.render(
        notebook=Path(smk.input.notebook),
        executed=Path(smk.output.executed),
        html=Path(smk.output.html),
        figures=Path(smk.output.figures),
        results=Path("results"),
    )
    log.info("rendered %s to %s", smk.input.notebook, smk.output.html)


run_script(snakemake, main)  # noqa: F821
