"""Staff passwords: argon2id (argon2-cffi), with its current recommended parameters.

A hash carries its own parameters, so raising them later only needs ``needs_rehash`` at the next
login. Length limits are checked before hashing: a megabyte-long "password" must not cost the
server a megabyte of argon2 work.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """Verified against when the user name is unknown, so that the answer takes as long either way.

    Made on first need, not at import: every ``hailong`` process that mounts the staff commands
    (``hailong run`` too, for ``--web``) imports this module and paid an argon2 hash (~0.35 s)
    it never used. The console makes it when it builds its app (``make_app``), before the first
    login, so the first unknown name is not answered faster than the next.
    """
    return _hasher.hash("not-a-real-password-hailong")


class PasswordRejected(ValueError):
    """A new password that does not meet the policy (bilingual message)."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"mật khẩu cần ít nhất {MIN_LENGTH} ký tự / the password needs at least "
                               f"{MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"mật khẩu dài quá {MAX_LENGTH} ký tự / the password is longer than {MAX_LENGTH}")
    if password.strip() != password or not password.strip():
        raise PasswordRejected("mật khẩu không được bắt đầu hay kết thúc bằng khoảng trắng / the password must "
                               "not start or end with a space")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; an unknown account (``None``) costs the same time and fails."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
