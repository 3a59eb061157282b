# Two commands do everything on a fresh clone:
#   make lab    create the environment, install, open JupyterLab on course/
#   make test   create the environment, install, run every test
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
LAB_ARGS ?=

.PHONY: lab test env release bench clean

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
	$(BIN)/pip install --quiet -e ".[grade,test]"
	touch $(STAMP)

lab: env
	$(BIN)/aecourse lab $(LAB_ARGS)

test: env
	$(BIN)/python -m pytest $(PYTEST_ARGS)

release: env
	$(BIN)/aecourse release

bench: env
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
