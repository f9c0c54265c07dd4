"""The whole-round demo end to end (demo/round.py, demo/citizens.py), run small.

One run of the real pipeline (sample, invites and cards, the bot on the Telegram and Zalo
emulators, simulated citizens with reminders, re-check, close, analytics) into ``tmp_path``, then:

* the report, the exports (CSV with BOM, XLSX, Parquet, SPSS) and the QR cards exist;
* the report's headline index equals the index recomputed here, independently of analytics,
  with our own SQL over the stored answers (current answers of submitted, not withdrawn,
  not re-check-failed responses; % of 4–5 per satisfaction item; mean over items);
* what storage recorded matches what the simulated citizens did;
* a second run with the same seed gives identical numbers;
* no household head name, phone number or chat id appears in any export or the report.
"""

from __future__ import annotations

import io
import re
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from rich.console import Console

from demo.round import run_round_demo
from demo.round_types import DemoConfig, DemoResult
from survey_defs.loader import get_survey

CITIZENS = 30
pytestmark = pytest.mark.timeout(240)   # under xdist the module runs on one worker: tests/conftest.py ONE_WORKER


async def _run(out_dir: Path) -> tuple[DemoResult, str]:
    buf = io.StringIO()
    cfg = DemoConfig(out_dir=out_dir, citizens=CITIZENS, bootstrap=100, seed=2025, timeout=60.0)
    result = await run_round_demo(cfg, Console(file=buf, width=120, highlight=False))
    return result, buf.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, str, DemoResult]:
    import asyncio

    base = tmp_path_factory.mktemp("demo")
    first, text = asyncio.run(_run(base / "first"))
    second, _ = asyncio.run(_run(base / "second"))
    return first, text, second


def _satisfaction_items() -> list[str]:
    survey = get_survey("sipas-households")
    ids = []
    for q in survey.questions:
        for it in q.items or []:
            role = it.index or q.index
            if role is not None and role.kind == "satisfaction":
                ids.append(it.id)
        if not q.items and q.index is not None and q.index.kind == "satisfaction":
            ids.append(q.id)
    return ids


def _index_from_db(db: Path, round_code: str) -> tuple[float, int]:
    """Pooled index straight from SQLite: mean over satisfaction items of the % answering 4 or 5."""
    items = _satisfaction_items()
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT a.response_id, a.step_id, a.value FROM answers_current AS a"
            " JOIN responses AS rs ON rs.id = a.response_id"
            " JOIN respondents AS p ON p.id = rs.respondent_id"
            " JOIN rounds AS ro ON ro.id = rs.round_id"
            " LEFT JOIN recheck AS rc ON rc.round_id = rs.round_id AND rc.respondent_id = p.id"
            " WHERE ro.code = ? AND rs.status = 'submitted' AND p.status != 'refused'"
            "   AND COALESCE(rc.outcome, '') != 'not_confirmed'", (round_code,)).fetchall()
    finally:
        conn.close()
    valid: Counter[str] = Counter()
    satisfied: Counter[str] = Counter()
    wanted = set(items)
    responses = set()
    for response_id, step, value in rows:
        responses.add(response_id)
        if step in wanted and value in ("1", "2", "3", "4", "5"):
            valid[step] += 1
            satisfied[step] += value in ("4", "5")
    per_item = [100.0 * satisfied[s] / valid[s] for s in items if valid[s]]
    assert per_item, "no satisfaction answer stored"
    return sum(per_item) / len(per_item), len(responses)


def test_outputs_exist_and_the_run_is_clean(runs) -> None:
    result, text, _ = runs
    assert result.errors == [], result.errors
    assert result.report_path.is_file() and result.report_path.stat().st_size > 10_000
    assert result.cards_path.read_bytes()[:5] == b"%PDF-"
    csvs = result.exports["csv"]
    assert len(csvs) >= 5 and all(p.read_bytes()[:3] == b"\xef\xbb\xbf" for p in csvs)   # BOM for Excel
    assert zipfile.is_zipfile(result.exports["xlsx"][0])
    assert all(len(pd.read_parquet(p).columns) for p in result.exports["parquet"])
    sav, meta = pyreadstat.read_sav(str(result.exports["sav"][0]))
    assert len(sav) == result.n_responses and meta.column_labels
    # the terminal story names every step and prints the headline and the paths
    for words in ("Chọn mẫu", "phiếu mời QR", "Người dân trả lời", "Phúc tra", "Chỉ số hài lòng chung",
                  str(result.report_path), str(result.cards_path)):
        assert words in text


