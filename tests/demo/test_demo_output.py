"""``python -m demo --out DIR`` empties only a directory that a demo created (issue 12, item 7).

Before, any existing DIR was removed with everything in it (``--out .`` deleted the working
directory). Hostile cases: a forged or linked marker, a link as DIR, links inside a marked DIR.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from demo.round import cli_app
from demo.output import MARKER_NAME, MARKER_TEXT, DemoOutputRefused, is_demo_output, prepare_output_dir


def _precious(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    f = d / "thesis.docx"
    f.write_text("years of work")
    return f


def test_a_new_directory_is_created_private_and_marked(tmp_path: Path) -> None:
    d = prepare_output_dir(tmp_path / "a" / "demo")
    assert d.is_dir() and is_demo_output(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert (d / MARKER_NAME).read_text(encoding="utf-8") == MARKER_TEXT


def test_a_marked_directory_is_emptied_but_links_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    keep = _precious(outside)
    d = prepare_output_dir(tmp_path / "demo")
    (d / "exports" / "csv").mkdir(parents=True)
    (d / "exports" / "csv" / "a.csv").write_text("x")
    (d / "hailong-demo.db").write_text("db")
    (d / "link-to-outside").symlink_to(outside, target_is_directory=True)
    (d / "file-link").symlink_to(keep)
    assert prepare_output_dir(d) == d
    assert sorted(p.name for p in d.iterdir()) == [MARKER_NAME]
    assert keep.read_text() == "years of work"


def test_an_empty_existing_directory_is_adopted(tmp_path: Path) -> None:
    d = tmp_path / "empty"
    d.mkdir()
    prepare_output_dir(d)
    assert is_demo_output(d)


@pytest.mark.parametrize("case", ["unmarked", "forged-marker", "marker-is-link", "marker-is-dir"])
def test_a_directory_the_demo_did_not_create_is_refused_untouched(tmp_path: Path, case: str) -> None:
    d = tmp_path / "mine"
    keep = _precious(d)
    if case == "forged-marker":
        (d / MARKER_NAME).write_text("anything")
    elif case == "marker-is-link":
        real = prepare_output_dir(tmp_path / "real-demo") / MARKER_NAME
        (d / MARKER_NAME).symlink_to(real)
    elif case == "marker-is-dir":
        (d / MARKER_NAME).mkdir()
    with pytest.raises(DemoOutputRefused) as exc:
        prepare_output_dir(d)
    assert "không do 'python -m demo' tạo ra" in str(exc.value) and "not created by 'python -m demo'" in str(exc.value)
    assert keep.read_text() == "years of work"


def test_a_file_or_a_link_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "report.pdf"
    f.write_text("x")
    with pytest.raises(DemoOutputRefused, match="not a directory"):
        prepare_output_dir(f)
    marked = prepare_output_dir(tmp_path / "demo")
    (marked / "result.txt").write_text("x")
    link = tmp_path / "link"
    link.symlink_to(marked, target_is_directory=True)
    with pytest.raises(DemoOutputRefused, match="symbolic link"):
        prepare_output_dir(link)
    assert (marked / "result.txt").exists()


def test_the_command_refuses_cleanly_and_deletes_nothing(tmp_path: Path) -> None:
    keep = _precious(tmp_path / "work")
    cwd = os.getcwd()
    os.chdir(tmp_path / "work")
    try:
        r = CliRunner().invoke(cli_app(), ["--quick", "--out", "."], catch_exceptions=False)
    finally:
        os.chdir(cwd)
    out = " ".join(r.output.split())
    assert r.exit_code == 2, r.output
    assert "không do 'python -m demo' tạo ra" in out and "choose another --out" in out and "Traceback" not in out
    assert keep.read_text() == "years of work"


def test_an_output_directory_of_the_earlier_hailong_demo_is_still_the_demos(tmp_path: Path) -> None:
    """Directories written when the demo was ``hailong demo`` carry the old marker text."""
    d = tmp_path / "old"
    d.mkdir()
    (d / MARKER_NAME).write_text(
        "hailong demo output: 'hailong demo --out' empties this directory on its next run.\n"
        "Kết quả demo hailong: 'hailong demo --out' xóa nội dung thư mục này ở lần chạy sau.\n",
        encoding="utf-8")
    (d / "old-report.html").write_text("x", encoding="utf-8")
    assert is_demo_output(d)
    prepare_output_dir(d)
    assert not (d / "old-report.html").exists()
    assert "make demo" in (d / MARKER_NAME).read_text(encoding="utf-8")
    (d / MARKER_NAME).write_text("something else\n", encoding="utf-8")
    assert not is_demo_output(d)
