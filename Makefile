# hwgen: `make demo` (the main job on built-in defaults) and `make test` (the whole suite).
# Both bootstrap what they need, idempotently: system packages (as root, via apt-get; checked on
# every run, so a tool removed later is named with its install command), then a virtual
# environment in .venv with hwgen installed in editable mode and its tools (once).

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.hwgen-installed
OUT     ?= build/demo
JOBS    ?= 2
PYTEST_ARGS ?=

.PHONY: venv system-deps demo test test-fast bench doctor clean

venv: system-deps $(STAMP)

system-deps:
	@PYTHON=$(PYTHON) bash .ci/system-deps.sh

$(STAMP): pyproject.toml setup.py
	@PYTHON=$(PYTHON) bash .ci/system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The Xilinx ap_int/ap_fixed headers (Apache-2.0) ship inside the hls4ml wheel; hwgen reads
	# the headers only and never imports hls4ml, so its dependencies are not needed.
	$(BIN)/python -m pip install -q --no-deps 'hls4ml==1.3.0'
	@touch $(STAMP)

doctor: venv
	$(BIN)/hwgen doctor

demo: venv
	$(BIN)/hwgen demo --out $(OUT)

test: venv
	$(BIN)/hwgen doctor
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup $(PYTEST_ARGS)

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build .pytest_cache