def test_headline_index_equals_the_index_recomputed_from_stored_answers(runs) -> None:
    result, _, _ = runs
    html = result.report_path.read_text(encoding="utf-8")
    m = re.search(r'id="headline" data-value="([^"]+)"', html)
    assert m, "the report has no machine-readable headline"
    reported = float(m.group(1))
    recomputed, n = _index_from_db(result.db_path, result.round_code)
    assert reported == pytest.approx(recomputed, abs=1e-9)
    assert result.overall == pytest.approx(recomputed, abs=1e-9)
    assert n == result.n_responses
    assert result.overall_lo <= result.overall <= result.overall_hi


def test_storage_agrees_with_what_the_citizens_did(runs) -> None:
    result, _, _ = runs
    did: Counter[str] = Counter()
    for persona, results in result.personas.items():
        did.update(results)
    assert "error" not in did and "waiting" not in did and "pending" not in did
    disp = result.dispositions
    assert sum(disp.values()) == CITIZENS
    assert disp.get("complete", 0) == did["completed"]
    assert disp.get("refused", 0) == did["refused"] + did["stopped"]
    assert disp.get("ineligible", 0) == did["ineligible"]
    assert disp.get("partial", 0) == did["abandoned"]
    assert disp.get("invited", 0) + disp.get("unreachable", 0) == did["never"]
    # not-confirmed re-checks are the only completed responses left out of the index
    assert result.n_responses == did["completed"] - result.recheck["not_confirmed"]
    assert result.recheck["drawn"] >= 1
    assert sum(c["invited"] for c in result.channels.values()) == CITIZENS


def test_same_seed_same_numbers(runs) -> None:
    first, _, second = runs
    assert second.errors == [], second.errors
    a, b = first.numbers(), second.numbers()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], f"{key} differs between two runs with the same seed"
    # every exported index table is byte-identical; only the raw data (response ids, times) and the
    # quality flags (which read answer times) may differ
    timing = {"du_lieu_tho.csv", "chat_luong_du_lieu.csv"}
    names = sorted(p.name for p in first.exports["csv"])
    assert names == sorted(p.name for p in second.exports["csv"])
    for name in names:
        if name not in timing:
            assert (first.out_dir / "exports" / "csv" / name).read_bytes() == \
                (second.out_dir / "exports" / "csv" / name).read_bytes(), f"{name} differs"
    assert first.overall == second.overall


def _personal_data(result: DemoResult) -> set[str]:
    """The names, phones and chat ids the round held (the demo ends with a purge: its last step
    collected them before purging, in memory)."""
    return set(result.purged_values)


def _export_texts(result: DemoResult) -> dict[Path, str]:
    texts: dict[Path, str] = {}
    for p in result.exports["csv"]:
        texts[p] = p.read_text(encoding="utf-8-sig")
    for p in result.exports["xlsx"]:
        with zipfile.ZipFile(p) as z:
            texts[p] = "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    for p in result.exports["parquet"]:
        texts[p] = pd.read_parquet(p).to_csv(index=False)
    for p in result.exports["sav"]:
        df, _ = pyreadstat.read_sav(str(p))
        texts[p] = df.to_csv(index=False) + p.read_bytes().decode("utf-8", "replace")
    texts[result.report_path] = result.report_path.read_text(encoding="utf-8")
    return texts


def test_the_demo_ends_with_a_purge_that_changes_no_index(runs) -> None:
    result, text, _ = runs
    p = result.privacy
    assert p["indices_unchanged"] and p["indices"] > 10 and p["wal_truncated"]
    assert p["values_checked"] > CITIZENS and p["values_found_after"] == 0
    assert p["counts"]["contacts"] > 0 and p["counts"]["chat_bindings"] > 0
    assert "Xóa dữ liệu cá nhân" in text and "không đổi / unchanged" in text and "none left" in text
    conn = sqlite3.connect(f"{result.db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM chat_bindings").fetchone()[0] == 0
    finally:
        conn.close()
    data = result.db_path.read_bytes()
    assert not [v for v in result.purged_values if v.encode() in data]


