# The README's two commands are `make run` and `make test`; both set up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
# Every recipe, and every tool it starts (snakemake's jobs, dvc's stage command),
# finds the virtual environment's programs first, as if it were activated.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run smoke test lint report dag bench lock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: a looser range would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

smoke: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/ruff check src tests workflow/scripts benchmarks

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --report results/report.html

dag: $(STAMP)
	$(BIN)/snakemake --rulegraph | dot -Tsvg > results/rulegraph.svg

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# For maintainers: after a change to src/, workflow/, notebooks/ or the default
# config, run the default study from empty results and record its hashes in dvc.lock
# (then commit dvc.lock). tests/test_dvc.py fails while the lock is stale.
lock: $(STAMP)
	rm -rf results logs benchmarks/rules .snakemake
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/dvc commit --force study

clean:
	rm -rf results logs benchmarks/rules .snakemake
