-- hailong schema: personal data protection (Law 91/2025/QH15, Decree 356/2025/NĐ-CP; docs/privacy.md).
-- Consent texts and receipts, data-subject requests, and the record of each round's purge.
-- Nothing else may depend on this file's number.

-- The exact consent text a questionnaire version shows, per language: what a receipt points to.
-- Written when the questionnaire version is stored (storage.consent), never changed afterwards.
CREATE TABLE consent_texts (
    survey_hash  TEXT NOT NULL REFERENCES survey_versions (hash),
    lang         TEXT NOT NULL,
    step_id      TEXT NOT NULL,
    version      TEXT NOT NULL,
    text_hash    TEXT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (survey_hash, lang)
) WITHOUT ROWID;

-- One receipt per answer to the consent question (agreed 1 or 0): which text (hash, version,
-- language) the citizen saw, when, over which channel. No personal data: the response id only.
CREATE TABLE consent_receipts (
    id           INTEGER PRIMARY KEY,
    response_id  INTEGER NOT NULL REFERENCES responses (id),
    survey_hash  TEXT    NOT NULL,
    lang         TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    text_hash    TEXT    NOT NULL,
    agreed       INTEGER NOT NULL CHECK (agreed IN (0, 1)),
    channel      TEXT,
    at           REAL    NOT NULL
);
CREATE INDEX consent_receipts_by_response ON consent_receipts (response_id, at);

-- Every writer (chat, paper import, a future tool) leaves a receipt the same way, with the
-- consent text of the response's language (falling back to Vietnamese, then any). The consent
-- step is `q_consent` (survey_defs/consent.py): a literal test costs nothing on the other
-- answers, where a look-up in consent_texts cost 14% of the answer insert
-- (benchmarks/privacy.py).
CREATE TRIGGER answers_consent_receipt AFTER INSERT ON answers
WHEN NEW.cleared = 0 AND NEW.step_id = 'q_consent'
BEGIN
    INSERT INTO consent_receipts (response_id, survey_hash, lang, version, text_hash, agreed, channel, at)
    SELECT NEW.response_id, ct.survey_hash, ct.lang, ct.version, ct.text_hash,
           CASE WHEN NEW.value_num = 1 OR NEW.value IN ('1', 'true') THEN 1 ELSE 0 END,
           COALESCE(NEW.channel, r.channel, r.mode), NEW.answered_at
      FROM responses AS r JOIN consent_texts AS ct ON ct.survey_hash = r.survey_hash AND ct.step_id = NEW.step_id
     WHERE r.id = NEW.response_id
     ORDER BY ct.lang = r.lang DESC, ct.lang = 'vi' DESC
     LIMIT 1;
END;

-- Data-subject requests (the citizen's rights): access (/dulieu) and erasure (/xoa), each with
-- the deadline the law sets; `respondent_id` only (no chat id), so the log survives a purge.
CREATE TABLE privacy_requests (
    id             INTEGER PRIMARY KEY,
    round_id       INTEGER REFERENCES rounds (id),
    respondent_id  INTEGER REFERENCES respondents (id),
    channel        TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('access', 'erase')),
    received_at    REAL    NOT NULL,
    due_at         REAL    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'refused')),
    done_at        REAL,
    done_by        TEXT,
    outcome        TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX privacy_requests_open ON privacy_requests (status, due_at);

-- A round whose personal data was purged (storage.purge): when, by whom, what went.
CREATE TABLE round_purges (
    round_id   INTEGER PRIMARY KEY REFERENCES rounds (id),
    purged_at  REAL NOT NULL,
    actor      TEXT NOT NULL,
    counts     TEXT NOT NULL DEFAULT '{}'
);
