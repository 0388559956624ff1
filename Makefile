# tl-lessons: every target creates .venv when it is missing and installs the kit into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8501

.PHONY: install app test test-package test-notebooks lab data bench source-model reference-runs clean-venv

# pip decides the torch/torchvision pair from pyproject.toml (torchvision>=0.29); see README "GPU".
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

app: $(STAMP)
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --browser.gatherUsageStats false

# Every test: the package, the app (AppTest and a real browser), and every notebook in test mode.
test: $(STAMP)
	TL_LESSONS_FAST=1 $(VENV)/bin/pytest tests notebooks --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=600 -p no:cacheprovider

test-package: $(STAMP)
	$(VENV)/bin/pytest tests

test-notebooks: $(STAMP)
	TL_LESSONS_FAST=1 $(VENV)/bin/pytest notebooks --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=600 -p no:cacheprovider

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

data: $(STAMP)
	$(PY) -m tl_lessons data download all

bench: $(STAMP)
	$(PY) -m tl_lessons bench --json bench.json

# The shipped CIFAR-10 source model (tl_lessons/assets/cifar10_fastnet.pt); needs the real CIFAR-10.
source-model: $(STAMP)
	$(PY) -m tl_lessons train --preset quick --epochs 6 --data cifar10 --save tl_lessons/assets/cifar10_fastnet.pt

# The recorded curves the dashboard shows beside live runs (tl_lessons/assets/reference_runs.json).
reference-runs: $(STAMP)
	$(PY) -m tl_lessons reference-runs --out tl_lessons/assets/reference_runs.json

clean-venv:
	rm -rf $(VENV)
