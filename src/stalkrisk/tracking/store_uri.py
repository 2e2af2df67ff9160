"""Where MLflow tracks, decided without importing MLflow.

``stalkrisk train`` imports libraries on a thread while it reads its input
(``preload``); these tell it, before MLflow is imported, whether the tracking
store is a database, whose modules are then imported there too.
"""

from __future__ import annotations

import os

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
#: ``mlflow.store.db.db_types.DATABASE_ENGINES`` (a test keeps the two in step).
DATABASE_SCHEMES = ("postgresql", "mysql", "sqlite", "mssql")
#: What MLflow imports to open a database store (SQLAlchemy, alembic, the table models),
#: which is slow. Imported once, before training forks the child that makes the store, the
#: child and this process do not each import them.
DATABASE_STORE_MODULES = ("mlflow.store.tracking.sqlalchemy_store",
                          "mlflow.store.model_registry.sqlalchemy_store")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def store_modules(uri: str | None = None) -> tuple[str, ...]:
    """``DATABASE_STORE_MODULES`` when ``uri`` (default: the tracking URI) names a database."""
    scheme = (uri or tracking_uri()).split(":", 1)[0].split("+", 1)[0].lower()
    return DATABASE_STORE_MODULES if scheme in DATABASE_SCHEMES else ()
