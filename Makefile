# Two commands do everything on a fresh clone:
#   make lab    create the environment, install, open JupyterLab on course/
#   make test   create the environment, install, run every test (and install Debian's
#               chromium and bubblewrap for the browser and grading tests when they are
#               missing and we may: root + apt)
# Re-running either reuses .venv (it is rebuilt only when pyproject.toml changes).

# The first Python >= 3.11 found (nbgrader 0.9 needs it); override with PYTHON=...
PYTHON ?= $(firstword $(foreach v,3.11 3.12 3.13 3.14,$(shell command -v python$(v) 2>/dev/null)) python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.aecourse-installed
TORCH_VERSION ?= 2.13.0
# Where CPU-only torch wheels live when no local wheel satisfies the pin.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
PYTEST_ARGS ?=
# pytest-xdist workers for make test: one per core, at most 4 (the two largest scopes, every chapter
# under nbval and every grading run, each stay on one worker: conftest.py's xdist_scope). 1 runs the
# tests in one process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)
PYTEST_PARALLEL = $(if $(filter-out 0 1,$(TEST_JOBS)),-n $(TEST_JOBS))
LAB_ARGS ?=
# The course website's math: MathJax 3 from npm, into .cache/npm (website/build.py copies it into the site).
MATHJAX_VERSION ?= 3.2.2
MATHJAX := .cache/npm/node_modules/mathjax/es5/tex-mml-chtml.js
# The headless browser tests/test_browser.py drives (Debian's package; Playwright's own
# browser downloads are never used).
CHROMIUM ?= /usr/bin/chromium

.PHONY: lab test env system browser release site mathjax bench bench-suite clean

env: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null || { echo "error: $(PYTHON) is missing or older than 3.11; aecourse needs Python >= 3.11 (install it, or set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first, so nothing below can pull a CUDA build on a CPU machine.
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	    echo "torch already installed: $$($(BIN)/python -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	    echo "GPU found: installing CUDA torch==$(TORCH_VERSION)"; \
	    $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"; \
	elif $(BIN)/pip install --quiet --no-deps --no-index "torch==$(TORCH_VERSION)" 2>/dev/null; then \
	    echo "installed CPU torch==$(TORCH_VERSION) from a local wheel (its dependencies come next)"; \
	else \
	    echo "installing CPU-only torch==$(TORCH_VERSION) from $(TORCH_CPU_INDEX)"; \
	    $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX) --extra-index-url https://pypi.org/simple; \
	fi
	$(BIN)/pip install --quiet -e ".[grade,test,site]"
	touch $(STAMP)

# Debian packages the tests need: chromium (tests/test_browser*.py, tests/test_site.py), bubblewrap (the
# grading sandbox, `aecourse grade`) and npm (to install the website's MathJax once). Nothing to do (and no network) when both are there; installed with
# apt-get when we may (root), else a note says how.
system:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$missing for the tests (apt-get install$$missing)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	        || { echo "error: apt-get install$$missing failed; the browser and grading tests need them"; exit 1; }; \
	else \
	    echo "note: missing$$missing, and installing needs root and apt-get:"; \
	    echo "      run 'sudo apt-get install$$missing' (Debian/Ubuntu)."; \
	    echo "      Until then the browser and sandbox tests skip (and fail under CI)."; \
	fi

# Kept for muscle memory: the browser used to be the only system package.
browser: system

lab: env
	$(BIN)/aecourse lab $(LAB_ARGS)

# nbval runs each chapter once, in a Binder-like venv (built once into .cache/, sharing .venv's files by
# hard links) with the network off and an empty data folder: see conftest.py. AECOURSE_NBVAL_KERNEL=current
# runs nbval in the notebooks' own kernel (this venv, online) instead.
test: env system mathjax
	AECOURSE_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

release: env
	$(BIN)/aecourse release

# The course website (website/build.py): every chapter as the learner sees it, with the outputs of the
# test suite's nbval run when they are current (.cache/executed/), else of a run made here; -> _build/site/.
# `make test` builds and checks it too (tests/test_site.py).
site: env mathjax
	$(BIN)/python -m website.build

# npm is needed once, to install; without it a note says so (and tests/test_site.py skips, or fails under CI).
mathjax: $(MATHJAX)

$(MATHJAX):
	@if command -v npm >/dev/null 2>&1; then \
	    npm install --silent --no-save --no-audit --no-fund --no-package-lock --prefix .cache/npm mathjax@$(MATHJAX_VERSION); \
	else \
	    echo "note: npm is missing: the course website needs MathJax $(MATHJAX_VERSION) from npm (apt-get install npm)"; \
	fi

bench: env
	$(BIN)/python benchmarks/run_all.py

# make test's tests against executing every chapter once, and .venv + .cache on disk (issue 20's
# targets: at most 4x, under 2.5 GB); writes benchmarks/results/bench_suite.json. Also part of `make bench`.
bench-suite: env system
	AECOURSE_CHROMIUM=$(CHROMIUM) $(BIN)/python benchmarks/bench_suite.py

clean:
	rm -rf $(VENV) .pytest_cache .cache build _build *.egg-info src/*.egg-info
