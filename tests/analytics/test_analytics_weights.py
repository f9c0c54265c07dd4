"""Weights as a sensitivity check: design weights from the frame's counts, raking to margins,
the sensitivity table beside the official index, and the counts a stored draw gives analytics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.analysis import analyse
from analytics.design import Design, RESPONDENT, design_from_plan
from analytics.load import load_round
from analytics.settings import AnalyticsSettings
from demo.synthetic import hierarchy, small_survey, synthetic_wide
from analytics.weights import (RURAL, URBAN, WeightError, design_weights, kish_deff, rake, read_margins,
                               urban_rural_of)
from sampling.plan_schema import load_plan

DATA = Path(__file__).resolve().parents[2] / "sampling" / "data"


def _frame_for(units: pd.DataFrame, villages_per_commune_in_frame: int = 6,
               households_per_village: int = 100, sampled: int = 30) -> pd.DataFrame:
    """A frame around ``hierarchy()``'s units: each commune lists more villages than were taken."""
    rows = []
    for d in units["district_id"].unique():
        rows.append({"code": d, "kind": "district", "parent_code": "P01", "selected": True})
    for c, part in units.groupby("commune_id"):
        rows.append({"code": c, "kind": "commune", "parent_code": part["district_id"].iloc[0], "selected": True})
        for v in part["village_id"]:
            rows.append({"code": v, "kind": "village", "parent_code": c, "selected": True,
                         "households": households_per_village, "sampled": sampled})
        for i in range(villages_per_commune_in_frame - len(part)):
            rows.append({"code": f"{c}X{i}", "kind": "village", "parent_code": c, "selected": False,
                         "households": households_per_village, "sampled": 0})
    return pd.DataFrame(rows)


def test_design_weights_are_inverse_selection_probabilities() -> None:
    """2025 design: a village is one of 3 taken out of the commune's list (3/6 here, 3/4 in the
    second commune), a household one of 30 out of 100: weight = (6/3)·(100/30)."""
    units = hierarchy(1, 2, 3)
    df = units.loc[units.index.repeat(2)].reset_index(drop=True)
    frame = _frame_for(units)
    frame = frame[~frame["code"].isin([f"{units['commune_id'].iloc[-1]}X{i}" for i in (1, 2)])]
    design = Design("commune_id", ("village_id", RESPONDENT))
    w = design_weights(df, design, frame)
    first = df["commune_id"] == units["commune_id"].iloc[0]
    assert np.allclose(w[first], 2 * 100 / 30) and np.allclose(w[~first], 4 / 3 * 100 / 30)
    # 2024 design: the commune stage counts too (communes of the district)
    d24 = design_from_plan(load_plan("laichau-2024"))
    frame24 = pd.concat([frame, pd.DataFrame([{"code": "DX", "kind": "commune", "parent_code": "D01",
                                               "selected": False}])])
    w24 = design_weights(df, d24, frame24)
    assert np.allclose(w24[first], 3 / 2 * 2 * 100 / 30)
    # unknown household counts: a clear error, not a made-up weight
    with pytest.raises(WeightError, match="household"):
        design_weights(df, design, frame.assign(households=np.nan))
    assert kish_deff(np.array([1.0, 1.0, 1.0])) == pytest.approx(1.0)
    assert kish_deff(np.array([1.0, 3.0])) == pytest.approx(2 * 10 / 16)


def test_raking_meets_the_margins(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"sex": rng.choice(["Nam", "Nữ"], 400, p=[0.7, 0.3]),
                       "age_band": rng.choice(["18–24", "25–34", ">60"], 400, p=[0.2, 0.5, 0.3]),
                       "urban_rural": rng.choice([URBAN, RURAL], 400, p=[0.5, 0.5])})
    df.loc[0, "sex"] = None
    p = tmp_path / "margins.csv"
    p.write_text("dimension,category,target\nsex,Nam,5000\nsex,Nữ,5000\nage_band,18–24,30\n"
                 "age_band,25–34,30\nage_band,>60,40\nurban_rural,Thành thị,20\nurban_rural,Nông thôn,80\n",
                 encoding="utf-8")
    m = read_margins(p)
    w, dropped = rake(df, m)
    assert dropped == 1 and w[0] == 0
    for dim, cat, share in (("sex", "Nữ", 0.5), ("age_band", ">60", 0.4), ("urban_rural", URBAN, 0.2)):
        assert w[df[dim] == cat].sum() / w.sum() == pytest.approx(share, abs=1e-8)
    # a category of the margins with nobody in the data cannot be met
    m2 = pd.concat([m, pd.DataFrame([{"dimension": "age_band", "category": "50–60", "target": 10.0}])])
    with pytest.raises(WeightError, match="50–60"):
        rake(df, m2)


