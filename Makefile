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

.PHONY: install demo test lock browser bench bench-peers spark clean

install: $(STAMP)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on CI), nothing is cached at import
# and every `stalkrisk` process would compile its ~3,500 library modules again (~15 s).
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock: $(VENV)/bin/python
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 --generate-hashes -c requirements.lock -o requirements-spark.lock

demo: $(STAMP)
	$(PY) -m stalkrisk.demo --out $(DEMO_DIR) --cases $(DEMO_CASES)

# The Spark tests run in a venv of their own (.venv-spark, from requirements-spark.lock: the main lock
# plus pyspark): with pyspark installed, Great Expectations and MLflow import it at start-up (seconds on
# every command), and pyspark.sql.connect exits the interpreter under `python -c` when grpc is missing.
SPARK_VENV  := .venv-spark
SPARK_PY    := $(SPARK_VENV)/bin/python
SPARK_STAMP := $(SPARK_VENV)/.installed

spark: $(SPARK_STAMP)

$(SPARK_STAMP): requirements-spark.lock pyproject.toml
	test -x $(SPARK_PY) || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(SPARK_VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(SPARK_PY) --require-hashes requirements-spark.lock
	$(SPARK_VENV)/bin/uv pip install --quiet --python $(SPARK_PY) --no-deps -e .
	touch $(SPARK_STAMP)

test: $(STAMP) $(SPARK_STAMP)
	$(PY) -m pytest -q -m "not spark"
	$(SPARK_PY) -m pytest -q -m spark

# Debian's Chromium for the browser tests (needs root, as on CI).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_explain.py
	$(PY) benchmarks/bench_score.py

# The explanation benchmark with its peers (issue 6) in their own venv, .venv-bench: requirements.lock
# plus the peers pinned by hash in requirements-bench.lock (see benchmarks/requirements-bench.in),
# never in .venv. Both peers build from source; one that fails to build is reported, and
# bench_explain.py then prints why it skips it. Rebuilt when missing or older than either lock file.
BENCH_VENV  := .venv-bench
BENCH_PY    := $(BENCH_VENV)/bin/python
BENCH_UV    := $(BENCH_VENV)/bin/uv
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_PEERS := fasttreeshap-fixed treeshap

bench-peers: $(BENCH_STAMP)
	$(BENCH_PY) benchmarks/bench_explain.py

$(BENCH_STAMP): requirements.lock requirements-bench.lock pyproject.toml
	test -x $(BENCH_PY) || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BENCH_UV) pip sync --quiet --compile-bytecode --python $(BENCH_PY) --require-hashes requirements.lock
	$(BENCH_UV) pip install --quiet --python $(BENCH_PY) --no-deps -e .
	mkdir -p $(BENCH_VENV)/install-errors
	for peer in $(BENCH_PEERS); do \
	  pin=$$(grep -o "^$$peer==[^ ]*" requirements-bench.lock); log=$(BENCH_VENV)/install-errors/$$peer.log; \
	  if $(BENCH_UV) pip install --quiet --python $(BENCH_PY) --require-hashes --no-deps \
	       -c requirements-bench.lock -b requirements.lock "$$pin" 2>$$log; then rm -f $$log; \
	  else cat $$log; echo "bench-peers: $$peer did not install (above, kept in $$log); bench_explain.py skips it"; fi; \
	done
	touch $(BENCH_STAMP)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(SPARK_VENV) $(DEMO_DIR) mlflow.db mlruns mlartifacts .pytest_cache
