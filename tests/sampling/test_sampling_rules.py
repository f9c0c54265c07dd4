"""The rule engine: each plan reproduced on the demo frame with its reasons, and the edge cases."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sampling.builder import stage_rng
from sampling.explain import explain
from sampling.frame_rows import HouseholdRow, ServiceUserRow, UnitRow
from sampling.frames import Frame, load_frame_dir
from sampling.plan_schema import HouseholdOverride, Plan, PlanError, load_plan, plan_names
from sampling.households import allocate
from sampling.rules import _adjacent, draw
from sampling.selection import SamplingError, Selection
from sampling.selection_io import read_selection, write_selection

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"


@pytest.fixture(scope="module")
def frames() -> dict[str, Frame]:
    out = {}
    for name in ("laichau-2024", "laichau-2025", "laichau-2021-services"):
        result = load_frame_dir(DATA / name)
        assert result.ok, result.errors[:3]
        out[name] = result.frame
    return out


def _by_name(sel: Selection, level: str) -> dict[str, Any]:
    return {u.name: u for u in sel.units_at(level)}


# ------------------------------------------------------------------ plans on the demo frame


def test_shipped_plans_load() -> None:
    assert set(plan_names()) >= {"laichau-2024", "laichau-2025", "laichau-2021-services"}
    assert load_plan("laichau-2024").recheck_share == 0.20
    assert load_plan("laichau-2025").recheck_share == 0.10
    assert load_plan("laichau-2021-services").recheck_share == 0.20


def test_plan_2024_on_demo_frame(frames: dict[str, Frame]) -> None:
    plan = load_plan("laichau-2024")
    frame = frames["laichau-2024"]
    sel = draw(plan, frame)
    communes = sel.units_at("commune")
    per_district = Counter(u.parent_code for u in communes)
    names = {d.code: d.name for d in frame.at_level("district")}
    assert {names[c]: n for c, n in per_district.items()} == {
        "Lai Châu": 3, "Tam Đường": 3, "Phong Thổ": 5, "Sìn Hồ": 5, "Mường Tè": 3,
        "Than Uyên": 3, "Tân Uyên": 3, "Nậm Nhùn": 3}
    chosen = {(names[u.parent_code], u.name): u.reason for u in communes}
    # The city: centre ward + 2nd of the two other type lists (I and III).
    assert chosen[("Lai Châu", "Phường Quyết Tiến")].code == "commune.admin_centre"
    assert chosen[("Lai Châu", "Phường Tân Phong")].vi == \
        "thứ 2 trong danh sách loại I theo thứ tự chữ cái tiếng Việt"
    assert chosen[("Lai Châu", "Xã San Thàng")].code == "commune.position"
    assert not any(k[0] == "Lai Châu" and "Đông Phong" in k[1] for k in chosen)  # type II = centre's list
    # Tân Uyên: the town is the 2nd of the type I list, so the 3rd is taken.
    r = chosen[("Tân Uyên", "Xã Thân Thuộc")]
    assert r.code == "commune.position_shifted" and "thứ 3" in r.vi and "Thị trấn Tân Uyên" in r.vi
    # Mường Tè: the type I list has a single commune: take what exists.
    assert chosen[("Mường Tè", "Xã Mường Tè")].code == "commune.position_short"
    # Sìn Hồ (the seed's "Sơn Hòa") takes the 2nd and the last of each list.
    sin_ho = {k[1]: v for k, v in chosen.items() if k[0] == "Sìn Hồ"}
    assert sin_ho["Xã Tủa Sín Chải"].vi.startswith("cuối cùng trong danh sách loại I")
    assert sin_ho["Xã Tả Phìn"].vi.startswith("cuối cùng trong danh sách loại II")
    # Villages: 3 per commune, the HQ village always among them.
    villages = sel.units_at("village")
    assert len(villages) == 28 * 3
    for c in communes:
        vs = [v for v in villages if v.parent_code == c.code]
        assert len(vs) == 3
        hq = next(v for v in frame.children(c.code, "village") if v.commune_hq)
        assert hq.code in {v.code for v in vs}
    codes = Counter(v.reason.code for v in villages)
    assert codes["village.hq"] == 28 and codes["village.position_shifted"] >= 1
    # Households: 30 per village, every sub-hamlet covered, top-ups from the neighbour.
    assert len(sel.households) == 84 * 30
    assert not sel.shortfalls
    for v in villages:
        mine = sel.households_for(v.code)
        assert len(mine) == 30
        own = frame.households_of(v.code)
        if len(own) >= 30:
            subs = {h.sub_hamlet for h in own}
            assert subs <= {h.sub_hamlet for h in mine}
    top = [h for h in sel.households if h.reason.code == "household.top_up"]
    assert top and all(h.village_code != h.sample_village_code for h in top)
    assert all(frame.unit(h.village_code).parent_code == frame.unit(h.sample_village_code).parent_code
               for h in top)
    assert "bổ sung từ bản liền kề" in top[0].reason.vi
    assert len({h.household_id for h in sel.households}) == len(sel.households)


def test_plan_2025_on_demo_frame(frames: dict[str, Frame]) -> None:
    plan = load_plan("laichau-2025")
    frame = frames["laichau-2025"]
    sel = draw(plan, frame)
    communes = sel.units_at("commune")
    assert len(communes) == 38
    villages = sel.units_at("village")
    assert len(villages) == 38 * 3
    reasons = Counter(v.reason.code for v in villages)
    assert reasons["village.hq"] == 38
    assert reasons["village.random"] + reasons["village.adjacent"] == 76
    assert reasons["village.adjacent"] >= 1
    for v in villages:
        if v.reason.code != "village.hq":
            assert not frame.unit(v.code).national_survey
    adj = next(v for v in villages if v.reason.code == "village.adjacent")
    assert "Bộ Nội vụ" in adj.reason.vi and "national survey" in adj.reason.en
    wards = {c.code for c in communes if c.name.startswith("Phường")}
    assert {frame.unit(c).name for c in wards} == {"Tân Phong", "Đoàn Kết"}
    for v in villages:
        expected = 100 if v.parent_code in wards else 50
        assert v.quota == expected
        assert len(sel.households_for(v.code)) == expected
    assert len(sel.households) == 36 * 3 * 50 + 2 * 3 * 100


SEED_003_NOTE = ("Lưu ý: Trường hợp dịch vụ được chọn không có đủ cỡ mẫu, các cơ quan, đơn vị, địa phương "
                 "báo cáo về UBND tỉnh (qua Sở Nội vụ) để xem xét, giải quyết.")


def test_plan_2021_services_on_demo_frame(frames: dict[str, Frame]) -> None:
    """Seed 003: "{}" The draw fields every quota it can and only PROPOSES the substitutions, with
    their reasons; nothing is fielded for them until staff decide (sample substitutions).""".format(SEED_003_NOTE)
    plan = load_plan("laichau-2021-services")
    assert plan.services.substitution_approval == "staff"
    sel = draw(plan, frames["laichau-2021-services"])
    proposed = [s for s in sel.substitutions if s.status == "proposed"]
    assert proposed and all(s.reason.code == "service.substitute_proposed" for s in proposed)
    assert len(sel.service_users) == 619 - sum(s.count for s in proposed)
    assert not sel.shortfalls
    assert all(s.field == s.quota_field for s in sel.service_users)      # nobody fielded for a proposal
    subs = {(s.agency, s.from_field): s for s in proposed}
    ct = subs[("Sở Công thương", "Lĩnh vực Vật liệu nổ công nghiệp, tiền chất thuốc nổ")]
    assert ct.to_field == "Lĩnh vực Xúc tiến thương mại" and "UBND tỉnh" in ct.reason.vi
    tu = subs[("Huyện Than Uyên", "Lĩnh vực Lao động Thương binh xã hội")]
    assert tu.to_field == "Lĩnh vực Đăng ký kinh doanh"  # a field outside the table, as in 2020
    qt = subs[("Phường Quyết Thắng", "Lĩnh vực Lao động Thương binh xã hội")]
    assert qt.to_field == "Lĩnh vực Tư pháp - Hộ tịch" and "chỉ có 0 giao dịch" in qt.reason.vi
    # "automatic" applies every proposal at once: the whole table is fielded
    auto = plan.model_copy(update={"services": plan.services.model_copy(update={"substitution_approval": "automatic"})})
    sel_a = draw(auto, frames["laichau-2021-services"])
    assert len(sel_a.service_users) == 619 and len({s.user_id for s in sel_a.service_users}) == 619
    per_agency = Counter(s.agency for s in sel_a.service_users)
    levels = Counter()
    for agency in plan.services.agencies:
        assert per_agency[agency.name] == agency.quota
        levels[agency.level] += per_agency[agency.name]
    assert levels == {"department": 219, "district": 160, "commune": 240}
    moved = [s for s in sel_a.service_users if s.field != s.quota_field]
    assert moved and all(s.reason.code == "service.substitute" for s in moved)
    assert {(s.agency, s.from_field, s.to_field, s.count) for s in sel_a.substitutions} == \
        {(s.agency, s.from_field, s.to_field, s.count) for s in proposed}


def test_2021_eligibility_address_phone_result_received() -> None:
    """Seed 003, II.2: "Đối tượng điều tra là người dân, người đại diện tổ chức có địa chỉ, số điện
    thoại liên hệ đã trực tiếp giao dịch và nhận kết quả các dịch vụ hành chính công". Users without
    an address or phone, or who have not received their result, are never drawn; the counts are
    reported; a list that does not say whether results were received is refused."""
    plan = load_plan("laichau-2021-services")
    field = "Lĩnh vực Quản lý giá, công sản"
    users = [ServiceUserRow(user_id=f"U{i}", agency="Sở Tài chính", field=field, name="x", address="Tổ 1",
                            phone="0912345678", result_received=True) for i in range(20)]
    users += [ServiceUserRow(user_id="NA", agency="Sở Tài chính", field=field, name="x", phone="0912345678",
                             result_received=True),
              ServiceUserRow(user_id="NP", agency="Sở Tài chính", field=field, name="x", address="Tổ 2",
                             result_received=True),
              ServiceUserRow(user_id="NR", agency="Sở Tài chính", field=field, name="x", address="Tổ 3",
                             phone="0912345678", result_received=False)]
    sel = draw(plan, Frame(units={}, service_users=users))
    drawn = {s.user_id for s in sel.service_users}
    assert len(drawn) == 15 and not drawn & {"NA", "NP", "NR"}
    w = next(w for w in sel.warnings if w.code == "service.ineligible")
    assert "thiếu địa chỉ: 1" in w.vi and "thiếu số điện thoại: 1" in w.vi and "chưa nhận kết quả: 1" in w.vi
    unknown = [u.model_copy(update={"result_received": None}) for u in users]
    with pytest.raises(SamplingError, match="result_received"):
        draw(plan, Frame(units={}, service_users=unknown))
    relaxed = plan.model_copy(update={"services": plan.services.model_copy(update={
        "eligibility": plan.services.eligibility.model_copy(update={"require_result_received": False})})})
    assert len(draw(relaxed, Frame(units={}, service_users=unknown)).service_users) == 15


# ------------------------------------------------------------------ determinism


def _shuffled(frame: Frame, seed: int) -> Frame:
    rng = random.Random(seed)
    units = list(frame.units.values())
    hhs = list(frame.households)
    users = list(frame.service_users)
    for x in (units, hhs, users):
        rng.shuffle(x)
    return Frame(units={u.code: u for u in units}, households=hhs, service_users=users)


@pytest.mark.parametrize("name", ["laichau-2024", "laichau-2025", "laichau-2021-services"])
def test_same_frame_plan_seed_same_selection(frames: dict[str, Frame], name: str) -> None:
    plan = load_plan(name)
    a = draw(plan, frames[name])
    b = draw(plan, _shuffled(frames[name], 7))
    assert a.fingerprint() == b.fingerprint()
    c = draw(plan, frames[name], seed=plan.seed + 1)
    assert c.fingerprint() != a.fingerprint()


def test_seed_changes_2025_villages_but_not_2024_communes(frames: dict[str, Frame]) -> None:
    p24, p25 = load_plan("laichau-2024"), load_plan("laichau-2025")
    a, b = draw(p24, frames["laichau-2024"], seed=1), draw(p24, frames["laichau-2024"], seed=2)
    assert [u.code for u in a.units_at("commune")] == [u.code for u in b.units_at("commune")]
    c, d = draw(p25, frames["laichau-2025"], seed=1), draw(p25, frames["laichau-2025"], seed=2)
    assert {u.code for u in c.units_at("village")} != {u.code for u in d.units_at("village")}


def test_selection_roundtrip_json_csv_xlsx(frames: dict[str, Frame], tmp_path: Path) -> None:
    frame = frames["laichau-2025"]
    sel = draw(load_plan("laichau-2025"), frame)
    back = read_selection(write_selection(sel, frame, tmp_path / "s.json"))
    assert back.fingerprint() == sel.fingerprint()
    csv_path = write_selection(sel, frame, tmp_path / "s.csv")
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "trụ sở" in text and "+84" not in text  # no phone numbers in the staff list
    import openpyxl

    wb = openpyxl.load_workbook(write_selection(sel, frame, tmp_path / "s.xlsx"), read_only=True)
    assert "Hộ" in wb.sheetnames and "Đơn vị" in wb.sheetnames
    with pytest.raises(ValueError):
        write_selection(sel, frame, tmp_path / "s.pdf")


# ------------------------------------------------------------------ edge cases on small frames


def _u(code: str, name: str, level: str, parent: str | None = None, **kw: Any) -> UnitRow:
    return UnitRow(code=code, name=name, level=level, parent_code=parent, **kw)


def _frame(units: list[UnitRow], households: dict[str, int | list[str]] | None = None) -> Frame:
    hh: list[HouseholdRow] = []
    for v, spec in (households or {}).items():
        subs = spec if isinstance(spec, list) else [""] * spec
        for i, sub in enumerate(subs):
            hh.append(HouseholdRow(household_id=f"{v}-{i + 1:03d}", village_code=v,
                                   head_name=f"Hộ {i + 1}", sub_hamlet=sub))
    return Frame(units={u.code: u for u in units}, households=hh)


def _plan_2024() -> Plan:
    """The 2024 plan without its named 5-commune districts (absent from the small frames)."""
    data = load_plan("laichau-2024").model_dump()
    data["communes"]["groups"] = [g for g in data["communes"]["groups"] if not g["match_names"]]
    return Plan.model_validate(data)


def _villages(commune: str, n: int, hq: int | None = 0, hh: int = 40, national: set[int] = frozenset(),
              names: list[str] | None = None) -> tuple[list[UnitRow], dict[str, int]]:
    names = names or [f"Bản {chr(ord('A') + i)}" for i in range(n)]
    units = [_u(f"{commune}-V{i}", names[i], "village", commune, commune_hq=(i == hq),
                neighbour_order=i + 1, national_survey=i in national) for i in range(n)]
    return units, {u.code: hh for u in units}


def _district_frame(types: dict[str, str], centre: str | None, *, kind: str = "huyện",
                    dname: str = "Tam Đường", villages_per: int = 3) -> Frame:
    units = [_u("P", "Lai Châu", "province"), _u("D", dname, "district", "P", kind=kind)]
    hh: dict[str, int] = {}
    for i, (name, t) in enumerate(types.items()):
        code = f"C{i}"
        units.append(_u(code, name, "commune", "D", admin_type=t, admin_centre=(name == centre),
                        kind="thị trấn" if name == centre else "xã"))
        vs, h = _villages(code, villages_per)
        units += vs
        hh.update(h)
    return _frame(units, hh)


def _communes(sel: Selection) -> dict[str, str]:
    def bare(name: str) -> str:
        for prefix in ("Xã ", "Thị trấn ", "Phường "):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name

    return {bare(u.name): u.reason.code for u in sel.units_at("commune")}


def test_centre_also_second_takes_third() -> None:
    f = _district_frame({"An": "I", "Bình": "I", "Cao": "I", "Dân": "II", "Đông": "II"}, "Bình")
    got = _communes(draw(_plan_2024(), f))
    assert got == {"Bình": "commune.admin_centre", "Cao": "commune.position_shifted",
                   "Đông": "commune.position"}


def test_single_unit_list_takes_what_exists() -> None:
    f = _district_frame({"An": "I", "Bình": "II", "Cao": "II", "Dân": "II"}, "Bình")
    sel = draw(_plan_2024(), f)
    got = _communes(sel)
    assert got == {"Bình": "commune.admin_centre", "An": "commune.position_short",
                   "Cao": "commune.position"}
    short = next(u for u in sel.units_at("commune") if u.reason.code == "commune.position_short")
    assert "chỉ có 1 xã" in short.reason.vi and short.rank == 1


def test_list_with_only_the_centre_is_filled_from_the_other_list() -> None:
    f = _district_frame({"An": "I", "Bình": "II", "Cao": "II", "Dân": "II"}, "An")
    sel = draw(_plan_2024(), f)
    got = _communes(sel)
    assert got["An"] == "commune.admin_centre"
    assert got["Cao"] == "commune.position"  # 2nd of type II
    assert got["Dân"] == "commune.fill"       # type I exhausted: next of type II
    fill = next(u for u in sel.units_at("commune") if u.reason.code == "commune.fill")
    assert "loại I không còn xã" in fill.reason.vi and "bù từ danh sách loại II" in fill.reason.vi


def test_city_with_an_empty_type_list_fills_to_count() -> None:
    # A city whose communes are only of types I and II, centre of type II: the "other" lists are
    # just type I; the count of 3 is reached from type I then type II.
    f = _district_frame({"An": "I", "Bình": "I", "Cao": "I", "Dân": "II", "Đông": "II"}, "Dân",
                        kind="thành phố", dname="Lai Châu")
    sel = draw(_plan_2024(), f)
    got = _communes(sel)
    assert got == {"Dân": "commune.admin_centre", "Bình": "commune.position", "Cao": "commune.fill"}


def test_too_few_communes_is_a_shortfall_not_an_error() -> None:
    f = _district_frame({"An": "I", "Bình": "II"}, "An")
    sel = draw(_plan_2024(), f)
    assert len(sel.units_at("commune")) == 2
    sf = [s for s in sel.shortfalls if s.level == "district"]
    assert sf and sf[0].needed == 3 and sf[0].got == 2 and "chỉ có 2 xã" in sf[0].reason.vi


def test_no_centre_flagged_fills_with_reason() -> None:
    f = _district_frame({"An": "I", "Bình": "I", "Cao": "II", "Dân": "II"}, None)
    sel = draw(_plan_2024(), f)
    assert len(sel.units_at("commune")) == 3
    fill = next(u for u in sel.units_at("commune") if u.reason.code == "commune.fill")
    assert "trung tâm hành chính" in fill.reason.vi


def test_district_named_in_plan_must_exist() -> None:
    data = load_plan("laichau-2024").model_dump()
    data["communes"]["groups"][1]["match_names"] = ["Sơn Hòa", "Phong Thổ"]
    plan = Plan.model_validate(data)
    f = _district_frame({"An": "I", "Bình": "II"}, "An")
    with pytest.raises(SamplingError) as exc:
        draw(plan, f)
    assert any("Sơn Hòa" in p for p in exc.value.problems)


def test_missing_admin_type_is_reported() -> None:
    f = _district_frame({"An": "I", "Bình": "II"}, "An")
    units = dict(f.units)
    units["C1"] = units["C1"].model_copy(update={"admin_type": None})
    with pytest.raises(SamplingError) as exc:
        draw(_plan_2024(), Frame(units=units, households=f.households))
    assert "loại đơn vị hành chính" in str(exc.value)


def _commune_frame(n_villages: int, hq: int | None, hh: int = 40, national: set[int] = frozenset(),
                   names: list[str] | None = None) -> Frame:
    units = [_u("P", "Lai Châu", "province"), _u("C", "Bình Lư", "commune", "P", kind="xã")]
    vs, h = _villages("C", n_villages, hq, hh, national, names)
    return _frame(units + vs, h)


def _village_rules(sel: Selection) -> dict[str, str]:
    return {u.name: u.reason.code for u in sel.units_at("village")}


def _plan_2024_villages_only() -> Plan:
    data = load_plan("laichau-2025").model_dump()
    data["villages"] = load_plan("laichau-2024").villages.model_dump()
    data["households"] = load_plan("laichau-2024").households.model_dump()
    data["communes"]["expected_count"] = None
    return Plan.model_validate(data)


def test_hq_village_also_second_and_also_last() -> None:
    plan = _plan_2024_villages_only()
    got = _village_rules(draw(plan, _commune_frame(5, hq=1)))
    assert got == {"Bản B": "village.hq", "Bản C": "village.position_shifted", "Bản E": "village.position"}
    got = _village_rules(draw(plan, _commune_frame(5, hq=4)))
    assert got == {"Bản E": "village.hq", "Bản B": "village.position", "Bản D": "village.position_shifted"}


def test_numbered_residential_groups_sort_numerically() -> None:
    names = [f"Tổ dân phố số {i}" for i in (1, 10, 11, 2, 3, 12)]
    plan = _plan_2024_villages_only()
    sel = draw(plan, _commune_frame(6, hq=0, names=names))
    got = _village_rules(sel)
    assert got == {"Tổ dân phố số 1": "village.hq", "Tổ dân phố số 2": "village.position",
                   "Tổ dân phố số 12": "village.position"}
    lst = sel.lists["C:villages"]
    assert [sel_name for sel_name in lst.codes] == ["C-V0", "C-V3", "C-V4", "C-V1", "C-V2", "C-V5"]


def test_commune_with_fewer_than_three_villages_takes_all() -> None:
    plan = _plan_2024_villages_only()
    sel = draw(plan, _commune_frame(2, hq=0))
    assert len(sel.units_at("village")) == 2
    sf = next(s for s in sel.shortfalls if s.level == "commune")
    assert sf.needed == 3 and sf.got == 2 and "chỉ có 2 bản" in sf.reason.vi


def test_household_short_and_no_neighbour_left_is_recorded() -> None:
    plan = _plan_2024_villages_only()
    sel = draw(plan, _commune_frame(3, hq=0, hh=20))  # 3 villages × 20 < 3 × 30 and all sampled
    assert len(sel.households) == 60
    sf = [s for s in sel.shortfalls if s.level == "village"]
    assert len(sf) == 3 and all(s.needed == 30 and s.got == 20 for s in sf)
    assert "không còn bản liền kề" in sf[0].reason.vi


def test_top_up_prefers_nearest_neighbour_in_geographic_order() -> None:
    units = [_u("P", "Lai Châu", "province"), _u("C", "Bình Lư", "commune", "P")]
    # Alphabetical: A, B, C, D, E; geography: A=1, D=2, B=3, E=4, C=5. A is the HQ and short.
    geo = {"A": 1, "D": 2, "B": 3, "E": 4, "C": 5}
    for letter, order in geo.items():
        units.append(_u(f"V{letter}", f"Bản {letter}", "village", "C", commune_hq=(letter == "A"),
                        neighbour_order=order))
    f = _frame(units, {"VA": 10, "VB": 40, "VC": 40, "VD": 40, "VE": 40})
    sel = draw(_plan_2024_villages_only(), f)
    top = [h for h in sel.households if h.sample_village_code == "VA" and h.reason.code == "household.top_up"]
    assert len(top) == 20 and {h.village_code for h in top} == {"VD"}
    assert "Bản D" in top[0].reason.vi


def test_sub_hamlets_are_all_covered_proportionally() -> None:
    subs = ["Đội 1"] * 60 + ["Đội 2"] * 30 + ["Đội 3"] * 6 + ["Xóm Mới"] * 1
    units = [_u("P", "Lai Châu", "province"), _u("C", "Bình Lư", "commune", "P"),
             _u("V", "Nà Lại", "village", "C", commune_hq=True, neighbour_order=1)]
    f = Frame(units={u.code: u for u in units}, households=[
        HouseholdRow(household_id=f"H{i:03d}", village_code="V", head_name="x", sub_hamlet=s)
        for i, s in enumerate(subs)])
    sel = draw(_plan_2024_villages_only(), f)
    got = Counter(h.sub_hamlet for h in sel.households)
    assert got == {"Đội 1": 18, "Đội 2": 9, "Đội 3": 2, "Xóm Mới": 1}


def test_allocate() -> None:
    assert allocate([60, 30, 6, 1], 30) == [18, 9, 2, 1]
    assert sum(allocate([5, 5, 5], 10)) == 10 and min(allocate([5, 5, 5], 10)) >= 3
    assert allocate([3, 2], 10) == [3, 2]
    assert allocate([1, 9, 4], 2) == [0, 1, 1]  # fewer than one each: the largest groups
    for _ in range(200):
        rng = random.Random(_)
        sizes = [rng.randint(1, 40) for _ in range(rng.randint(1, 6))]
        q = rng.randint(1, sum(sizes))
        a = allocate(sizes, q)
        assert sum(a) == q and all(0 <= x <= s for x, s in zip(a, sizes))
        if q >= len(sizes):
            assert all(x >= 1 for x in a)


def test_national_survey_village_replaced_by_adjacent_after_then_before() -> None:
    plan = load_plan("laichau-2025").model_copy(
        update={"communes": load_plan("laichau-2025").communes.model_copy(update={"expected_count": None})})
    # Every non-HQ village is national except one: each draw ends in a replacement or a skip.
    f = _commune_frame(6, hq=0, hh=60, national={1, 2, 3, 5})
    sel = draw(plan, f)
    got = _village_rules(sel)
    assert got["Bản A"] == "village.hq" and got["Bản E"] in ("village.adjacent", "village.random")
    # Only one eligible village remains besides the HQ: the second draw cannot be met.
    assert len(sel.units_at("village")) == 2
    assert any(s.reason.code in ("village.no_adjacent", "village.shortfall", "village.adjacent_both_taken")
               for s in sel.shortfalls)
    # Whatever the draw order, national villages are never taken and replacements are adjacent.
    f2 = _commune_frame(5, hq=0, hh=60, national={1, 3})
    reasons = Counter()
    for seed in range(12):
        sel2 = draw(plan, f2, seed=seed)
        assert set(_village_rules(sel2)) == {"Bản A", "Bản C", "Bản E"}
        reasons.update(u.reason.code for u in sel2.units_at("village"))
        for u in sel2.units_at("village"):
            if u.reason.code == "village.adjacent":
                assert "Bộ Nội vụ" in u.reason.vi and "liền kề" in u.reason.vi
    assert reasons["village.adjacent"] > 0


def test_adjacent_tie_break_after_then_before() -> None:
    villages = [_u(f"V{i}", f"Bản {c}", "village", "C") for i, c in enumerate("ABCDE")]
    national = villages[2].model_copy(update={"national_survey": True})
    vs = villages[:2] + [national] + villages[3:]
    assert _adjacent(vs, 2, {"V0"}, "after")[:2] == (3, "after")
    assert _adjacent(vs, 2, {"V0"}, "before")[:2] == (1, "before")
    assert _adjacent(vs, 2, {"V0", "V3"}, "after")[:2] == (1, "before")
    assert _adjacent(vs, 2, {"V0", "V1", "V3"}, "after") == (4, "after", 2)
    assert _adjacent(vs, 2, {"V0", "V1", "V3", "V4"}, "after") is None
    assert _adjacent(vs, 2, {"V0", "V1", "V3"}, "after", max_distance=1) is None


def test_national_survey_hq_is_kept_by_default() -> None:
    plan = load_plan("laichau-2025").model_copy(
        update={"communes": load_plan("laichau-2025").communes.model_copy(update={"expected_count": None})})
    f = _commune_frame(5, hq=0, hh=60, national={0})
    got = _village_rules(draw(plan, f))
    assert got["Bản A"] == "village.hq" and len(got) == 3


def test_frame_with_other_than_38_communes_draws_with_a_warning(frames: dict[str, Frame]) -> None:
    """Seed 001 (OCR, no diacritics): "a) Pham vi khao sat: 38 xa, phuong trén dia ban tinh."
    (Phạm vi khảo sát: 38 xã, phường.) A frame of another size, e.g. a pilot on part of the
    province, is drawn and the difference is reported as a warning, not refused."""
    f = _commune_frame(5, hq=0)
    sel = draw(load_plan("laichau-2025"), f)
    assert len(sel.units_at("village")) == 3
    assert [w.code for w in sel.warnings] == ["commune.count_differs", "household.override_unmatched",
                                              "household.override_unmatched"]
    assert "38" in sel.warnings[0].vi and "1" in sel.warnings[0].en
    assert Selection.from_dict(sel.to_dict()).warnings == sel.warnings
    assert not draw(load_plan("laichau-2025"), frames["laichau-2025"]).warnings


SEED_001_ADJACENT = (
    "chon ngiu nhién trong diéu tra (néu tring ban, t6 ddan phé di dwoc chon diéu tra sw hai long vé s "
    "phuc vu hanh chinh cua cd:p tinh do B6 Néi vu thuee hién thi sé lua chon ban, t6 dan pho lién ké "
    "truée hodc sau thon, ban, t6 dan phé da dwoc chon)")


def _plan_2025(**villages: Any) -> Plan:
    data = load_plan("laichau-2025").model_dump()
    data["communes"]["expected_count"] = None
    data["villages"].update(villages)
    return Plan.model_validate(data)


def _first_draw_is(plan: Plan, f: Frame, code: str) -> Selection:
    """A draw (trying seeds in order) whose first random pick is ``code``."""
    for seed in range(500):
        order = [v for v in f.children("C", "village") if not v.commune_hq]
        stage_rng(plan, seed, "villages", "C").shuffle(order)
        if order[0].code == code:
            return draw(plan, f, seed=seed)
    raise AssertionError("no seed draws it first")


def test_adjacent_direction_is_a_plan_setting_with_a_reason() -> None:
    """Seed 001 (OCR): "{}" — "liền kề trước hoặc sau" (adjacent before or after), no order given.
    ``adjacent_first`` (default "after") chooses the side tried first; its reason is written into
    every replacement.""".format(SEED_001_ADJACENT)
    f = _commune_frame(5, hq=0, hh=60, national={2})          # A (HQ), B, C (national), D, E
    plan = _plan_2025(per_commune=2)
    assert plan.villages.adjacent_first == "after" and "after" in plan.villages.adjacent_reason
    sel = _first_draw_is(plan, f, "C-V2")
    got = _village_rules(sel)
    assert got == {"Bản A": "village.hq", "Bản D": "village.adjacent"}
    adj = next(u for u in sel.units_at("village") if u.reason.code == "village.adjacent")
    assert "liền kề sau Bản C" in adj.reason.vi and "đọc danh sách từ trên xuống" in adj.reason.vi
    assert "reads the list forward" in adj.reason.en
    before = _plan_2025(per_commune=2, adjacent_first="before", adjacent_reason="lý do / reason")
    sel_b = _first_draw_is(before, f, "C-V2")
    assert _village_rules(sel_b) == {"Bản A": "village.hq", "Bản B": "village.adjacent"}
    assert "(lý do)" in sel_b.units_at("village")[1].reason.vi


def test_both_neighbours_taken_stops_and_lists_the_case_for_staff() -> None:
    """Seed 001 (OCR): "{}". Only the adjacent village may replace: when the one before and the
    one after are both taken, the place is left open and the case listed for staff, not filled
    from further out (``when_both_adjacent_taken: further`` restores that).""".format(SEED_001_ADJACENT)
    f = _commune_frame(5, hq=0, hh=60, national={1, 2})       # A (HQ), B, C national, D, E
    plan = _plan_2025(per_commune=2)
    sel = _first_draw_is(plan, f, "C-V1")                     # B: before it A (HQ), after it C
    assert _village_rules(sel) == {"Bản A": "village.hq"}
    case = next(s for s in sel.shortfalls if s.reason.code == "village.adjacent_both_taken")
    assert case.unit_code == "C-V1" and "CẦN CÁN BỘ QUYẾT ĐỊNH" in case.reason.vi
    assert "Bản A đã được chọn" in case.reason.vi and "Bản C cũng do Bộ Nội vụ chọn" in case.reason.vi
    assert "STAFF DECISION" in case.reason.en
    assert "CẦN CÁN BỘ QUYẾT ĐỊNH" in explain(sel, f, "C-V1").notes[0]
    further = _first_draw_is(_plan_2025(per_commune=2, when_both_adjacent_taken="further"), f, "C-V1")
    assert _village_rules(further) == {"Bản A": "village.hq", "Bản D": "village.adjacent"}
    assert "cách 2 bản" in further.units_at("village")[1].reason.vi


SEED_001_HOUSEHOLDS = ("lap 01 danh sach vdi 50 hd gia dinh dang sinh song trén dia ban ban, t6 dan phd; "
                       "riéng phuong Tan Phong va phuong Poan két 1a 100 ho")


def test_households_100_for_the_two_wards_by_kind_and_name_or_code() -> None:
    """Seed 001 (OCR): "{}" — 50 households, "riêng phường Tân Phong và phường Đoàn Kết là 100 hộ".
    The override matches the ward (kind and name together) or a unit code, never the name alone:
    a xã with the same name keeps 50.""".format(SEED_001_HOUSEHOLDS)
    units = [_u("P", "Lai Châu", "province"),
             _u("W", "Tân Phong", "commune", "P", kind="phường"), _u("X", "Tân Phong", "commune", "P", kind="xã"),
             _u("Y", "Mường So", "commune", "P", kind="xã")]
    hh: dict[str, int] = {}
    for c in ("W", "X", "Y"):
        vs, h = _villages(c, 3, hh=120)
        units += vs
        hh.update(h)
    f = _frame(units, hh)
    plan = _plan_2025()
    sel = draw(plan, f)
    quota = {u.parent_code: u.quota for u in sel.units_at("village")}
    assert quota == {"W": 100, "X": 50, "Y": 50}
    assert [w.code for w in sel.warnings] == ["household.override_unmatched"]     # no Đoàn Kết here
    by_code = plan.model_copy(update={"households": plan.households.model_copy(update={"overrides": [
        HouseholdOverride(code="Y", households=80)]})})
    assert {u.parent_code: u.quota for u in draw(by_code, f).units_at("village")} == {"W": 50, "X": 50, "Y": 80}
    with pytest.raises(ValueError, match="name alone"):
        HouseholdOverride(name="Tân Phong", households=100)
    twice = _frame(units + [_u("Z", "Tân Phong", "commune", "P", kind="phường")], hh)
    with pytest.raises(SamplingError, match="several units"):
        draw(plan, twice)


def test_service_field_without_users_and_no_substitute_is_a_shortfall() -> None:
    plan = load_plan("laichau-2021-services")
    users = [ServiceUserRow(user_id=f"U{i}", agency="Sở Tài chính", field="Lĩnh vực Quản lý giá, công sản",
                            name="x", address="Tổ 1", phone="0912345678", result_received=True) for i in range(4)]
    sel = draw(plan, Frame(units={}, service_users=users))
    assert len(sel.service_users) == 4
    sf = {s.unit_code: s for s in sel.shortfalls}
    assert sf["Sở Tài chính / Lĩnh vực Quản lý giá, công sản"].got == 4
    assert sf["Sở Nội vụ"].reason.code == "service.no_list"


# ------------------------------------------------------------------ explain


def test_explain_selected_and_not_selected(frames: dict[str, Frame]) -> None:
    frame = frames["laichau-2024"]
    sel = draw(load_plan("laichau-2024"), frame)
    e = explain(sel, frame, "Thân Thuộc")
    assert e.selected and e.reasons[0].code == "commune.position_shifted"
    lst, marks = e.lists[0]
    assert lst.key.endswith("loai-I") and len(marks) == 2
    not_chosen = next(c for c in frame.at_level("commune") if sel.unit(c.code) is None
                      and sel.unit(c.parent_code) is not None)
    e2 = explain(sel, frame, not_chosen.code)
    assert not e2.selected and e2.lists and "không ở vị trí" in e2.notes[0]
    hh = sel.households[0]
    e3 = explain(sel, frame, hh.household_id)
    assert e3.selected and e3.reasons[0] == hh.reason
    chosen_village = sel.units_at("village")[0].code
    skipped = next(h for h in frame.households_of(chosen_village)
                   if h.household_id not in {x.household_id for x in sel.households})
    assert "không trúng" in explain(sel, frame, skipped.household_id).notes[0]
    with pytest.raises(SamplingError):
        explain(sel, frame, "không có")
    with pytest.raises(SamplingError) as exc:
        explain(sel, frame, "Mường Tè")  # the district, the town and the commune share the name
    assert "nhiều đơn vị" in str(exc.value)


def test_bad_plan_file_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("id: x\nyear: 2024\nkind: households\n", encoding="utf-8")
    with pytest.raises(PlanError) as exc:
        load_plan(p)
    assert "title_vi" in str(exc.value)
    with pytest.raises(PlanError):
        load_plan("khong-co")
    bad = load_plan("laichau-2021-services").model_dump()
    bad["services"]["totals"]["all"] = 620
    with pytest.raises(Exception) as exc2:
        Plan.model_validate(bad)
    assert "619" in str(exc2.value)


def test_official_sort_number_order_when_the_plan_asks() -> None:
    data = _plan_2024_villages_only().model_dump()
    data["villages"]["order"] = "sort_number"
    plan = Plan.model_validate(data)
    units = [_u("P", "Lai Châu", "province"), _u("C", "Bình Lư", "commune", "P")]
    # The commune's own list order: Nà Bó (1), Co Hồ (2), Ẳng Cang (3), Bản Ít (4).
    for i, (name, number) in enumerate([("Ẳng Cang", 3), ("Bản Ít", 4), ("Co Hồ", 2), ("Nà Bó", 1)]):
        units.append(_u(f"V{i}", name, "village", "C", sort_number=number, commune_hq=(name == "Nà Bó"),
                        neighbour_order=number))
    f = _frame(units, {f"V{i}": 40 for i in range(4)})
    got = _village_rules(draw(plan, f))
    assert got == {"Nà Bó": "village.hq", "Co Hồ": "village.position", "Bản Ít": "village.position"}
