"""The workbench served for tests: Werkzeug on 127.0.0.1 in a thread, and a signed-in HTTP client.

(Named apart from ``conftest`` so test modules import it unambiguously.)"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import pytest
import requests

PASSWORD = "correct horse battery staple"
#: The tests that matter for a second database run on SQLite and PostgreSQL; the rest on SQLite
#: alone, so the suite's time does not double (conftest's ``db_kind``).
both_databases = pytest.mark.parametrize("db_kind", ["sqlite", "postgresql"])


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


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(url: str, username: str, password: str = PASSWORD) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    page = s.get(f"{url}/login", timeout=30)
    r = s.post(f"{url}/login", data={"username": username, "password": password, "csrf_token": token(page.text)},
               allow_redirects=False, timeout=30)
    return s, r
