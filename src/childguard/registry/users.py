"""Reviewer accounts: argon2id password hashes, roles reviewer | admin."""

from __future__ import annotations

import contextlib
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from childguard.registry.audit import record
from childguard.registry.models import ROLES, Decision, User, WebSession

_HASHER = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 10
# Verifying against this keeps the time of a failed login the same for unknown users.
_DUMMY_HASH = _HASHER.hash("childguard-no-such-user")


class UserError(ValueError):
    """A user operation that is not allowed (bad name, role or password, a duplicate, an unknown user, removing one with decisions); the message says why."""
    pass


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _HASHER.hash(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must have at least {MIN_PASSWORD} characters")


def add_user(session: Session, username: str, password: str, role: str) -> User:
    """Create a reviewer/admin account after checking its fields; records it in the audit."""
    if not _USERNAME.match(username):
        raise UserError("username: 2-64 characters from letters, digits, '_', '.', '-'")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    _check_password(password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    record(session, "cli", "user_add", f"user:{user.id}", {"username": username, "role": role})
    return user


def list_users(session: Session) -> list[User]:
    """Every reviewer and admin account, by user name."""
    return list(session.scalars(select(User).order_by(User.username)))


def get_user(session: Session, username: str) -> User:
    """The account with this user name (UserError if none)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _end_sessions(session: Session, user: User) -> int:
    # a changed password or a disabled account must not leave a signed-in browser behind
    return session.execute(delete(WebSession).where(WebSession.user_id == user.id)).rowcount or 0


def set_disabled(session: Session, username: str, disabled: bool) -> User:
    """Disable (ending its open sessions) or re-enable an account; audited."""
    user = get_user(session, username)
    user.disabled = disabled
    ended = _end_sessions(session, user) if disabled else 0
    action = "user_disable" if disabled else "user_enable"
    record(
        session, "cli", action, f"user:{user.id}", {"username": username, "sessions_ended": ended}
    )
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Set a new password (ending open sessions); audited."""
    _check_password(password)
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    ended = _end_sessions(session, user)
    record(
        session,
        "cli",
        "user_set_password",
        f"user:{user.id}",
        {"username": username, "sessions_ended": ended},
    )
    return user


def remove_user(session: Session, username: str) -> None:
    """Delete an account that never decided anything; one with decisions on record stays (the
    decisions name their reviewer), so it can only be disabled."""
    user = get_user(session, username)
    decided = session.scalar(select(func.count()).where(Decision.user_id == user.id)) or 0
    if decided:
        raise UserError(
            f"user {username!r} has {decided} decision(s) on record; "
            f"disable the account instead (childguard users disable {username})"
        )
    _end_sessions(session, user)
    record(
        session, "cli", "user_remove", f"user:{user.id}", {"username": username, "role": user.role}
    )
    session.delete(user)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user whose password matches, else None (same time either way)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.disabled:
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_DUMMY_HASH, password + "x")
        return None
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
