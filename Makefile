# Two commands do all set-up on a fresh machine:
#   make run    open docsight on the sample folder (docs/, docsight's own user guide)
#   make test   lint, type-check and run the whole test suite
# Both create .venv in the repository root first. On a machine without an NVIDIA GPU the
# CPU build of torch is installed before anything else, so the CUDA stack never lands.

VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# The CPU build of torch. Where PyPI serves a CUDA build for this version, point pip at the
# CPU wheels: make TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_CPU   ?= torch==2.13.0
TORCH_INDEX ?=
# llama.cpp compiles on install (~9 minutes on 2 cores). It is built once into .wheels for
# a portable x86-64 (AVX2) target: a build tuned to the build machine's CPU (the default)
# can crash on another one, or on one that advertises AMX but does not enable it (VMs).
LLAMA_CPP   ?= llama-cpp-python[server]==0.3.36
LLAMA_CMAKE ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
WHEELS      := .wheels
SAMPLE      ?= docs
QUESTION    ?= how do I rebuild the index after changing the embedding model?

.PHONY: setup run ask test check lint format bench bench-corpora clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: torch comes from the project's dependencies"; \
	else \
		$(PIP) install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_CPU)"; \
	fi
	ls $(WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(PIP) wheel --quiet --no-deps --no-cache-dir -w $(WHEELS) "$(LLAMA_CPP)"
	$(PIP) install --quiet $(WHEELS)/llama_cpp_python-*.whl
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(VENV)/bin/docsight $(SAMPLE)

# The same without a terminal UI: index the sample folder, then one cited answer.
ask: setup
	$(VENV)/bin/docsight index $(SAMPLE)
	$(VENV)/bin/docsight ask $(SAMPLE) "$(QUESTION)"

lint: setup
	$(VENV)/bin/ruff check engine tui tests bench
	$(VENV)/bin/ruff format --check engine tui tests bench

format: setup
	$(VENV)/bin/ruff format engine tui tests bench
	$(VENV)/bin/ruff check --fix engine tui tests bench

test: setup lint
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo
	$(VENV)/bin/python -m pytest -q -ra

check: test

bench: setup
	for script in bench/*.py; do $(PY) $$script; done

# Third-party manuals some benchmarks index (Debian's python3.11-doc: 1,063 files; git-doc),
# and what the seed article's pipeline needs beside docsight's own dependencies.
bench-corpora: setup
	apt-get update -qq && apt-get install -y -qq python3.11-doc git-doc
	$(PIP) install --quiet -e '.[bench]'

clean:
	rm -rf $(VENV) $(WHEELS) .mypy_cache .ruff_cache .pytest_cache
