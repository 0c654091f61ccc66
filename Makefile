# clvml developer targets. Everything runs inside .venv, created on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.clvml-installed
EXTRAS ?= dev,postgres,notebooks
# Keep MLflow offline and quiet by default (no telemetry on deployments without internet).
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: venv demo test test-slow test-spark test-browser test-notebooks notebooks notebooks-lab bench bench-quick lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

## The main job: real CDNOW data -> RFM -> CLV, printed as tables.
demo: $(STAMP)
	$(BIN)/clvml demo

## The default test run (fast tier; < 15 min on 2 cores), then the docstring examples.
# Two pytest workers on two cores: one OpenMP thread each (more threads oversubscribe the
# cores and slow gradient boosting down by an order of magnitude).
# The doctests skip clvml/spark/ unless pyspark is installed (conftest.py).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q --doctest-modules clvml

## Parameter recovery and other long tests.
test-slow: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q -m slow

test-notebooks: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q --nbmake notebooks -m ""

## Run every notebook top to bottom and keep its outputs in place (what is committed: a
## reader on the web sees results); tools/notebook_outputs.py makes them fit to commit
## (no absolute paths, run ids or time stamps; the code cells' digest recorded).
notebooks: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=1800 notebooks/*.ipynb
	$(BIN)/python tools/notebook_outputs.py notebooks/*.ipynb

## Open the notebooks in JupyterLab (the `notebooks` extra, installed by make venv).
notebooks-lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

test-spark: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[spark]"
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:xdist -m spark tests/spark

test-browser: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:xdist -m browser

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

lint: $(STAMP)
	$(BIN)/ruff check clvml tests benchmarks
	$(BIN)/ruff format --check clvml tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
