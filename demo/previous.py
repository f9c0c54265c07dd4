"""Last year's round of the demo, entered from paper forms: what the year-on-year comparison needs.

Why: the report and ``hailong report --previous`` compare a round with the one before it, and a
fresh demo database holds only this year's round. Lai Châu's 2024 survey was done on paper, so
the demo writes a filled paper-entry file (the ``hailong responses template`` layout, no name or
phone number in it) for round ``LC-2024-DEMO`` in the same villages and stores it through the
same validation as ``hailong responses import``. Answers are synthetic and seeded
(``demo.synthetic.household_answers``), a little less satisfied than this year's citizens,
so that the comparison has something to say.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analytics.paper import META, read_entry_file, steps_of, validate_rows
from demo.synthetic import household_answers
from storage.db import Database
from storage.private_files import open_private
from storage.responses import PaperResponseIn, store_paper_responses
from storage.rounds import close_round, create_round, open_round
from survey_defs.schema import Survey
from survey_defs.spreadsheet_safety import safe_csv_writer

__all__ = ["PREVIOUS_CODE", "PAPER_FILE", "PreviousRound", "previous_round"]

PREVIOUS_CODE = "LC-2024-DEMO"
PAPER_FILE = "phieu-giay-2024.csv"
_YEAR = 365 * 86400


@dataclass(frozen=True)
class PreviousRound:
    """The previous round the demo stored: its code, the paper file and how many forms."""

    code: str
    paper_file: Path
    forms: int


def _cell(value: Any) -> str:
    """A paper-entry cell as a clerk types it: codes as integers, several picks as ``1;3``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(_cell(v) for v in value)
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)) and float(value) == int(value):
        return str(int(value))
    return str(value)


def paper_rows(survey: Survey, village_codes: Sequence[str], n: int, seed: int) -> pd.DataFrame:
    """``n`` filled paper forms (text cells, the template's columns) spread over ``village_codes``."""
    units = pd.DataFrame({"village_id": list(village_codes)})
    df = household_answers(survey, n, seed=seed, units=units)
    steps = steps_of(survey)
    rng = np.random.default_rng(seed + 11)
    for st in steps:   # a year earlier, a little less satisfied: some "satisfied" become "neutral"
        if st.id in df.columns and st.question.type.value in ("scale", "matrix"):
            col = df[st.id]
            lower = (col == 4) & (rng.random(len(df)) < 0.12)
            df.loc[lower, st.id] = 3.0
    cells = {"unit_code": [str(v) for v in df["village_id"]],
             "household_ref": [f"GIAY-2024-{i + 1:04d}" for i in range(len(df))]}
    for st in steps:
        values = df[st.id] if st.id in df.columns else [None] * len(df)
        cells[st.id] = [_cell(v) for v in values]
    return pd.DataFrame(cells, columns=[*META, *(s.id for s in steps)])


async def previous_round(db: Database, survey: Survey, plan_id: str, frame: str | None,
                         village_codes: Sequence[str], out_dir: Path, forms: int, seed: int) -> PreviousRound:
    """Create ``LC-2024-DEMO``, write its paper-entry file into ``out_dir`` and import it.

    The file is read back with ``read_entry_file`` and checked with ``validate_rows``, exactly
    as ``hailong responses import`` does; a form it refuses is a bug of this module (raised).
    """
    path = Path(out_dir) / PAPER_FILE
    table = paper_rows(survey, village_codes, forms, seed)
    with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = safe_csv_writer(fh)
        out.writerow(table.columns)
        out.writerows(table.itertuples(index=False, name=None))
    parsed, errors = validate_rows(read_entry_file(path), survey, set(village_codes))
    if errors:
        raise ValueError(f"demo paper forms refused: {errors[:3]}")
    now = time.time()
    rnd = await create_round(db, code=PREVIOUS_CODE, survey=survey, name="Demo — Lai Châu 2024 (phiếu giấy / paper)",
                             sampling_plan_id=plan_id, frame=frame, opens_at=now - _YEAR - 60 * 86400,
                             closes_at=now - _YEAR, actor="demo")
    await open_round(db, rnd.id, actor="demo")
    codes = {r[1]: r[0] for r in await db.fetchall(
        "SELECT id, code FROM units WHERE frame = COALESCE(?, frame)", (frame,))}
    items = [PaperResponseIn(unit_id=codes[r.unit_code], answers=r.answers, household_ref=r.household_ref,
                             attrs={"paper_row": r.row}) for r in parsed]
    ids = await store_paper_responses(db, rnd.id, rnd.survey_id, rnd.survey_hash, items, "demo")
    await close_round(db, rnd.id, actor="demo", reason="đợt năm trước (phiếu giấy) / last year's round (paper)")
    return PreviousRound(PREVIOUS_CODE, path, len(ids))
