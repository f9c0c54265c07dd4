"""Small database helpers shared by storage and fieldwork tests: a round with invitable
respondents, and the columns of a table."""

from __future__ import annotations

from storage.db import Database
from storage.respondents import ContactIn, RespondentIn, insert_respondents
from storage.rounds import create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.loader import get_survey

from storage.db import MIGRATIONS_DIR


def table_columns(table: str) -> set[str]:
    """Column names of a table created by migration 0011 (read from the migration, whatever the backend)."""
    sql = (MIGRATIONS_DIR / "0011_privacy.sql").read_text(encoding="utf-8")
    body = sql.split(f"CREATE TABLE {table} (", 1)[1].split(");", 1)[0]
    return {line.split()[0] for line in body.splitlines() if line.strip() and not line.strip().startswith(
        ("PRIMARY", "UNIQUE", "CHECK", "--"))}


async def make_round(db: Database, n: int, *, code: str = "LC2025", per_unit: int = 50,
                     telegram_base: int = 100_000, closes_at: float | None = None,
                     reminder_policy: dict | None = None) -> tuple[int, list[int]]:
    """A round with ``n`` sampled households spread over villages, each with a Telegram id."""
    survey = get_survey("sipas-households")
    n_units = max(1, -(-n // per_unit))
    units = [UnitIn("commune", "X01", "Xã Mường So")]
    units += [UnitIn("village", f"V{i:03d}", f"Bản Nà {i}", parent_code="X01", quota=per_unit)
              for i in range(n_units)]
    ids = await insert_units(db, "demo", units)
    rnd = await create_round(db, code=code, survey=survey, closes_at=closes_at,
                             reminder_policy=reminder_policy or {}, recheck_share=0.1)
    await open_round(db, rnd.id)
    items = [RespondentIn(ids[f"V{i // per_unit:03d}"], f"hộ số {i % per_unit + 1} của danh sách",
                          household_ref=f"H{i}",
                          contact=ContactIn(name=f"Hộ {i}", telegram_id=str(telegram_base + i)))
             for i in range(n)]
    rs = await insert_respondents(db, rnd.id, items, actor="test")
    return rnd.id, [r.id for r in rs]
