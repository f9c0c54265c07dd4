"""The demo's output directory: the demo only ever empties a directory that it created itself.

Why: ``python -m demo --out DIR`` starts from a clean directory, and used to get one with
``shutil.rmtree(DIR)``; a typo (``--out .``, ``--out ~/Documents``) deleted whatever was there.
Now the demo writes a marker file into every directory it creates; on the next run it empties a
directory only if the marker is there. An existing directory without the marker is refused unless
it is empty (then it is adopted and marked). The directory is created owner-only (0700): the demo
database and cards hold tokens.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from storage.private_files import make_private_dirs, open_private

__all__ = ["MARKER_NAME", "MARKER_TEXT", "DemoOutputRefused", "prepare_output_dir", "is_demo_output"]

MARKER_NAME = ".hailong-demo-output"
MARKER_TEXT = ("hailong demo output: 'make demo' (python -m demo --out) empties this directory on its "
               "next run.\n"
               "Kết quả demo hailong: 'make demo' (python -m demo --out) xóa nội dung thư mục này ở lần "
               "chạy sau.\n")
#: Written when the demo was ``hailong demo``: an output directory of that version is still
#: recognised as the demo's own.
_EARLIER_MARKER_TEXTS = (
    "hailong demo output: 'hailong demo --out' empties this directory on its next run.\n"
    "Kết quả demo hailong: 'hailong demo --out' xóa nội dung thư mục này ở lần chạy sau.\n",
)


class DemoOutputRefused(Exception):
    """The output directory is not the demo's to empty (bilingual message)."""


def is_demo_output(directory: Path) -> bool:
    """True when ``directory`` carries the demo's marker (a regular file with the demo's text)."""
    marker = directory / MARKER_NAME
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        with marker.open("r", encoding="utf-8") as fh:
            text = fh.read(max(len(t) for t in (MARKER_TEXT, *_EARLIER_MARKER_TEXTS)) + 1)
        return text in (MARKER_TEXT, *_EARLIER_MARKER_TEXTS)
    except (OSError, UnicodeDecodeError):
        return False


def _empty(directory: Path) -> None:
    """Remove everything inside ``directory`` except the marker (links are removed, not followed)."""
    for child in directory.iterdir():
        if child.name == MARKER_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def prepare_output_dir(directory: Path) -> Path:
    """Give the demo an empty, marked, owner-only ``directory``; raise DemoOutputRefused for a
    directory (or file, or link) that the demo did not create."""
    d = Path(directory)
    if d.is_symlink():
        raise DemoOutputRefused(
            f"{d} là một liên kết (symlink); demo không ghi qua liên kết, hãy chọn --out khác / "
            f"{d} is a symbolic link; the demo does not write through links, choose another --out")
    if d.exists():
        if not d.is_dir():
            raise DemoOutputRefused(f"{d} không phải thư mục / {d} is not a directory")
        if is_demo_output(d):
            _empty(d)
            with open_private(d / MARKER_NAME, "w", encoding="utf-8") as fh:
                fh.write(MARKER_TEXT)   # an earlier version's marker is brought up to date
            return d
        if any(d.iterdir()):
            raise DemoOutputRefused(
                f"thư mục {d} đã có và không do 'python -m demo' tạo ra, nên không bị xóa; hãy chọn "
                f"--out khác hoặc tự xóa thư mục đó / {d} already exists and was not created by "
                f"'python -m demo', so it is not deleted; choose another --out or remove it yourself")
    make_private_dirs(d)
    with open_private(d / MARKER_NAME, "w", encoding="utf-8") as fh:
        fh.write(MARKER_TEXT)
    return d
