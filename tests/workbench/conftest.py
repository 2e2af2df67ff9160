"""Workbench fixtures: the session's real scoring run, a real SQLite database per test, accounts,
and the real Flask app served over HTTP on 127.0.0.1 by Werkzeug in a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from wb_server import PASSWORD, start_server


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
def db(tmp_path):
    from stalkrisk.workbench.db import open_database

    return open_database(f"sqlite:///{tmp_path / 'workbench.db'}")


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
