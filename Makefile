# Everything a fresh clone needs: `make demo` and `make test` do all set-up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build that lies on dev/CI machines; a GPU cluster installs its own
# CUDA torch first and pyproject's broad range accepts it.
TORCH_PIN ?= torch==2.13.0
DEMO_OUT ?= demo-out

.PHONY: install nvme-ops demo test lint clean cluster-up cluster-down

install: $(VENV)/.installed $(VENV)/.ops

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev,mpi,bnb]"
	touch $@

# DeepSpeed's CPU ops, built once now (minutes) into this installation's own folder,
# $(VENV)/torch_extensions, where every run looks for them: a run never builds one.
$(VENV)/.ops: $(VENV)/.installed
	DS_ACCELERATOR=cpu $(PY) -m jobs.prebuild
	touch $@

# NVMe offload's async I/O op: libaio (root on Debian/Ubuntu; skipped elsewhere) and a build
# of several minutes. Only NVMe scenarios use it, so the tests need it and the demo does not.
nvme-ops: $(VENV)/.nvme-ops

$(VENV)/.nvme-ops: $(VENV)/.ops
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s libaio-dev >/dev/null 2>&1; then \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends libaio-dev; fi
	DS_ACCELERATOR=cpu $(PY) -m jobs.prebuild --nvme
	touch $@

# The demo answers the suite's question on this machine: the largest model each ZeRO stage
# trains under a per-rank budget, found by a capacity search of real runs.
demo: install
	$(VENV)/bin/memsweep run suite/sweeps/capacity.toml --out $(DEMO_OUT)
	$(VENV)/bin/memsweep report $(DEMO_OUT) -o $(DEMO_OUT)/report.pdf

# The single-node cluster and, beside it, the two-node one (tests/slurm use both).
cluster-up:
	bash slurm/cluster/up.sh
	bash slurm/cluster/up.sh --nodes 2
	bash slurm/cluster/up.sh --forgetful

cluster-down:
	bash slurm/cluster/down.sh

test: install nvme-ops cluster-up
	$(VENV)/bin/ruff check .
	$(PY) -m pytest --durations=30  # the slowest tests, so CI shows where its time goes

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache *.egg-info
