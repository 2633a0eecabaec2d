# anomalyd — two commands: `make run` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
EXTRAS ?= dev,chronos,parquet,ray
# torch is installed first, pinned, so pip never pulls a CUDA build on a CPU machine.
TORCH  ?= torch==2.13.0

.PHONY: run test lint unit bench venv sysdeps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]' $(TORCH)
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

# Debian packages the integration / browser tests start for real (root + apt-get only).
sysdeps:
	@bash scripts/install-sysdeps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p build/typecheck/anomalyd
	@for d in detectors metrics service; do ln -sfn ../../../$$d build/typecheck/anomalyd/$$d; done
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest

test: venv sysdeps lint
	$(BIN)/python -m pytest

run: venv
	$(BIN)/anomalyd demo

bench: venv
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python benchmarks/metrics_speed.py
	@for f in benchmarks/*.py; do \
	  case $$f in benchmarks/metrics_speed.py) continue;; esac; \
	  echo "== $$f"; OMP_WAIT_POLICY=PASSIVE $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
