"""Files that hold personal data are created readable by their owner only.

Why: the database, invite lists (tokens, card codes), re-check exports (names, phones, addresses),
sample lists (household heads) and QR cards (a card is a credential) sit on shared office machines
and servers. Whatever the umask of the shell that ran ``hailong``, such a file is created with
mode 0600 and a directory hailong creates for it with 0700; a file that already existed is
tightened to 0600 when it is overwritten. (The bot's systemd unit also sets ``UMask=0077``, which
covers SQLite's ``-wal``/``-shm`` files: SQLite gives them the database file's own mode anyway.)

Every writer of such a file calls one of the helpers below; nothing else decides a mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["PRIVATE_FILE_MODE", "PRIVATE_DIR_MODE", "make_private_dirs", "create_private_file",
           "open_private", "create_private_if_missing"]

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def make_private_dirs(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` and its missing parents with mode 0700; existing ones are left as they
    are (they belong to someone, and may be shared on purpose)."""
    d = Path(directory)
    missing = []
    p = d
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for m in reversed(missing):
        try:
            m.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # created meanwhile by someone else: not ours to change
            continue
        os.chmod(m, PRIVATE_DIR_MODE)  # mkdir's mode is reduced by the umask, never widened
    return d


def _open_fd(path: Path, flags: int) -> int:
    make_private_dirs(path.parent)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # an existing file keeps its mode on O_CREAT: tighten it
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing ("w", "wb", "a", "ab"), the file being owner-only."""
    if mode.strip("bt") not in ("w", "a"):
        raise ValueError(f"open_private writes only ('w', 'wb', 'a', 'ab'), not {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    return os.fdopen(_open_fd(Path(path), flags), mode, **kwargs)


def create_private_file(path: str | os.PathLike[str]) -> Path:
    """Create (or truncate) ``path`` as an empty owner-only file, for libraries that insist on
    opening the file by name themselves (xlsxwriter, fpdf): they truncate it and keep its mode."""
    p = Path(path)
    os.close(_open_fd(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    return p


def create_private_if_missing(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty and owner-only if it does not exist (the database: never truncated,
    and an existing one keeps the mode its owner gave it). True when it was created here."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    return True
