"""Accounts: argon2id password hashes, roles, force scoping, and rate-limited sign-in.

Roles: a ``reviewer`` decides on the cases of one force; a ``supervisor`` decides on those of
one or more forces; an ``auditor`` reads every force and decides nothing. Failed sign-ins are
counted per username and address in the database (so a restart does not reset them), and
after ``MAX_FAILURES`` within ``FAILURE_WINDOW`` that pair is refused until the window passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from stalkrisk.workbench import WorkbenchError
from stalkrisk.workbench.db import Database, SignInFailure, User, UserForce, as_utc, utcnow

ROLES = ("reviewer", "supervisor", "auditor")
DECIDING_ROLES = ("reviewer", "supervisor")
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 12
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
FORCE_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults
_DUMMY_HASH = _hasher.hash("a password nobody has")


@dataclass(frozen=True)
class Account:
    """What the app needs of a signed-in user (no hash)."""

    id: int
    username: str
    role: str
    forces: tuple[str, ...]
    disabled: bool

    @property
    def sees_all_forces(self) -> bool:
        return self.role == "auditor"

    @property
    def may_decide(self) -> bool:
        return self.role in DECIDING_ROLES

    def may_see(self, force_code: str) -> bool:
        return self.sees_all_forces or force_code in self.forces


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.role, user.force_codes, bool(user.disabled))


def check_new_user(username: str, role: str, forces: list[str], password: str) -> tuple[str, ...]:
    """The rules for a new account; returns the forces, deduplicated and sorted."""
    if not USERNAME.match(username or ""):
        raise WorkbenchError(f"user name {username!r}: use 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise WorkbenchError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    codes = tuple(sorted(set(forces)))
    for code in codes:
        if not FORCE_CODE.match(code):
            raise WorkbenchError(f"force {code!r}: use 1-32 letters, digits, _ or -")
    if role == "reviewer" and len(codes) != 1:
        raise WorkbenchError("a reviewer works for exactly one force: give --force once")
    if role == "supervisor" and not codes:
        raise WorkbenchError("a supervisor needs at least one --force")
    if len(password) < MIN_PASSWORD:
        raise WorkbenchError(f"the password must have at least {MIN_PASSWORD} characters")
    return codes


def add_user(db: Database, username: str, role: str, forces: list[str], password: str) -> Account:
    codes = check_new_user(username, role, forces, password)
    exists = WorkbenchError(f"user {username!r} already exists")
    try:
        with db.session.begin() as s:
            if s.scalar(sa.select(User.id).where(User.username == username)) is not None:
                raise exists
            user = User(username=username, password_hash=_hasher.hash(password), role=role,
                        disabled=False, created_at=utcnow(), forces=[UserForce(force_code=c) for c in codes])
            s.add(user)
            s.flush()
            return _account(user)
    except sa.exc.IntegrityError:  # added at the same moment by someone else (the unique name)
        raise exists from None


def list_users(db: Database) -> list[Account]:
    with db.session() as s:
        return [_account(u) for u in s.scalars(sa.select(User).order_by(User.username))]


def disable_user(db: Database, username: str) -> Account:
    """Disable (never delete: decisions name their reviewer) an account; takes effect at once."""
    with db.session.begin() as s:
        user = s.scalar(sa.select(User).where(User.username == username))
        if user is None:
            raise WorkbenchError(f"no user {username!r}")
        user.disabled, user.disabled_at = True, utcnow()
        return _account(user)


def get_account(db: Database, user_id: int) -> Account | None:
    with db.session() as s:
        user = s.get(User, user_id)
        return None if user is None else _account(user)


def _recent_failures(s, username: str, ip: str) -> int:
    since = utcnow() - FAILURE_WINDOW
    rows = s.scalars(sa.select(SignInFailure.at).where(
        SignInFailure.username == username, SignInFailure.ip == ip))
    return sum(1 for at in rows if as_utc(at) >= since)


class TooManyAttempts(Exception):
    """This username and address failed ``MAX_FAILURES`` times within the window."""


def authenticate(db: Database, username: str, password: str, ip: str) -> Account | None:
    """The account when the password is right and the account active, else ``None``.

    Raises ``TooManyAttempts`` before checking anything once the pair is over the limit. An
    unknown name costs the same hash check as a known one, so timing does not tell them apart.
    """
    username, ip = username[:64], ip[:64]
    with db.session.begin() as s:
        if _recent_failures(s, username, ip) >= MAX_FAILURES:
            raise TooManyAttempts(username)
        user = s.scalar(sa.select(User).where(User.username == username))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
            ok = user is not None and not user.disabled
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            s.add(SignInFailure(username=username, ip=ip, at=utcnow()))
            return None
        s.execute(sa.delete(SignInFailure).where(SignInFailure.username == username, SignInFailure.ip == ip))
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return _account(user)
