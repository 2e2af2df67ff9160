"""Workbench fixtures: the session's real scoring run, a real database per test (SQLite; and, for
the tests marked ``both_databases``, PostgreSQL in a throwaway cluster of the session), accounts,
and the real Flask app served over HTTP on 127.0.0.1 by Werkzeug in a thread."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from pg_cluster import start_cluster
from wb_server import PASSWORD, start_server

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster():
    """PostgreSQL for the session. Skips only when the machine has no PostgreSQL server binaries,
    and never under ``CI=true`` (.ci/run installs them): there a missing server fails the run."""
    try:
        cluster = start_cluster()
    except LookupError as exc:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture
def db_kind() -> str:
    """SQLite, unless a test is marked ``both_databases`` (wb_server)."""
    return "sqlite"


@pytest.fixture
def db_url(db_kind, tmp_path, request) -> str:
    """A new, empty database of the kind asked for."""
    if db_kind == "postgresql":
        return request.getfixturevalue("pg_cluster").create_database(f"wb_{os.getpid()}_{next(_numbers)}")
    return f"sqlite:///{tmp_path / 'workbench.db'}"


@pytest.fixture(scope="session")
def results(scored_dir):
    from stalkrisk.workbench.results import load_results

    return load_results(scored_dir)


@pytest.fixture(scope="session")
def forces(results) -> tuple[str, str]:
    """The two forces with the most queued cases: ours and another."""
    counts = results.scores.loc[results.scores["queue"] == "consider_spo", "force_code"].value_counts()
    return str(counts.index[0]), str(counts.index[1])


@pytest.fixture
def db(db_url):
    from stalkrisk.workbench.db import open_database

    database = open_database(db_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def users(db, forces) -> dict[str, str]:
    """alice and bob review force A, carol force B; sam supervises both; audrey audits."""
    from stalkrisk.workbench.accounts import add_user

    ours, other = forces
    for name, role, codes in (("alice", "reviewer", [ours]), ("bob", "reviewer", [ours]),
                              ("carol", "reviewer", [other]), ("sam", "supervisor", [ours, other]),
                              ("audrey", "auditor", [])):
        add_user(db, name, role, codes, PASSWORD)
    return {"ours": ours, "other": other}


@pytest.fixture
def server(results, db, users) -> Iterator[Server]:
    s = start_server(results, db)
    yield s
    s.stop()


@pytest.fixture
def case_ids(results, forces) -> dict[str, str]:
    """A queued case of each force."""
    ours, other = forces
    return {"ours": str(results.queue("consider_spo", (ours,)).index[0]),
            "other": str(results.queue("consider_spo", (other,)).index[0])}
