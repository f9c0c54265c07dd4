"""``hailong sample substitutions``: the 2021 draw proposes, staff approve, change or reject, and
only the decided substitutions are fielded.

Seed 003 (the 2021 plan), note under its quota table: "Lưu ý: Trường hợp dịch vụ được chọn không
có đủ cỡ mẫu, các cơ quan, đơn vị, địa phương báo cáo về UBND tỉnh (qua Sở Nội vụ) để xem xét,
giải quyết." Seed 000 (the 2020 adjustment) is a table of such decisions, each with its reason,
e.g. "Do lĩnh vực Xuất nhập khẩu phát sinh ít hồ sơ, không đủ cỡ mẫu theo yêu cầu".
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import typer

from support.sampling_cli import DATA, run as _run, sampling_app, services_round


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return sampling_app()


def _setup(app: typer.Typer, tmp_path: Path) -> Path:
    db_path = tmp_path / "h.db"
    code, out = services_round(app, db_path, "DV")
    assert code == 0, out
    return db_path


def _state(db_path: Path) -> tuple[list, list, list]:
    from storage.audit import list_audit
    from storage.db import Database
    from storage.respondents import list_respondents
    from storage.rounds import get_round_by_code
    from storage.substitutions import list_substitutions

    async def go() -> tuple[list, list, list]:
        async with await Database.open(str(db_path)) as db:
            rnd = await get_round_by_code(db, "DV")
            return (await list_substitutions(db, rnd.id), await list_respondents(db, rnd.id),
                    await list_audit(db, round_id=rnd.id))

    return asyncio.run(go())


def test_proposals_are_decided_by_staff_and_only_then_fielded(app: typer.Typer, tmp_path: Path) -> None:
    db = _setup(app, tmp_path)
    subs, resp, _ = _state(db)
    assert len(resp) == 601 and {s.status for s in subs} == {"proposed"}
    by = {(s.agency, s.from_field): s for s in subs}
    ct = by[("Sở Công thương", "Lĩnh vực Vật liệu nổ công nghiệp, tiền chất thuốc nổ")]
    qt = by[("Phường Quyết Thắng", "Lĩnh vực Lao động Thương binh xã hội")]
    nn = by[("Huyện Nậm Nhùn", "Lĩnh vực Tư pháp")]
    code, out = _run(app, "sample", "substitutions", "list", "--round", "DV", "--db", str(db))
    assert code == 0 and "Xúc tiến thương mại" in out and "chờ quyết định" in out and "5 đề xuất" in out

    # approve as proposed: its users are fielded in the short field's unit, with the decision
    code, out = _run(app, "sample", "substitutions", "approve", str(ct.id), "--round", "DV", "--db", str(db),
                     "--note", "QĐ 123/QĐ-UBND", "--actor", "staff:lan")
    assert code == 0, out
    subs, resp, audit = _state(db)
    row = next(s for s in subs if s.id == ct.id)
    assert row.status == "approved" and row.fielded == ct.missing and row.decided_by == "staff:lan"
    new = [r for r in resp if r.attrs.get("rule") == "service.substitute"]
    assert len(new) == ct.missing and all("đã duyệt" in r.selection_reason for r in new)
    assert {r.attrs["field"] for r in new} == {"Lĩnh vực Xúc tiến thương mại"}
    assert any(a.action == "substitutions.approved" and a.details["note"] == "QĐ 123/QĐ-UBND" for a in audit)

    # change: another field of the same agency, another count
    code, out = _run(app, "sample", "substitutions", "change", str(nn.id), "--to-field",
                     "Lĩnh vực Đăng ký kinh doanh", "--count", "1", "--round", "DV", "--db", str(db))
    assert code == 0, out
    subs, resp, _ = _state(db)
    row = next(s for s in subs if s.id == nn.id)
    assert row.status == "changed" and row.decided_field == "Lĩnh vực Đăng ký kinh doanh" and row.fielded == 1
    assert "1/2" in out   # fewer than the field lacks: said so

    # reject: the field keeps what it has; nobody is fielded
    n_before = len(resp)
    code, out = _run(app, "sample", "substitutions", "reject", str(qt.id), "--round", "DV", "--db", str(db),
                     "--note", "không đủ điều kiện")
    assert code == 0, out
    subs, resp, _ = _state(db)
    assert next(s for s in subs if s.id == qt.id).status == "rejected" and len(resp) == n_before

    # a decision is final
    code, out = _run(app, "sample", "substitutions", "approve", str(ct.id), "--round", "DV", "--db", str(db))
    assert code == 1 and "already decided" in out
    # the rest at once; nobody is ever fielded twice
    code, out = _run(app, "sample", "substitutions", "approve", "--all", "--round", "DV", "--db", str(db))
    assert code == 0, out
    subs, resp, _ = _state(db)
    assert {s.status for s in subs} == {"approved", "changed", "rejected"}
    refs = [r.household_ref for r in resp]
    assert len(refs) == len(set(refs)) == 601 + sum(s.fielded for s in subs)


def test_substitution_commands_refuse_bad_input(app: typer.Typer, tmp_path: Path) -> None:
    db = _setup(app, tmp_path)
    subs, _, _ = _state(db)
    sid = str(subs[0].id)
    base = ["--round", "DV", "--db", str(db)]
    code, out = _run(app, "sample", "substitutions", "approve", "999", *base)
    assert code == 1 and "no proposal 999" in out
    code, out = _run(app, "sample", "substitutions", "approve", *base)
    assert code == 2 and "--all" in out
    code, out = _run(app, "sample", "substitutions", "list", "--round", "NOPE", "--db", str(db))
    assert code == 1 and "no round" in out
    code, out = _run(app, "sample", "substitutions", "change", sid, "--to-field", "Lĩnh vực không có", *base)
    assert code == 1 and "no eligible user" in out
    code, out = _run(app, "sample", "substitutions", "change", sid, "--to-field", "x" * 400, *base)
    assert code == 2
    code, out = _run(app, "sample", "substitutions", "reject", sid, *base, "--note", "n" * 5000)
    assert code == 1 and "too long" in out
    # a frame that is not the one the sample was drawn from: no substitute from another list
    other = tmp_path / "other"
    shutil.copytree(DATA / "laichau-2021-services", other)
    lines = (other / "service_users.csv").read_text(encoding="utf-8").splitlines()
    (other / "service_users.csv").write_text("\n".join(lines[:-40]) + "\n", encoding="utf-8")
    code, out = _run(app, "sample", "substitutions", "approve", sid, *base, "--frame", str(other))
    assert code == 1 and "differs" in out
    subs2, resp, _ = _state(db)
    assert [s.status for s in subs2] == [s.status for s in subs] and len(resp) == 601


def test_recheck_of_a_2021_round_is_a_share_of_the_sample(app: typer.Typer, tmp_path: Path) -> None:
    """Seed 003, V.1: "phúc tra ... đối với tối thiểu 20% cỡ mẫu điều tra xã hội học": the draw
    stores the plan's base with the sample, and ``hailong recheck draw`` takes 20% of the 601
    sampled (121), not of the 200 returned (40)."""
    from hailong.cli import app as hailong
    from storage.db import Database
    from storage.respondents import list_respondents, set_status
    from storage.rounds import get_round_by_code

    db = _setup(app, tmp_path)

    async def complete() -> None:
        async with await Database.open(str(db)) as d:
            rnd = await get_round_by_code(d, "DV")
            assert rnd.settings["sampling"]["recheck_base"] == "sample"
            for r in (await list_respondents(d, rnd.id))[:200]:
                await set_status(d, r.id, "completed", actor="test")

    asyncio.run(complete())
    code, out = _run(hailong, "recheck", "draw", "--round", "DV", "--db", str(db))
    assert code == 0, out
    assert "newly stored: 121" in " ".join(out.split())
