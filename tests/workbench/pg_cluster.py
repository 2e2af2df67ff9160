"""A throwaway PostgreSQL cluster for the workbench tests: initdb into a temporary folder, started
on a free localhost port with its unix socket in that folder, stopped and deleted at the end.

Uses the machine's PostgreSQL server binaries (``$STALKRISK_PG_BIN``, else ``pg_ctl`` on PATH, else
the newest ``/usr/lib/postgresql/*/bin``). initdb and the server refuse to run as root, so as root
(CI) they run as an unprivileged account (``postgres`` when it exists, else ``nobody``) that owns
the temporary folder. The server's clock is set far from UTC, so a time written or read without
its zone shows up as a wrong time rather than passing by luck.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: A zone never equal to UTC (UTC-03:30, with its own summer time): naive times cannot pass.
SERVER_TIMEZONE = "America/St_Johns"
SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=60",
            f"timezone={SERVER_TIMEZONE}", "log_timezone=UTC")


def find_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries, or ``None`` when this machine has none."""
    override = os.environ.get("STALKRISK_PG_BIN")  # when set, the only place looked in
    if override:
        candidates = [override]
    else:
        found = shutil.which("pg_ctl")
        candidates = [str(Path(found).resolve().parent)] if found else []
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True,  # newest first
                             key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")])
    for folder in candidates:
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """Who runs the server: ourselves, or (as root, which initdb refuses) an unprivileged account."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


@dataclass
class Cluster:
    folder: Path
    bin: Path
    port: int
    user: str | None

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        result = subprocess.run([str(self.bin / argv[0]), *argv[1:]], user=self.user, cwd=self.folder,
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    def start(self) -> None:
        data, sockets = self.folder / "data", self.folder / "sockets"
        sockets.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.folder, sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        options = " ".join([f"-p {self.port}", f"-k {sockets}", "-c listen_addresses=127.0.0.1",
                            *(f"-c {s}" for s in SETTINGS)])
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w",
                  "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)


def start_cluster() -> Cluster:
    """Start a cluster (the caller stops it); raises ``LookupError`` when there are no binaries."""
    folder = find_bin()
    if folder is None:
        raise LookupError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH, in "
                          "/usr/lib/postgresql/*/bin or $STALKRISK_PG_BIN; install Debian's `postgresql`")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="stalkrisk-pg-")), folder, _free_port(), _server_user())
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(cluster.folder, ignore_errors=True)
        raise
    return cluster
