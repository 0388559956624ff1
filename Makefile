# tl-lessons: every target creates .venv when it is missing and installs the kit into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8501
# The dashboard listens on this computer only. ADDRESS=0.0.0.0 opens it to the network on purpose
# (a classroom); .streamlit/config.toml holds the same default for a plain `streamlit run app.py`.
ADDRESS ?= 127.0.0.1
# The names a browser may reach it by (Streamlit's server.allowedHosts: a page elsewhere that points a
# name of its own at this computer is refused). Opened on one classroom address, that address is added;
# opened on every interface (0.0.0.0), any name is accepted, as Streamlit does by default.
HOSTS ?= $(if $(filter 0.0.0.0 ::,$(ADDRESS)),*,localhost 127.0.0.1 $(filter-out localhost 127.0.0.1,$(ADDRESS)))

.PHONY: install lock app test test-fast test-package test-notebooks lab book data bench source-model reference-runs clean-venv

# The exact versions come from requirements.lock (made by `make lock`), never from what the
# registry holds newest on the day. --no-deps installs the lock as written: nothing more, nothing
# resolved again. `pip check` then proves the set is complete and consistent.
#
# TORCH=cpu: a laptop install without the ~3 GB of CUDA libraries. The same locked versions,
# torch and torchvision taken from PyTorch's CPU wheel index, the lock's CUDA-only packages left out.
TORCH ?= default
LOCK  := requirements.lock
ifeq ($(TORCH),cpu)
LOCK_ROWS  := grep -vE '^(nvidia-|cuda-|triton)' $(LOCK)
TORCH_WHEELS := --extra-index-url https://download.pytorch.org/whl/cpu
else ifeq ($(TORCH),default)
LOCK_ROWS  := cat $(LOCK)
TORCH_WHEELS :=
else
$(error TORCH must be "default" or "cpu", not "$(TORCH)")
endif

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(LOCK_ROWS) > $(VENV)/lock-rows.txt
	$(PY) -m pip install --quiet --no-deps $(TORCH_WHEELS) -r $(VENV)/lock-rows.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	$(PY) -m tl_lessons.environment --lock $(LOCK)
	touch $(STAMP)

install: $(STAMP)

# Re-resolve every dependency (all platforms, Python 3.10 and newer) and rewrite requirements.lock.
# Run it after changing pyproject.toml's dependencies or lock-constraints.txt, never as routine.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==0.13.9
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra cluster --extra book --universal --python-version 3.10 \
	  --constraint lock-constraints.txt --upgrade --output-file $(LOCK)

# check-port: a second `make app` on a busy port says how to choose another (`make app PORT=8502`).
# The teacher page (stop any run, pause new ones, set the class's limits) opens with a token that only
# this terminal shows: $TL_LESSONS_TEACHER_TOKEN if set, else a fresh one each start.
app: $(STAMP)
	$(PY) -m tl_lessons check-port $(ADDRESS) $(PORT)
	@TOKEN="$${TL_LESSONS_TEACHER_TOKEN:-$$($(PY) -m tl_lessons teacher-token)}"; \
	echo "Teacher page: the Teacher tab of the dashboard, token $$TOKEN (do not show it on the projector)"; \
	TL_LESSONS_TEACHER_TOKEN="$$TOKEN" $(VENV)/bin/streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) \
	  $(foreach host,$(HOSTS),--server.allowedHosts '$(host)')

# Every test: the package, the app (AppTest and a real browser), every notebook in test mode, and every
# example in the library's docstrings (`--doctest-modules`: a `>>>` line that is not run is a claim that drifts).
test: $(STAMP)
	TL_LESSONS_FAST=1 $(VENV)/bin/pytest tests notebooks tl_lessons --doctest-modules --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=600 -p no:cacheprovider

# The inner loop while editing the library: every test not marked slow (no training runs, no app
# server, no browser) and the docstring examples, no notebooks. `make test` stays the whole suite.
test-fast: $(STAMP)
	$(VENV)/bin/pytest tests tl_lessons --doctest-modules -m "not slow" -p no:cacheprovider

test-package: $(STAMP)
	$(VENV)/bin/pytest tests tl_lessons --doctest-modules

test-notebooks: $(STAMP)
	TL_LESSONS_FAST=1 $(VENV)/bin/pytest notebooks --nbval-lax --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout=600 -p no:cacheprovider

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

# The chapters as a static web book in build/book/ (open build/book/index.html), from their committed
# outputs: nothing runs, nothing is downloaded (docs/book.md).
book: $(STAMP)
	$(PY) -m tl_lessons book --out build/book

data: $(STAMP)
	$(PY) -m tl_lessons data download all

bench: $(STAMP)
	$(PY) -m tl_lessons bench --json bench.json

# The shipped CIFAR-10 source model (tl_lessons/assets/cifar10_fastnet.pt); needs the real CIFAR-10.
source-model: $(STAMP)
	$(PY) -m tl_lessons train --preset quick --epochs 6 --data cifar10 --save tl_lessons/assets/cifar10_fastnet.pt

# The recorded curves the dashboard shows beside live runs (tl_lessons/assets/reference_runs.json).
# CLUSTER=tcp://scheduler:8786 trains them on a Dask cluster, WORKERS=4 on four worker processes of
# this computer (both: pip install 'tl-lessons[cluster]', in the lock); the runs are the same either way.
CLUSTER ?=
WORKERS ?=
reference-runs: $(STAMP)
	$(PY) -m tl_lessons reference-runs --out tl_lessons/assets/reference_runs.json \
	  $(if $(CLUSTER),--cluster $(CLUSTER)) $(if $(WORKERS),--workers $(WORKERS))

clean-venv:
	rm -rf $(VENV)
