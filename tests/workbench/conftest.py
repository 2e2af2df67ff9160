"""Workbench fixtures: the session's real scoring run, a real SQLite database per test, accounts,
and the real Flask app served over HTTP on 127.0.0.1 by Werkzeug in a thread."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

PASSWORD = "correct horse battery staple"


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


@dataclass
class Server:
    url: str
    app: object
    _server: object
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def start_server(results, db) -> Server:
    from werkzeug.serving import make_server

    from stalkrisk.workbench.app import create_app

    app = create_app(results, db)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Server(f"http://127.0.0.1:{server.server_port}", app, server, thread)


@pytest.fixture
def server(results, db, users) -> Iterator[Server]:
    s = start_server(results, db)
    yield s
    s.stop()


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(url: str, username: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    page = s.get(f"{url}/login", timeout=30)
    r = s.post(f"{url}/login", data={"username": username, "password": password, "csrf_token": token(page.text)},
               allow_redirects=False, timeout=30)
    return s, r


@pytest.fixture
def case_ids(results, forces) -> dict[str, str]:
    """A queued case of each force."""
    ours, other = forces
    return {"ours": str(results.queue("consider_spo", (ours,)).index[0]),
            "other": str(results.queue("consider_spo", (other,)).index[0])}
