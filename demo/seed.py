"""Seeding helpers for tests, benchmarks and rehearsals: a small frame, a round, respondents.

Kept in demo/ (outside the runtime packages, beside the simulated citizens) so that the tests,
their crash-test subprocesses and the benchmarks seed databases the same way, through the public
repository functions.
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from dataclasses import dataclass

from engine import compile_survey
from engine.types import Choose, Command, Done, Input, Start, State, TypedText
from storage.db import Database
from storage.errors import StorageUnavailable
from storage.respondents import ContactIn, Respondent, RespondentIn, insert_respondents
from storage.rounds import Round, create_round, open_round
from storage.units import UnitIn, insert_units
from survey_defs.schema import Survey


@dataclass(frozen=True, slots=True)
class SeededRound:
    round: Round
    unit_ids: dict[str, int]
    respondents: list[Respondent]


def tiny_survey(survey_id: str = "tiny", version: str = "1") -> Survey:
    """A three-question questionnaire (yes/no, scale, multi) for fast storage tests."""
    return Survey.model_validate({
        "id": survey_id, "version": version, "title": {"vi": "Khảo sát thử", "en": "Tiny survey"},
        "languages": ["vi", "en"],
        "scales": [{"id": "sat5", "satisfied": [4, 5], "options": [
            {"value": v, "label": {"vi": f"Mức {v}", "en": f"Level {v}"}} for v in range(1, 6)]}],
        "sections": [{"id": "s1", "title": {"vi": "Phần 1", "en": "Part 1"}, "questions": [
            {"id": "q1", "type": "yesno", "text": {"vi": "Ông/bà đồng ý?", "en": "Do you agree?"}},
            {"id": "q2", "type": "scale", "scale": "sat5",
             "text": {"vi": "Mức độ hài lòng?", "en": "How satisfied?"}},
            {"id": "q3", "type": "multi", "text": {"vi": "Chọn các kênh", "en": "Pick channels"},
             "options": [{"value": i, "label": {"vi": f"Kênh {i}", "en": f"Channel {i}"}} for i in (1, 2, 3)]},
        ]}],
    })


async def seed_round(db: Database, survey: Survey, *, respondents: int = 10, code: str = "R1",
                     open_: bool = True, allow_walk_in: bool = False, frame: str = "test",
                     communes: int = 2, quota: int | None = 5) -> SeededRound:
    """A province with ``communes`` communes (quota each), a round on ``survey`` and
    ``respondents`` respondents spread over the communes, each with a contact."""
    units = [UnitIn("province", "LC", "Lai Châu")]
    units += [UnitIn("commune", f"C{i}", f"Xã Thử {i}", parent_code="LC", admin_type="II", quota=quota)
              for i in range(1, communes + 1)]
    ids = await insert_units(db, frame, units)
    rnd = await create_round(db, code=code, survey=survey, frame=frame, allow_walk_in=allow_walk_in)
    if open_:
        rnd = await open_round(db, rnd.id)
    items = [RespondentIn(ids[f"C{i % communes + 1}"], f"hộ thứ {i + 1} trong danh sách / household {i + 1}",
                          household_ref=f"H{i + 1:05d}", attrs={"sub_hamlet": f"Xóm {i % 3 + 1}"},
                          contact=ContactIn(name=f"Nguyễn Văn {i + 1}", phone=f"09{i:08d}"))
             for i in range(respondents)]
    resp = await insert_respondents(db, rnd.id, items) if items else []
    return SeededRound(rnd, ids, resp)


# ------------------------------------------------------------------ a scripted citizen

def _h(rid: int, step_id: str) -> int:
    return zlib.crc32(f"{rid}:{step_id}".encode())


def scripted_input(survey: Survey, state: State, rid: int) -> tuple[Input, str] | None:
    """The citizen's next input and its channel update key, or None if the conversation is over.

    Deterministic in (respondent, state), so a restarted child continues the same conversation.
    """
    if state.status in ("submitted", "ended"):
        return None
    if state.status == "new":
        return Start(), f"{rid}:start"
    if state.status == "review":
        return Command("submit"), f"{rid}:submit"
    if state.status == "paused":
        return Command("resume"), f"{rid}:resume:{state.seq}"
    cur = state.current
    assert cur is not None, state
    sp = compile_survey(survey).by_id[cur]
    h = _h(rid, cur)
    if sp.type != "multi" and state.picks:
        # an answer that would end the survey waits for "is that right?": the citizen confirms it
        return Command("resume"), f"{rid}:{cur}:confirm"
    q = sp.question
    if sp.type == "multi":
        want = sp.values[h % len(sp.values)]
        if want not in state.picks:
            return Choose(cur, want), f"{rid}:{cur}:p{want}"
        return Done(cur), f"{rid}:{cur}:done"
    if sp.type == "number":
        lo = q.min if q.min is not None else 0
        hi = q.max if q.max is not None else lo + 100
        return TypedText(str(min(max(35 + h % 30, lo), hi))), f"{rid}:{cur}:a"
    if sp.type == "text":
        return TypedText(f"ý kiến số {h % 97}"), f"{rid}:{cur}:a"
    if sp.type == "yesno":
        # mostly yes (consent, eligibility), sometimes no: some citizens are screened out
        return Choose(cur, 0 if h % 11 == 0 else 1), f"{rid}:{cur}:a"
    if sp.type in ("single", "scale", "matrix"):
        return Choose(cur, sp.values[h % len(sp.values)]), f"{rid}:{cur}:a"
    raise AssertionError(f"unexpected step type {sp.type}")


# ------------------------------------------------------------------ a full disk, for failure tests

def create_small_page_database(path: str | os.PathLike[str]) -> None:
    """Create an empty database file with 512-byte pages (``Database.open`` keeps an existing
    file's page size). Its pages are full after a little seeding, so that once ``fill_disk`` has
    taken the last free page, a channel's next write needs a new page and fails as on a full disk
    (with 8 KiB pages a test conversation would fit in the free room of pages already there)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA page_size = 512")
        conn.execute("VACUUM")
    finally:
        conn.close()


async def fill_disk(db: Database) -> int:
    """Make the database behave as on a full disk: no new page can be allocated
    (``PRAGMA max_page_count`` on the writer connection, so SQLite answers SQLITE_FULL) and the
    free room of the last pages is taken by filler rows. Returns the page cap."""
    await db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS _disk_filler (x BLOB)"))
    cap = await db.write(lambda c: c.execute(
        "PRAGMA max_page_count = " + str(c.execute("PRAGMA page_count").fetchone()[0])).fetchone()[0])
    for size in (4000, 1000, 200, 40, 8, 1):
        while True:
            try:
                await db.write(lambda c, n=size: c.execute("INSERT INTO _disk_filler VALUES (zeroblob(?))", (n,)))
            except StorageUnavailable:
                break
    return int(cap)


async def free_disk(db: Database) -> None:
    """Room on the disk again (lifts ``fill_disk``'s cap; the filler rows stay, harmless)."""
    await db.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823").fetchone())
