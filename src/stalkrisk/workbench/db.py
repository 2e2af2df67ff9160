"""The workbench database: SQLAlchemy 2 models, the engine, and migrations applied on open.

SQLite is the embedded default (a file, nothing to set up); PostgreSQL works by URL once its
driver is installed. The schema belongs to Alembic (``migrations/``, shipped in the package);
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
from sqlalchemy.exc import ArgumentError, OperationalError
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
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
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
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Decision(Base):
    """One reviewer's decision on one case, with what the screen showed them at the time."""

    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    reviewer: Mapped[str] = mapped_column(sa.String(64))
    decision: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.Text)
    conditions: Mapped[str] = mapped_column(sa.Text, server_default="", default="")
    decided_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    model_name: Mapped[str] = mapped_column(sa.String(255))
    model_version: Mapped[str] = mapped_column(sa.String(64))
    score: Mapped[float | None] = mapped_column(sa.Float)
    risk_band: Mapped[str] = mapped_column(sa.String(16))
    queue: Mapped[str] = mapped_column(sa.String(32))
    queue_reason: Mapped[str] = mapped_column(sa.Text)
    threshold: Mapped[float | None] = mapped_column(sa.Float)
    force_code: Mapped[str] = mapped_column(sa.String(32))
    flagged_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
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
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    force_code: Mapped[str] = mapped_column(sa.String(32))


@dataclass
class Database:
    engine: sa.Engine
    session: sessionmaker

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


def normalise_url(url: str | None) -> str:
    """``None`` → ``$STALKRISK_DB`` or ``sqlite:///workbench.db``; a bare path → a SQLite URL."""
    url = url or os.environ.get("STALKRISK_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the one writer
    cursor.close()


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    """Connect, bring the schema to the newest revision, and return the engine and sessions."""
    url = normalise_url(url)
    try:
        engine = sa.create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    except (ArgumentError, ImportError, ValueError) as exc:
        raise WorkbenchError(f"--db {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        database = engine.url.database
        if database and database != ":memory:" and not Path(database).parent.is_dir():
            raise WorkbenchError(f"--db {url!r}: the folder {Path(database).parent} does not exist")
    if migrate:
        try:
            upgrade(engine)
        except OperationalError as exc:
            raise WorkbenchError(f"--db {engine.url.render_as_string(hide_password=True)}: "
                                 f"{str(exc.orig).splitlines()[0]}") from exc
    return Database(engine, sessionmaker(engine, expire_on_commit=False))


def alembic_config() -> Config:
    """Alembic's configuration, built in code (no alembic.ini to find or ship)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
