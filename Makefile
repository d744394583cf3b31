# Everyday commands. `make help` lists them.
#
# Everything runs in the project's own virtual environment, .venv (or the one already
# active): current Debian and Ubuntu refuse pip installs into the system Python, and the
# study's results should not depend on what else is installed. Its bin/ goes first on PATH,
# so dvc, ruff and the `python` of dvc.yaml's commands are the environment's.
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := $(abspath .venv)
endif
BOOTSTRAP_PY ?= python3
PY := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
# The versions the tests passed with (pip constraints): `make install` and CI use them;
# `make lock` refreshes them from the environment after an upgrade that passes `make test`.
LOCK := requirements.lock
SHARED_MINI := $(abspath ../shared/datasets/cifar10-jpeg-mini.tar.gz)

# Quick profile: the whole DAG on 2 CPU cores in minutes, on real CIFAR-10 images.
# Uses the mini JPEG archive in ../shared when it is there, else the official download
# cut to 300 train images per class.
# `rotnet data add` copies the data into data/raw/<dataset>, which DVC tracks by content
# (data/raw/<dataset>.dvc): dvc.lock then names no path of this machine, so a clone
# elsewhere or a queued experiment in a temporary copy reruns nothing. --replace swaps in
# this profile's data for what is there (the study's official files stay in DVC's cache).
DATA_ADD := $(PY) -m rotnet.cli data add
ifneq ($(wildcard $(SHARED_MINI)),)
QUICK_SOURCE := $(SHARED_MINI)
QUICK_DATA := -S datasets.cifar10.source=imagefolder
else
QUICK_SOURCE :=
QUICK_DATA := -S datasets.cifar10.train_per_class=300
endif
# Fashion-MNIST joins the quick study when you say where it comes from:
#   make quick FASHION=download            the official files (needs the internet)
#   make quick FASHION=/path/to/idx/folder  a folder with the four official IDX files
FASHION ?=
FASHION_CUT := -S datasets.fashion_mnist.train_per_class=250 -S datasets.fashion_mnist.val_size=500 \
	-S datasets.fashion_mnist.keep_first_per_class=100
ifeq ($(FASHION),)
QUICK_DATA += -S 'study.datasets=[cifar10]'
else ifeq ($(FASHION),download)
QUICK_DATA += -S 'study.datasets=[cifar10,fashion_mnist]' $(FASHION_CUT)
FASHION_ADD := $(DATA_ADD) fashion_mnist --replace
else
QUICK_DATA += -S 'study.datasets=[cifar10,fashion_mnist]' $(FASHION_CUT) -S datasets.fashion_mnist.source=idx
FASHION_ADD := $(DATA_ADD) fashion_mnist $(abspath $(FASHION)) --replace
endif
# The quick profile itself (NIN alone, narrow, a few epochs: within 5 minutes on 2 CPU cores) is
# profiles/quick.yaml; `rotnet profile run` turns it into `dvc exp run -S ...` (README, "Profiles").
PROFILE := $(PY) -m rotnet.cli profile

.PHONY: help install lock quick paper study unprofile test lint format docs bench gpu-check stage-pass zoo-smoke zoo-test
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(PY):
	$(BOOTSTRAP_PY) -m venv $(VENV)

install: $(VENV)/.installed ## install the package, its tools and the test dependencies (editable, pinned by requirements.lock)

# Reinstalls only when the dependencies or their pins change (pip's own no-op check takes seconds).
$(VENV)/.installed: pyproject.toml $(LOCK) | $(PY)
	$(PY) -m pip install -c $(LOCK) -e '.[dev]'
	touch $@

lock: ## write requirements.lock from the environment (after `make test` passed on new versions)
	@echo "# pip constraints: the versions the tests passed with (make lock; used by make install)" > $(LOCK)
	$(PY) -m pip freeze --exclude-editable | sort -f >> $(LOCK)

quick: install ## install, then run the whole study with the quick CPU profile (a DVC experiment; ARGS: more -S overrides)
	$(DATA_ADD) cifar10 $(QUICK_SOURCE) --replace
	$(FASHION_ADD)
	$(PROFILE) run quick $(QUICK_DATA) $(ARGS)

paper: install ## install, then run the paper-comparison experiment as the official code ran it (profiles/paper.yaml; wants a GPU)
	$(DATA_ADD) cifar10 --replace
	$(PROFILE) run paper $(ARGS)

study: install ## install, then run the paper-scale study (params.yaml as committed; wants a GPU)
	$(PROFILE) check-study
	$(DATA_ADD) cifar10 --replace
	$(DATA_ADD) fashion_mnist --replace
	dvc repro

unprofile: ## put back the params.yaml from before the last `make quick` or `make paper`
	$(PROFILE) restore

lint: ## ruff lint and format check
	ruff check .
	ruff format --check .

format: ## apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

docs: ## rewrite the docs' measured figures (results blocks) from the JSONs in benchmarks/results/
	$(PY) -m rotnet.report.docblocks write

test: install lint ## install, lint, and run the whole test suite
	$(PY) -m pytest -q

# The deep EfficientNets (B1..B7) of the zoo training test take 3.5 minutes on 2 cores, so
# `make test` leaves them out (pyproject.toml: -m "not zoo"); this runs every backbone.
zoo-test: install ## the zoo training test on every backbone, deep EfficientNets included
	$(PY) -m pytest -q -m "" tests/test_zoo_training.py

zoo-smoke: install ## each family (NIN, ResNet-18, EfficientNet-B0) trained briefly on real images (~15 min, 2 cores)
	$(PY) benchmarks/zoo_smoke.py $(ARGS)

bench: ## engine vs plain PyTorch training throughput
	$(PY) benchmarks/throughput.py

# Runs with the python it finds (GPU_PY), outside .venv's install: a rented GPU box has its own
# torch and no internet. Extra options: make gpu-check ARGS='--budget-s 300 --data DIR'.
# ARGS=--paper: the paper's Table 1 at 200 + 100 epochs across boxed calls, state in .paper-run/
# (repeat the same command until it says finished); ARGS=--paper-control: the random-init control.
GPU_PY ?= python3
gpu-check: ## on a GPU box, no install: throughput table + time-boxed paper-protocol NIN study (8 min) -> benchmarks/results/
	$(GPU_PY) benchmarks/gpu_check.py $(ARGS)
stage-pass: ## on a GPU box, no install: every DAG stage's real code once, one short epoch (~1 min) -> benchmarks/results/stage-pass/
	$(GPU_PY) benchmarks/stage_pass.py $(ARGS)
