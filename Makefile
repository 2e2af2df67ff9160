# Set-up is part of every target: `make demo` and `make test` work on a fresh clone.
# The virtualenv is (re)built from the committed, hash-pinned lock file whenever
# it is missing or older than the lock file or pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.8
DEMO_DIR ?= demo-output
DEMO_CASES ?= 20000

.PHONY: install demo test lock browser bench clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --python $(PY) --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock: $(VENV)/bin/python
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

demo: $(STAMP)
	$(PY) -m stalkrisk.demo --out $(DEMO_DIR) --cases $(DEMO_CASES)

test: $(STAMP)
	$(PY) -m pytest -q

# Debian's Chromium for the browser tests (needs root, as on CI).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_score.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) mlflow.db mlruns mlartifacts .pytest_cache
