"""Frame import: demo frames, bad rows reported with file/row/column/reason, all-or-nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openpyxl
import pytest

from sampling.frame_rows import normalize_phone
from sampling.frames import RowError, load_frame, load_frame_dir

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"

UNITS_HEADER = "code,name,level,parent_code,kind,admin_type,admin_centre,commune_hq,neighbour_order\n"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _find(errors: list[RowError], row: int | None, column: str | None) -> RowError:
    for e in errors:
        if e.row == row and e.column == column:
            return e
    raise AssertionError(f"no error at row {row} column {column}: {[str(e) for e in errors]}")


def test_demo_frames_load_and_look_like_lai_chau() -> None:
    f24 = load_frame_dir(DATA / "laichau-2024")
    assert f24.ok, f24.errors[:5]
    districts = f24.frame.at_level("district")
    assert {d.name for d in districts} == {
        "Lai Châu", "Tam Đường", "Phong Thổ", "Sìn Hồ", "Mường Tè", "Than Uyên", "Tân Uyên",
        "Nậm Nhùn"}
    for d in districts:
        communes = f24.frame.children(d.code, "commune")
        assert sum(c.admin_centre for c in communes) == 1
        for c in communes:
            assert c.admin_type in ("I", "II", "III")
            villages = f24.frame.children(c.code, "village")
            assert sum(v.commune_hq for v in villages) == 1
    f25 = load_frame_dir(DATA / "laichau-2025")
    assert f25.ok
    communes = f25.frame.at_level("commune")
    assert len(communes) == 38
    assert {c.name for c in communes if c.kind == "phường"} == {"Tân Phong", "Đoàn Kết"}
    assert any(v.national_survey for v in f25.frame.at_level("village"))


def test_prefer_subdirectory_named_after_plan() -> None:
    result = load_frame_dir(DATA, prefer="laichau-2025")
    assert result.ok and len(result.frame.at_level("commune")) == 38


def test_demo_files_are_regenerated_byte_for_byte(tmp_path: Path) -> None:
    from sampling.data.generate import build_all

    build_all(tmp_path)
    shipped = sorted(p.relative_to(DATA) for p in DATA.glob("*/*.csv"))
    assert shipped, "no demo files shipped"
    for rel in shipped:
        a = hashlib.sha256((DATA / rel).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()
        assert a == b, f"{rel} differs from its regeneration"
    total = sum((DATA / rel).stat().st_size for rel in shipped)
    assert total < 5 * 1024 * 1024


def test_bad_rows_are_all_reported_with_place_and_reason(tmp_path: Path) -> None:
    units = _write(tmp_path / "units.csv", UNITS_HEADER + "\n".join([
        "P,Lai Châu,province,,tỉnh,,,,",                 # row 2 ok
        "D1,Tam Đường,district,P,huyện,,,,",             # row 3 ok
        "C1,Bình Lư,commune,D1,xã,I,1,,",                # row 4 ok
        "C2,,commune,D1,xã,II,,,",                       # row 5 name missing
        "C3,Bản Bo,hamlet-ish,D1,xã,II,,,",              # row 6 bad level
        "C4,Nà Tăm,commune,D1,xã,IV,,,",                 # row 7 bad type
        "C1,Khun Há,commune,D1,xã,II,,,",                # row 8 duplicate code
        "V1,Nà Bó,village,C9,bản,,,1,1",                 # row 9 unknown parent
        "V2,Nà Lại,village,C1,bản,,,1,2",                # row 10 ok, HQ of C1
        "V3,Co Hồ,village,C1,bản,,,1,3",                 # row 11 second HQ in C1
        "C5,Sơn Bình,commune,D1,xã,II,có,,",             # row 12 second centre in D1
        "V4,Pá Khem,village,C1,bản,II,,,4",              # row 13 admin type on a village
        "V5,Pá Bó,village,C1,bản,,,,x",                  # row 14 bad neighbour order
    ]) + "\n")
    households = _write(tmp_path / "households.csv",
                        "household_id,village_code,head_name,sub_hamlet,phone\n"
                        "H1,V3,Lò Văn Thắng,Đội 1,0912345678\n"         # row 2 ok
                        "H2,V3,,Đội 1,\n"                               # row 3 head missing
                        "H3,V3,Giàng A Páo,Đội 2,12345\n"               # row 4 bad phone
                        "H1,V3,Tòng Thị Hoa,Đội 2,\n"                   # row 5 duplicate id
                        "H5,NOPE,Vàng Mí Lử,,\n"                        # row 6 unknown village
                        "H6,C1,Sùng Seo Chứ,,\n")                       # row 7 not a village
    result = load_frame([units, households])
    assert result.frame is None and not result.ok  # nothing half-imported
    errs = result.errors
    u, h = str(units), str(households)
    assert "required value missing" in _find(errs, 5, "name").reason
    assert _find(errs, 5, "name").file == u
    assert "level" in _find(errs, 6, "level").reason
    assert "I, II or III" in _find(errs, 7, "admin_type").reason
    assert "duplicates" in _find(errs, 8, "code").reason and f"{u}:4" in _find(errs, 8, "code").reason
    assert "C9" in _find(errs, 9, "parent_code").reason
    assert "whole number" in _find(errs, 14, "neighbour_order").reason
    assert "commune HQ is already flagged" in _find(errs, 11, "commune_hq").reason
    assert "administrative centre" in _find(errs, 12, "admin_centre").reason
    assert "communes only" in _find(errs, 13, "admin_type").reason
    assert _find(errs, 3, "head_name").file == h
    assert "Vietnamese mobile" in _find(errs, 4, "phone").reason
    assert "duplicate household id" in _find(errs, 5, "household_id").reason
    assert "NOPE" in _find(errs, 6, "village_code").reason
    assert "not a village" in _find(errs, 7, "village_code").reason
    # Vietnamese first, English second, in every reason.
    assert all("/" in e.reason for e in errs)
    assert len(errs) == 14


def test_missing_required_column_and_unknown_list(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", "code,level,parent_code\nX,commune,\n")
    b = _write(tmp_path / "b.csv", "foo,bar\n1,2\n")
    result = load_frame([a, b])
    assert result.frame is None
    assert _find(result.errors, 1, "name").reason.startswith("thiếu cột bắt buộc")
    assert "unrecognised list" in _find(result.errors, 1, None).reason


def test_bom_and_vietnamese_headers_and_semicolons(tmp_path: Path) -> None:
    text = ("Mã;Tên;Cấp;Mã cấp trên;Loại;Trung tâm hành chính;Ghi chú\n"
            "P;Lai Châu;tỉnh;;;;\n"
            "D;Than Uyên;huyện;P;;;\n"
            "C;Mường Kim;xã;D;loại I;x;ghi chú tự do\n")
    path = _write(tmp_path / "donvi.csv", text, "utf-8-sig")
    result = load_frame([path])
    assert result.ok, result.errors
    c = result.frame.unit("C")
    bad = _write(tmp_path / "donvi.csv", text.replace("D;Than Uyên;huyện;P", "D;Than Uyên;huyện;Q"), "utf-8-sig")
    err = load_frame([bad]).errors[0]
    assert (err.row, err.column) == (3, "Mã cấp trên")  # the column as written in the file
    assert (c.level, c.admin_type, c.admin_centre) == ("commune", "I", True)


def test_non_utf8_file_is_rejected_clearly(tmp_path: Path) -> None:
    path = _write(tmp_path / "units.csv", UNITS_HEADER + "P,Lai Châu,province,,,,,,\n", "cp1258")
    result = load_frame([path])
    assert result.frame is None
    assert "UTF-8" in result.errors[0].reason and result.errors[0].file == str(path)


def test_xlsx_matches_csv(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "name", "level", "parent_code", "commune_hq", "neighbour_order"])
    ws.append(["P", "Lai Châu", "province", None, None, None])
    ws.append(["D", "Sìn Hồ", "district", "P", None, None])
    ws.append(["C", "Noong Hẻo", "commune", "D", None, None])
    ws.append(["V", "Nà Bó", "village", "C", 1, 2])
    wb.create_sheet("households")
    wb.save(tmp_path / "units.xlsx")
    wb2 = openpyxl.Workbook()
    ws2 = wb2.active
    ws2.append(["Mã hộ", "Mã bản", "Họ tên chủ hộ", "Xóm", "Điện thoại"])
    ws2.append([1, "V", "Lò Thị Hoa", "Xóm Trên", 912345678])  # the leading 0 lost by Excel
    ws2.append([None, None, None, None, None])  # blank rows are skipped
    ws2.append([2, "V", "Lò Văn Ún", "", None])
    wb2.save(tmp_path / "hh.xlsx")
    result = load_frame([tmp_path / "units.xlsx", tmp_path / "hh.xlsx"])
    assert result.ok, result.errors
    hh = result.frame.households_of("V")
    assert [h.household_id for h in hh] == ["1", "2"]
    assert hh[0].phone == "+84912345678" and hh[1].phone is None
    assert result.frame.unit("V").commune_hq and result.frame.unit("V").neighbour_order == 2


def test_xlsx_bad_row_numbers_are_sheet_rows(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["code", "name", "level"])
    ws.append(["P", "Lai Châu", "province"])
    ws.append([None, None, None])
    ws.append(["X", "Xa", "planet"])
    wb.save(tmp_path / "u.xlsx")
    result = load_frame([tmp_path / "u.xlsx"])
    err = _find(result.errors, 4, "level")
    assert "planet" in err.reason


def test_households_against_known_units(tmp_path: Path) -> None:
    base = load_frame_dir(DATA / "laichau-2025").frame
    village = base.at_level("village")[0]
    hh = _write(tmp_path / "hh.csv", f"household_id,village_code,head_name\nZ1,{village.code},Lò Văn A\n")
    result = load_frame([hh], known_units=base.units)
    assert result.ok and result.counts["households"] == 1


def test_service_users(tmp_path: Path) -> None:
    path = _write(tmp_path / "su.csv",
                  "Mã hồ sơ,Cơ quan,Lĩnh vực,Họ tên,Địa chỉ,Điện thoại,Telegram\n"
                  "A1,Sở Tư pháp,Lĩnh vực Lý lịch tư pháp,Nguyễn Văn Hùng,Tân Phong,+84 912 345 678,@hung_lc\n"
                  "A2,Sở Tư pháp,Lĩnh vực Lý lịch tư pháp,Trần Thị Lan,,0912.345.679,12ab\n")
    result = load_frame([path])
    assert result.frame is None
    err = _find(result.errors, 3, "Telegram")
    assert "Telegram" in err.reason
    fixed = _write(tmp_path / "su.csv", path.read_text(encoding="utf-8").replace(",12ab", ",123456"))
    result = load_frame([fixed])
    assert result.ok and result.frame.service_users[0].phone == "+84912345678"


@pytest.mark.parametrize("raw,expected", [
    ("0912345678", "+84912345678"), ("+84 912 345 678", "+84912345678"),
    ("84912345678", "+84912345678"), ("912345678", "+84912345678"), ("0386.123.456", "+84386123456"),
])
def test_phone_normalisation(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "0212345678", "091234567", "phone"])
def test_phone_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(raw)
