"""The workbench database: SQLAlchemy 2 models, the engine, and migrations applied on open.

SQLite is the embedded default (a file, nothing to set up); PostgreSQL works by URL
(``postgresql://user@host:5432/db``, driven by psycopg 3: ``pip install stalkrisk[postgres]``).
The schema belongs to Alembic (``migrations/``, shipped in the package);
``open_database`` upgrades it to the newest revision every time, so a new release needs no
separate step. Decisions and outcomes are append-only: the models offer no update path, and
database triggers refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from stalkrisk.workbench import WorkbenchError

DEFAULT_URL = "sqlite:///workbench.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive times; every time the workbench writes is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


class UTCDateTime(sa.TypeDecorator):
    """A moment, stored with its zone where the database can (PostgreSQL ``timestamptz``) and as
    UTC where it cannot (SQLite), and always read back as an aware UTC ``datetime``.

    PostgreSQL hands times back in the session's zone (whatever the server's ``timezone`` is) and
    SQLite hands them back naive; one type makes both the same, and refuses a naive time on the
    way in, which PostgreSQL would otherwise read as local time on the server's clock.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the workbench stores only times with a zone (UTC)")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else as_utc(value).astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    disabled: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false(), default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forces: Mapped[list[UserForce]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def force_codes(self) -> tuple[str, ...]:
        return tuple(sorted(f.force_code for f in self.forces))


class UserForce(Base):
    __tablename__ = "user_forces"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    force_code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class SignInFailure(Base):
    __tablename__ = "sign_in_failures"
    __table_args__ = (sa.Index("ix_sign_in_failures_who", "username", "ip", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    ip: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Decision(Base):
    """One reviewer's decision on one case, with what the screen showed them at the time."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    reviewer: Mapped[str] = mapped_column(sa.String(64))
    decision: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.Text)
    conditions: Mapped[str] = mapped_column(sa.Text, server_default="", default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    model_name: Mapped[str] = mapped_column(sa.String(255))
    model_version: Mapped[str] = mapped_column(sa.String(64))
    score: Mapped[float | None] = mapped_column(sa.Float)
    risk_band: Mapped[str] = mapped_column(sa.String(16))
    queue: Mapped[str] = mapped_column(sa.String(32))
    queue_reason: Mapped[str] = mapped_column(sa.Text)
    threshold: Mapped[float | None] = mapped_column(sa.Float)
    force_code: Mapped[str] = mapped_column(sa.String(32))
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_sha256: Mapped[str] = mapped_column(sa.String(64))


class Outcome(Base):
    """What became of an application: made, refused, withdrawn, on a date."""

    __tablename__ = "outcomes"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    recorded_by: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(24))
    outcome_date: Mapped[date] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, server_default="", default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    force_code: Mapped[str] = mapped_column(sa.String(32))


@dataclass
class Database:
    engine: sa.Engine
    session: sessionmaker

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


#: PostgreSQL URLs without a driver name mean psycopg 3 (SQLAlchemy's own default is psycopg2,
#: which stalkrisk does not ship); ``postgres://`` is the form Heroku-style tools hand out.
POSTGRES_SCHEMES = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def normalise_url(url: str | None) -> str:
    """``None`` → ``$STALKRISK_DB`` or ``sqlite:///workbench.db``; a bare path → a SQLite URL;
    ``postgresql://`` → ``postgresql+psycopg://``."""
    url = url or os.environ.get("STALKRISK_DB") or DEFAULT_URL
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    return f"{POSTGRES_SCHEMES.get(scheme.lower(), scheme)}://{rest}"


def shown_url(url: str) -> str:
    """A URL as messages show it: never its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("://", 1)[0] + "://..." if "@" in url else url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
    cursor.close()


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """Connect, bring the schema to the newest revision, and return the engine and sessions."""
    url = normalise_url(url)
    sqlite = url.startswith("sqlite")
    try:
        # pre-ping: a PostgreSQL restart (or a failover) leaves pooled connections dead; test each
        # before use rather than fail one request per stale connection.
        engine = sa.create_engine(url, connect_args={"timeout": 30} if sqlite else {}, pool_pre_ping=not sqlite)
    except ImportError as exc:
        hint = " (install the PostgreSQL driver: pip install 'stalkrisk[postgres]')" if "psycopg" in str(exc) else ""
        raise WorkbenchError(f"--db {shown_url(url)!r}: {exc}{hint}") from exc
    except (ArgumentError, ValueError) as exc:
        raise WorkbenchError(f"--db {shown_url(url)!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        database = engine.url.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise WorkbenchError(f"--db {url!r}: the folder {Path(database).parent} does not exist")
    if migrate:
        try:
            upgrade(engine)
        except DBAPIError as exc:  # cannot connect, wrong password, no right to create tables, ...
            raise WorkbenchError(f"--db {engine.url.render_as_string(hide_password=True)}: "
                                 f"{(str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]}") from exc
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def alembic_config() -> Config:
    """Alembic's configuration, built in code (no alembic.ini to find or ship)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


#: The PostgreSQL advisory lock migrations hold (decisions.py holds 2019 while appending).
MIGRATION_LOCK = 2020


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate in one transaction. On PostgreSQL (transactional DDL) a failed migration leaves
    nothing half done, and servers starting at once take turns: the second finds the schema new."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
