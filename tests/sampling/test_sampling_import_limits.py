"""Imports have limits (issue 12, item 8): an oversized frame or paper-entry file is refused early,
with a bilingual message naming the limit and saying to split the file.

Limits are lowered through their environment variables to keep files small; one check uses the
real defaults: an XLSX declaring 1.5 million rows (the case that took 272 s and 600 MB) is refused
in well under a second.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from typer.testing import CliRunner

from analytics.paper import read_entry_file
from hailong.cli import app
from sampling.frame_tables import read_table
from sampling.frames import load_frame
from sampling.import_limits import FRAME_MAX_ROWS, ImportTooLarge, limits_for, xlsx_declared_rows

HEADER = ["household_id", "village_code", "head_name", "sub_hamlet"]
UNITS = "code,name,level,parent_code\nP,Lai Châu,province,\nC,Xã A,commune,P\nV,Bản B,village,C\n"


def _rows(n: int) -> list[list[str]]:
    return [[f"H{i:07d}", "V", f"Chủ hộ {i}", ""] for i in range(n)]


def write_csv(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(_rows(n))
    return path


def write_xlsx(path: Path, n: int) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Hộ")
    ws.write_row(0, 0, HEADER)
    for i, r in enumerate(_rows(n), start=1):
        ws.write_row(i, 0, r)
    wb.close()
    return path


def rewrite_dimension(path: Path, ref: str | None) -> Path:
    """The same workbook with its first sheet's <dimension> forged (``ref``) or removed (None)."""
    src = zipfile.ZipFile(path)
    out = path.with_name("forged-" + path.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"<dimension ref=\"[^\"]*\"/>", b"" if ref is None else
                              f'<dimension ref="{ref}"/>'.encode(), data)
            z.writestr(info, data)
    return out


def units_file(tmp_path: Path) -> Path:
    p = tmp_path / "units.csv"
    p.write_text(UNITS, encoding="utf-8")
    return p


def _only_error(paths: list[Path]) -> str:
    result = load_frame(paths)
    assert not result.ok
    msgs = [str(e) for e in result.errors]
    assert len(msgs) == 1, msgs
    return " ".join(msgs[0].split())


# ------------------------------------------------------------------ frames


@pytest.mark.parametrize("writer", [write_csv, write_xlsx])
def test_a_frame_at_the_limit_loads_and_one_row_more_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 writer) -> None:  # noqa: ANN001
    monkeypatch.setenv("HAILONG_FRAME_MAX_ROWS", "50")
    suffix = ".csv" if writer is write_csv else ".xlsx"
    ok = writer(tmp_path / f"ok{suffix}", 50)
    result = load_frame([units_file(tmp_path), ok])
    assert result.ok, result.errors
    assert len(result.frame.households) == 50
    msg = _only_error([units_file(tmp_path), writer(tmp_path / f"big{suffix}", 51)])
    assert "vượt giới hạn 50 dòng" in msg and "over the limit of 50 rows" in msg
    assert "hãy tách" in msg and "split it" in msg and "HAILONG_FRAME_MAX_ROWS" in msg


@pytest.mark.parametrize("ref", [None, "A1:D2"])
def test_a_missing_or_forged_dimension_is_stopped_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                ref: str | None) -> None:
    monkeypatch.setenv("HAILONG_FRAME_MAX_ROWS", "50")
    forged = rewrite_dimension(write_xlsx(tmp_path / "hh.xlsx", 80), ref)
    assert xlsx_declared_rows(forged) == (None if ref is None else 2)
    with pytest.raises(ImportTooLarge, match="more than 50 rows"):
        read_table(forged, limits_for("frame"))


def test_a_forged_small_dimension_does_not_cut_rows(tmp_path: Path) -> None:
    forged = rewrite_dimension(write_xlsx(tmp_path / "hh.xlsx", 30), "A1:D2")
    result = load_frame([units_file(tmp_path), forged])
    assert result.ok, result.errors
    assert len(result.frame.households) == 30                 # not just the one row the dimension names


def test_a_declared_million_rows_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    """The real defaults: a sheet declaring Excel's maximum, 1 048 576 rows (header, one household,
    a cell on the last row)."""
    path = tmp_path / "national.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, HEADER)
    ws.write_row(1, 0, _rows(1)[0])
    ws.write(1_048_575, 0, "H9999999")
    wb.close()
    assert xlsx_declared_rows(path) == 1_048_576
    t = time.perf_counter()
    msg = _only_error([path])
    elapsed = time.perf_counter() - t
    assert elapsed < 0.5, f"refusal took {elapsed:.2f} s"
    assert f"{FRAME_MAX_ROWS:,}" in msg and "1,048,575 rows" in msg and "one file per district" in msg


