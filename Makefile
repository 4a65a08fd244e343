# certmgr: make demo | make test | make lint | make bench
# Each target creates .venv and installs what it needs on a fresh Debian/Ubuntu machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench venv clean system-packages

venv: $(STAMP)

# What a fresh Debian machine lacks: Python's venv module, and a C compiler and Python's
# headers (pyjks needs twofish, which PyPI has only as source).
$(STAMP): pyproject.toml
	@missing=""; \
	 $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	 $(PYTHON) -c 'import os, sysconfig; os.stat(sysconfig.get_path("include") + "/Python.h")' \
	   2>/dev/null || missing="$$missing python3-dev"; \
	 command -v gcc >/dev/null || missing="$$missing gcc"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	   else echo "missing:$$missing; install it (as root: apt-get install$$missing)" >&2; exit 2; fi; \
	 fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# As root, install the six server programs (no system service is started) so the demo
# runs on a real lab; otherwise the demo runs on the file-only lab and says so.
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then ./.ci/install-packages; \
	 else echo "not root: skipping the server programs' install; the demo runs on the file-only lab" >&2; fi

demo: venv system-packages
	$(BIN)/certmgr demo

test: venv
	@mkdir -p reports
	$(BIN)/pytest -W error --junitxml=reports/junit.xml $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python -m bench

clean:
	rm -rf build dist reports .mypy_cache .ruff_cache .pytest_cache
