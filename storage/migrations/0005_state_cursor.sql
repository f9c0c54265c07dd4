-- hailong schema, version 5: the engine state is no longer one growing JSON blob per response.
-- `responses.state` keeps the *cursor* (every State field except answers and meta); answers are
-- rebuilt from `answers_current`, paradata (State.meta) lives in `response_steps`, one row per
-- step, written only when a step changes it; `state_rev` counts commits of a response so that a
-- paradata delta is applied only on top of the revision it was computed from.

CREATE TABLE response_steps (
    response_id  INTEGER NOT NULL REFERENCES responses (id),
    step_id      TEXT    NOT NULL,
    asked_at     REAL,
    answered_at  REAL,
    changes      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (response_id, step_id)
) WITHOUT ROWID;

ALTER TABLE responses ADD COLUMN state_rev INTEGER NOT NULL DEFAULT 0;

INSERT INTO response_steps (response_id, step_id, asked_at, answered_at, changes)
SELECT r.id, m.key, json_extract(m.value, '$.asked_at'), json_extract(m.value, '$.answered_at'),
       COALESCE(json_extract(m.value, '$.changes'), 0)
FROM responses AS r, json_each(r.state, '$.meta') AS m
WHERE json_valid(r.state) AND json_type(r.state, '$.meta') = 'object';

UPDATE responses SET state = json_remove(state, '$.answers', '$.meta')
WHERE json_valid(state) AND json_type(state) = 'object';

-- Every commit changes `updated_at`: keeping it in this index cost an index delete + insert per
-- answer. The expiry scan (round, status, then updated_at) reads few rows per round anyway.
DROP INDEX IF EXISTS responses_by_round;
CREATE INDEX responses_by_round ON responses (round_id, status);