def test_the_frame_command_refuses_a_big_file_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILONG_FRAME_MAX_ROWS", "10")
    big = write_csv(tmp_path / "households.csv", 11)
    r = CliRunner().invoke(app, ["frame", "import", str(units_file(tmp_path)), str(big)], catch_exceptions=False)
    out = " ".join(r.output.split())
    assert r.exit_code == 1 and "Traceback" not in out
    assert "households.csv" in out and "10" in out and "split" in out


def test_a_file_too_big_on_disk_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILONG_IMPORT_MAX_MB", "1")
    big = tmp_path / "households.csv"
    big.write_bytes(b"household_id,village_code,head_name\n" + b"\xff" * (1024 * 1024 + 1))  # not even UTF-8
    msg = _only_error([big])
    assert "vượt giới hạn 1 MB" in msg and "over the limit of 1 MB" in msg and "HAILONG_IMPORT_MAX_MB" in msg


def test_an_xlsx_that_unpacks_too_big_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip bomb in spirit: a small file whose sheet XML inflates past the unpacked limit."""
    monkeypatch.setenv("HAILONG_XLSX_MAX_UNPACKED_MB", "1")
    path = rewrite_dimension(write_xlsx(tmp_path / "hh.xlsx", 20_000), None)
    assert path.stat().st_size < 1024 * 1024
    msg = _only_error([path])
    assert "khi giải nén" in msg and "unpacked" in msg and "HAILONG_XLSX_MAX_UNPACKED_MB" in msg


def test_hostile_csv_and_xlsx_files_get_a_message_not_a_traceback(tmp_path: Path) -> None:
    huge_cell = tmp_path / "units.csv"
    huge_cell.write_text("code,name,level\nP," + "x" * 200_000 + ",province\n", encoding="utf-8")
    assert "broken CSV file at line 2" in _only_error([huge_cell])
    not_zip = tmp_path / "fake.xlsx"
    not_zip.write_bytes(b"PK\x03\x04 this is not a workbook")
    assert "cannot read the Excel file" in _only_error([not_zip])
    empty_zip = tmp_path / "empty.xlsx"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("hello.txt", "x")
    assert xlsx_declared_rows(empty_zip) is None
    assert "cannot read the Excel file" in _only_error([empty_zip])


def test_a_bad_limit_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILONG_FRAME_MAX_ROWS", "lots")
    with pytest.raises(ValueError, match="HAILONG_FRAME_MAX_ROWS='lots' .* positive integer"):
        limits_for("frame")
    monkeypatch.setenv("HAILONG_FRAME_MAX_ROWS", "250_000")
    assert limits_for("frame").max_rows == 250_000
    monkeypatch.delenv("HAILONG_FRAME_MAX_ROWS")
    assert limits_for("frame").max_rows == FRAME_MAX_ROWS and limits_for("paper").max_rows == 20_000


# ------------------------------------------------------------------ paper-entry files


def _paper_csv(path: Path, n: int) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["unit_code", "household_ref", "sex"])
    w.writerow(["Mã đơn vị (thôn, bản / cơ quan) — bắt buộc", "Mã hộ", "Giới tính"])  # the template's text row
    w.writerows([["V", f"H{i}", "1"] for i in range(n)])
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
    return path


def _paper_xlsx(path: Path, n: int) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Nhập phiếu")
    ws.write_row(0, 0, ["unit_code", "household_ref", "sex"])
    ws.write_row(1, 0, ["Mã đơn vị (thôn, bản / cơ quan) — bắt buộc", "Mã hộ", "Giới tính"])
    for i in range(n):
        ws.write_row(i + 2, 0, ["V", f"H{i}", "1"])
    wb.close()
    return path


@pytest.mark.parametrize("writer", [_paper_csv, _paper_xlsx])
def test_paper_files_over_the_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                writer) -> None:  # noqa: ANN001
    monkeypatch.setenv("HAILONG_PAPER_MAX_ROWS", "20")
    suffix = ".csv" if writer is _paper_csv else ".xlsx"
    assert len(read_entry_file(writer(tmp_path / f"ok{suffix}", 20))) == 20
    with pytest.raises(ImportTooLarge) as exc:
        read_entry_file(writer(tmp_path / f"big{suffix}", 21))
    msg = str(exc.value)
    assert "tệp phiếu giấy" in msg and "paper-entry file" in msg and "20" in msg and "import each one" in msg


def test_a_paper_xlsx_declaring_a_million_rows_is_refused_at_once(tmp_path: Path) -> None:
    path = _paper_xlsx(tmp_path / "p.xlsx", 3)
    wb = xlsxwriter.Workbook(str(tmp_path / "q.xlsx"))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["unit_code", "household_ref", "sex"])
    ws.write(1_048_575, 0, "V")
    wb.close()
    t = time.perf_counter()
    with pytest.raises(ImportTooLarge, match="over the limit of 20,000 rows"):
        read_entry_file(tmp_path / "q.xlsx")
    assert time.perf_counter() - t < 0.5
    assert len(read_entry_file(path)) == 3
