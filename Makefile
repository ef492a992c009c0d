# bumpdiff — the two commands a newcomer runs:
#   make figures      regenerate every figure into figures/ (PROFILE=cpu by default; PROFILE=smoke is fast)
#   make test         the test suite (what CI runs)
# Both create and use a local virtual environment (.venv) unless one is active (venv or conda).

PROFILE ?= cpu
# how make reproduce runs the runs: local = parallel processes, one per core (inline: one after the other)
EXECUTOR ?= local
PYTHON_BOOT ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV ?= .venv
SHELL := /bin/bash

ifneq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
  PY := python
  ENV_STAMP :=
else
  PY := $(VENV)/bin/python
  ENV_STAMP := $(VENV)/.installed
endif

# the explorer page's browser runtime (onnxruntime-web), installed from web/package-lock.json
WEB_STAMP := web/node_modules/.package-lock.json

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%.ipynb,build/$(PROFILE)/%.ipynb,$(NOTEBOOKS))

.PHONY: help env figures site lab test test-fast test-notebooks lint smoke-results smoke-figures reproduce report \
        bench clean-figures

help:
	@echo "make figures [PROFILE=cpu|smoke|paper]  regenerate every figure into figures/"
	@echo "make test                               run the test suite (unit tests + notebook smoke runs)"
	@echo "make site [PROFILE=cpu|smoke]            the report website from the executed notebooks (after make figures)"
	@echo "make lab                                JupyterLab on this environment, with the project's kernel"
	@echo "make reproduce PROFILE=cpu              compute what is missing (train, analyse, studies), then figures"
	@echo "                [EXECUTOR=local|inline] local (default): the runs in parallel processes, one per core"
	@echo "make report                             regenerate docs/RESULTS.md from data/results"
	@echo "make bench                              training/sampling throughput vs a peer UNet; the inference chunk sweep"

env: $(ENV_STAMP)

$(VENV)/.installed: pyproject.toml requirements/lock.txt
	@echo ">>> creating $(VENV) (Python: $$($(PYTHON_BOOT) --version))"
	@t0=$$(date +%s); \
	$(PYTHON_BOOT) -m venv $(VENV) && \
	$(VENV)/bin/python -m pip install --quiet --upgrade pip && \
	$(VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)" && \
	LOCK=$$($(VENV)/bin/python -c 'import sys; print("-c requirements/lock.txt" if sys.version_info[:2] == (3, 11) else "")'); \
	$(VENV)/bin/python -m pip install --quiet $$LOCK -e ".[dev,bench,site]" && \
	$(VENV)/bin/python -c "from bumpdiff.app.lab import ensure_kernelspec; ensure_kernelspec()" && \
	$(VENV)/bin/python -c "from bumpdiff.analysis.order import compile_umap; compile_umap()" && \
	touch $@ && echo ">>> environment ready in $$(( $$(date +%s) - t0 )) s"

figures: $(ENV_STAMP)
	@$(PY) -m bumpdiff figures --profile $(PROFILE)

site: $(ENV_STAMP) $(WEB_STAMP)
	@$(PY) -m bumpdiff site --profile $(PROFILE)

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "make: the site's explorer page needs Node.js and npm (e.g. apt-get install nodejs npm)"; exit 1; }
	@npm ci --prefix web --no-audit --no-fund --loglevel=error

lab: $(ENV_STAMP)
	@$(PY) -m bumpdiff.app.lab

reproduce: $(ENV_STAMP)
	@$(PY) -m bumpdiff reproduce --profile $(PROFILE) --executor $(EXECUTOR)
	@$(PY) -m bumpdiff figures --profile $(PROFILE)

report: $(ENV_STAMP)
	@$(PY) -m bumpdiff report

lint: $(ENV_STAMP)
	@$(PY) -m ruff check bumpdiff tests benchmarks tools conftest.py

# the notebooks only read results: their smoke runs under nbval read the smoke profile's, computed here (seconds)
smoke-results: $(ENV_STAMP)
	@$(PY) -m bumpdiff reproduce --profile smoke --quiet
	@$(PY) -m bumpdiff track commitment spectrum atlas --profile smoke --quiet > /dev/null
	@$(PY) -m bumpdiff track atlas --profile smoke --arch additive --quiet > /dev/null
	@$(PY) -m bumpdiff track topology --profile smoke --experiment torus --quiet > /dev/null
	@$(PY) -m bumpdiff recompute --profile smoke --every 3 --quiet > /dev/null

# every notebook executed headless on the smoke profile, in parallel (papermill; an error in any cell fails), into
# build/smoke/: the site's browser test publishes these executed copies
smoke-figures: smoke-results
	@$(PY) -m bumpdiff figures --profile smoke

# TEST_WORKERS > 0 runs the tests in that many pytest-xdist processes (one torch thread each; the Slurm tests share
# one worker and one private cluster, the site tests one built site). 0 (the default): one process, two threads; on
# two cores that measured faster (the tests are compute-bound: 1,470 s of tests on two workers, 1,134 s for the whole
# serial CI before), so two workers pay only where there are cores to spare
TEST_WORKERS ?= 0
test: lint smoke-figures $(WEB_STAMP)
	@$(PY) -m pytest tests -p no:cacheprovider --durations=15 -n $(TEST_WORKERS) --dist loadgroup

# the same notebooks under nbval, one after the other (slower; make test executes them with papermill instead)
test-notebooks: smoke-results
	@$(PY) -m pytest --nbval-lax notebooks -p no:cacheprovider

test-fast: lint
	@$(PY) -m pytest tests -p no:cacheprovider -m "not slow" -n $(TEST_WORKERS) --dist loadgroup

bench: $(ENV_STAMP)
	@$(PY) benchmarks/throughput.py
	@$(PY) benchmarks/chunk.py

clean-figures:
	rm -rf figures/*.png figures/*.pdf build/