def test_no_personal_data_in_exports_or_report(runs) -> None:
    result, _, _ = runs
    personal = _personal_data(result)
    assert len(personal) > CITIZENS   # names, phones and chat ids were there to leak
    for path, text in _export_texts(result).items():
        leaked = [v for v in personal if re.search(rf"(?<![\w]){re.escape(v)}(?![\w])", text)]
        assert not leaked, f"{path.name} contains personal data: {leaked[:3]}"


# ---------------------------------------------------------------- a lost message does not change answers

async def _one_zalo_citizen(tmp_path: Path, drop_event: int | None) -> dict:
    """One simulated Zalo citizen answering through the real bot; optionally the emulator loses
    the citizen's ``drop_event``-th message (a bad connection). Returns the stored answers."""
    from demo.bot_stack import BotStack
    from demo.round_types import DemoClock
    from demo.citizen_zalo import run_zalo_citizen
    from demo.citizens import CitizenSignals, HouseholdIn, plan_citizens
    from demo.emulators.zalo import ZaloEmulator
    from storage.db import Database
    from storage.respondents import RespondentIn, insert_respondents
    from storage.responses import current_answers, get_response_for_respondent
    from storage.rounds import create_round, open_round
    from storage.units import UnitIn, insert_units

    tmp_path.mkdir(parents=True, exist_ok=True)
    db = await Database.open(str(tmp_path / "one.db"))
    emu = await ZaloEmulator(token="one-citizen").start()
    stack = BotStack(db, DemoClock(), ("1:x", "http://127.0.0.1:9/bot"), (emu.token, emu.base_url), 2)
    try:
        ids = await insert_units(db, "t", [UnitIn(kind="commune", code="C1", name="Xã Một"),
                                           UnitIn(kind="village", code="C1-01", name="Bản Một", parent_code="C1")])
        rnd = await create_round(db, code="R", survey=get_survey("sipas-households"))
        await open_round(db, rnd.id)
        [p] = await insert_respondents(db, rnd.id, [RespondentIn(ids["C1-01"], "hộ 1", "H-1")])
        [plan] = plan_citizens([HouseholdIn(p.id, "H-1", "C1-01", "C1", p.token, p.card_code)], seed=7,
                               mix={"complete": 1.0}, qr_share=0.0)
        await stack.start_zalo_only()
        if drop_event is not None:
            pushed = {"n": 0}
            original = emu._push

            def lossy(event: dict) -> None:
                pushed["n"] += 1
                if pushed["n"] != drop_event:
                    original(event)
            emu._push = lossy  # type: ignore[method-assign]
        outcome = await run_zalo_citizen(emu, plan, CitizenSignals(), timeout=4.0)
        assert outcome.result == "completed", outcome
        assert outcome.nudges == (0 if drop_event is None else 1)
        resp = await get_response_for_respondent(db, p.id)
        assert resp is not None
        return await current_answers(db, resp.id)
    finally:
        await stack.stop()
        await emu.stop()
        await db.close()


async def test_a_lost_message_is_recovered_without_changing_the_answers(tmp_path: Path) -> None:
    clean = await _one_zalo_citizen(tmp_path / "clean", None)
    lossy = await _one_zalo_citizen(tmp_path / "lossy", 12)
    assert len(clean) > 60
    assert lossy == clean


def test_the_cli_gives_the_demos_intervals_on_its_database(runs) -> None:
    from typer.testing import CliRunner

    from hailong.cli import app

    result, _, _ = runs
    r = CliRunner().invoke(app, ["indices", "--round", result.round_code, "--db", str(result.db_path),
                                 "--bootstrap", "100"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    from analytics.numbers import vn_range
    assert vn_range(result.overall_lo, result.overall_hi) in r.output, r.output[:600]
