"""Consent texts and receipts (Law 91/2025/QH15; docs/privacy.md).

When a questionnaire version is stored, its consent notice (``survey_defs.consent``) is stored
beside it in every language, with its hash and version. Each answer to the consent question then
leaves a receipt (response, text hash, version, language, channel, time, agreed or not), written
by a trigger (migration 0011), so chat, paper imports and any future writer leave one alike.
``round_consent`` shows a round the exact text its citizens saw.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from storage.db import Database
from survey_defs.consent import consent_hash, consent_question, consent_text
from survey_defs.schema import Survey


@dataclass(frozen=True, slots=True)
class ConsentText:
    survey_hash: str
    lang: str
    step_id: str
    version: str
    text_hash: str
    text: str


@dataclass(frozen=True, slots=True)
class ConsentReceipt:
    response_id: int
    version: str
    text_hash: str
    lang: str
    agreed: bool
    channel: str | None
    at: float


def store_consent_op(conn: sqlite3.Connection, survey: Survey, survey_hash: str) -> int:
    """Store the notice of each language (idempotent); returns how many languages it has."""
    q = consent_question(survey)
    if q is None:
        return 0
    n = 0
    for lang in survey.languages:
        text = consent_text(survey, lang)
        if not text:
            continue
        conn.execute("INSERT INTO consent_texts (survey_hash, lang, step_id, version, text_hash, text)"
                     " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (survey_hash, lang) DO NOTHING",
                     (survey_hash, lang, q.id, survey.version, consent_hash(text), text))
        n += 1
    return n


async def round_consent(db: Database, round_code: str) -> list[ConsentText]:
    """The consent notices a round showed (one per language), exactly as stored."""
    rows = await db.fetchall(
        "SELECT ct.survey_hash, ct.lang, ct.step_id, ct.version, ct.text_hash, ct.text FROM rounds AS r"
        " JOIN consent_texts AS ct ON ct.survey_hash = r.survey_hash WHERE r.code = ? ORDER BY ct.lang = 'vi' DESC,"
        " ct.lang", (round_code,))
    return [ConsentText(*tuple(r)) for r in rows]


async def receipts(db: Database, response_id: int) -> list[ConsentReceipt]:
    """A response's consent receipts, oldest first."""
    rows = await db.fetchall("SELECT response_id, version, text_hash, lang, agreed, channel, at FROM consent_receipts"
                             " WHERE response_id = ? ORDER BY at, id", (response_id,))
    return [ConsentReceipt(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]


async def receipt_counts(db: Database, round_id: int) -> dict[str, int]:
    """Responses of a round whose latest consent answer agreed / refused, and those without one."""
    row = await db.fetchone(
        "WITH last AS (SELECT cr.response_id, cr.agreed, ROW_NUMBER() OVER (PARTITION BY cr.response_id"
        " ORDER BY cr.at DESC, cr.id DESC) AS n FROM consent_receipts AS cr JOIN responses AS rs"
        " ON rs.id = cr.response_id WHERE rs.round_id = ?)"
        " SELECT (SELECT COUNT(*) FROM last WHERE n = 1 AND agreed = 1),"
        " (SELECT COUNT(*) FROM last WHERE n = 1 AND agreed = 0),"
        " (SELECT COUNT(*) FROM responses AS rs WHERE rs.round_id = ? AND NOT EXISTS"
        "  (SELECT 1 FROM consent_receipts AS c WHERE c.response_id = rs.id))", (round_id, round_id))
    assert row is not None
    return {"agreed": row[0], "refused": row[1], "none": row[2]}