@pytest.mark.parametrize("text, match", [
    ("dimension,category\nsex,Nam\n", "target"),
    ("dimension,category,target\nsex,Nam,-5\n", "invalid rows 2"),
    ("dimension,category,target\nsex,Nam,abc\n", "invalid rows 2"),
    ("dimension,category,target\nincome,high,5\n", "unknown dimension"),
    ("dimension,category,target\nsex,Nam,5\nsex,Nam,6\n", "repeated"),
    ("dimension,category,target\n" + "sex,Nam,1\n" * 1200, "too long"),
])
def test_margins_file_hostile_input(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "m.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(WeightError, match=match):
        read_margins(p)
    p.write_bytes(b"\xff\xfe\x00garbage\x00\x01")
    with pytest.raises(WeightError):
        read_margins(p)


def test_vietnamese_headers_and_urban_rural() -> None:
    assert urban_rural_of("phường", "Tân Phong") == URBAN and urban_rural_of(None, "Thị trấn Than Uyên") == URBAN
    assert urban_rural_of("xã", None) == RURAL and urban_rural_of(None, "Bản Nà Lại") is None


def test_sensitivity_table_beside_the_official_index() -> None:
    """The official index is unchanged; the design-weighted and raked ones come beside it."""
    s = small_survey()
    units = hierarchy(2, 3, 3)
    df = synthetic_wide(s, 1500, seed=4, units=units)
    df["urban_rural"] = np.where(df["commune_id"].str.endswith("01"), URBAN, RURAL)
    margins = pd.DataFrame({"dimension": "urban_rural", "category": [URBAN, RURAL], "target": [0.5, 0.5]})
    st = AnalyticsSettings(bootstrap_b=100)
    plain = analyse(df, s, "R", st, groupings=())
    a = analyse(df, s, "R", st, groupings=(), frame=_frame_for(units), margins=margins)
    assert a.overall.overall.iloc[0] == plain.overall.overall.iloc[0]
    sens = a.sensitivity
    assert sens is not None and set(sens["level"]) == {"province", "district", "commune"}
    prov = sens[sens["level"] == "province"].iloc[0]
    assert prov["official"] == pytest.approx(plain.overall.overall.iloc[0])
    assert prov["design_weighted_lo"] <= prov["design_weighted"] <= prov["design_weighted_hi"]
    assert prov["raked"] != prov["official"] and prov["raked_kish_deff"] > 1
    # equal selection probabilities everywhere: the design-weighted index equals the official one
    assert prov["design_weighted"] == pytest.approx(prov["official"])


def test_stored_draw_gives_frame_counts(tmp_path: Path) -> None:
    """A draw stored with ``sample draw --db`` records every village's household count, so the
    round's design weights can be computed later from the database alone."""
    from sampling.persistence import store_selection
    from sampling.frames import load_frame_dir
    from sampling.rules import draw
    from storage.db import Database
    from storage.rounds import create_round
    from survey_defs.loader import get_survey

    plan = load_plan("laichau-2025")
    frame = load_frame_dir(DATA / "laichau-2025").frame
    sel = draw(plan, frame)
    db_path = tmp_path / "h.db"

    async def go() -> None:
        async with await Database.open(str(db_path)) as db:
            await create_round(db, code="R25", survey=get_survey("sipas-households"), sampling_plan_id=plan.id,
                               frame=plan.frame)
            await store_selection(db, "R25", plan, frame, sel)

    asyncio.run(go())
    lr = load_round(db_path, "R25")
    assert lr.plan_id == "laichau-2025"
    villages = lr.frame[lr.frame["kind"] == "village"]
    assert villages["households"].gt(0).all()
    taken = villages[villages["selected"]]
    assert len(taken) == len(sel.units_at("village")) and taken["sampled"].sum() == len(sel.households)
    tan_phong = next(u for u in sel.units_at("commune") if "Tân Phong" in u.name)
    assert villages[(villages["parent_code"] == tan_phong.code) & villages["selected"]]["sampled"].eq(100).all()


def test_analysis_cli_options_and_hostile_input(tmp_path: Path) -> None:
    """``--variance``, ``--lonely-psu``, ``--design-weighted`` and ``--rake``: the weighted figures
    appear beside the official one, labelled; bad values are clean bilingual errors."""
    from typer.testing import CliRunner

    from demo.synthetic import populate_db
    from hailong.cli import app
    from survey_defs.loader import get_survey

    runner = CliRunner()
    db = str(tmp_path / "h.db")
    populate_db(db, get_survey("sipas-households"), 80, seed=4)
    margins = tmp_path / "m.csv"
    margins.write_text("dimension,category,target\nsex,Nam,49\nsex,Nữ,51\n", encoding="utf-8")
    r = runner.invoke(app, ["indices", "--round", "LC-2025", "--db", db, "--bootstrap", "60",
                            "--design-weighted", "--rake", str(margins)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "design effect" in out and "hiệu chỉnh theo cơ cấu dân số (tham khảo)" in out
    assert "design weights need" in out          # this database has no household counts: said, not faked
    r = runner.invoke(app, ["export", "--round", "LC-2025", "--db", db, "--bootstrap", "60", "--format", "xlsx",
                            "--out", str(tmp_path / "x.xlsx"), "--rake", str(margins), "--variance", "linearisation"])
    assert r.exit_code == 0, r.output
    sens = pd.read_excel(tmp_path / "x.xlsx", sheet_name="Độ nhạy trọng số")
    assert "Chỉ số chính thức (không trọng số)" in sens.columns
    assert "Chỉ số hiệu chỉnh theo cơ cấu dân số (tham khảo)" in sens.columns
    method = pd.read_excel(tmp_path / "x.xlsx", sheet_name="Phương pháp ước lượng")
    assert method["Nội dung"].str.contains("tuyến tính hóa").any()
    for bad, fragment in ((["--variance", "jackknife"], "bootstrap, linearisation"),
                          (["--lonely-psu", "adjust"], "average"),
                          (["--rake", str(tmp_path / "none.csv")], "margins")):
        r = runner.invoke(app, ["indices", "--round", "LC-2025", "--db", db, *bad])
        assert r.exit_code == 2 and fragment in r.output and "Traceback" not in r.output
