"""The tracking URI, and the MLflow modules training imports early for a database store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stalkrisk.tracking import store_uri


def test_database_schemes_are_mlflows():
    from mlflow.store.db.db_types import DATABASE_ENGINES

    assert set(store_uri.DATABASE_SCHEMES) == set(DATABASE_ENGINES)


@pytest.mark.parametrize("uri, database", [
    ("sqlite:///mlflow.db", True),
    ("SQLite:////tmp/x.db", True),
    ("postgresql+psycopg2://u@h/db", True),
    ("mysql://u@h/db", True),
    ("http://127.0.0.1:5000", False),
    ("file:///tmp/mlruns", False),
    ("mlruns", False),
    ("databricks", False),
])
def test_store_modules_only_for_a_database(uri, database):
    assert store_uri.store_modules(uri) == (store_uri.DATABASE_STORE_MODULES if database else ())


def test_default_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert store_uri.tracking_uri() == "sqlite:///mlflow.db"
    assert store_uri.store_modules() == store_uri.DATABASE_STORE_MODULES
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store_uri.store_modules() == ()


def test_mlflow_opens_a_sqlite_store_and_registry_with_those_modules(tmp_path):
    """Preloading swallows import errors, so a renamed module would go unnoticed: check that
    MLflow, opening a SQLite store and its registry, loads exactly the modules named."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    code = (
        "import json, sys, mlflow\n"
        f"client = mlflow.MlflowClient({uri!r})\n"
        "client.search_experiments(); client.search_registered_models()\n"
        f"print(json.dumps([m in sys.modules for m in {list(store_uri.DATABASE_STORE_MODULES)!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True]
