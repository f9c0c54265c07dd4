-- hailong schema: substitutions of a service-survey field with too few transactions (seed 003:
-- "báo cáo về UBND tỉnh (qua Sở Nội vụ) để xem xét, giải quyết"). The draw proposes one row per
-- field that lacks questionnaires, with the fields it would move them to and why; staff approve it,
-- change it (another field, another count) or reject it. Only a decided row's users are fielded
-- (as respondents); a decision is final and audited. Nothing else may depend on this file's number.

CREATE TABLE sample_substitutions (
    id             INTEGER PRIMARY KEY,
    round_id       INTEGER NOT NULL REFERENCES rounds (id),
    agency         TEXT    NOT NULL,
    from_field     TEXT    NOT NULL,
    missing        INTEGER NOT NULL CHECK (missing > 0),
    proposal       TEXT    NOT NULL DEFAULT '[]',      -- JSON [{"to_field": …, "count": …}]
    reason         TEXT    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'proposed'
                   CHECK (status IN ('proposed', 'approved', 'changed', 'rejected')),
    decided_field  TEXT,
    decided_count  INTEGER CHECK (decided_count IS NULL OR decided_count >= 0),
    fielded        INTEGER NOT NULL DEFAULT 0 CHECK (fielded >= 0),
    note           TEXT,
    decided_by     TEXT,
    decided_at     REAL,
    created_at     REAL    NOT NULL,
    UNIQUE (round_id, agency, from_field)
);
CREATE INDEX sample_substitutions_by_round ON sample_substitutions (round_id, status);
