-- hailong schema, version 2: a denormalised table of current answers, one row per answered step,
-- maintained in the same transaction as `answers`, so that analytics reads 100 000 responses
-- without working out the latest revision of every step. Back-fills from the history.

CREATE TABLE answers_current (
    response_id  INTEGER NOT NULL REFERENCES responses (id),
    step_id      TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    value        TEXT    NOT NULL,
    value_num    INTEGER,
    answered_at  REAL    NOT NULL,
    PRIMARY KEY (response_id, step_id)
) WITHOUT ROWID;

INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)
SELECT a.response_id, a.step_id, a.revision, a.value, a.value_num, a.answered_at
FROM answers AS a
JOIN (SELECT response_id, step_id, MAX(revision) AS revision
      FROM answers GROUP BY response_id, step_id) AS latest
  ON latest.response_id = a.response_id AND latest.step_id = a.step_id AND latest.revision = a.revision
WHERE a.cleared = 0;

-- The same current values derived from the full history: the reference that `answers_current`
-- must always equal (checked by the crash test); slower, use `answers_current` for analytics.
CREATE VIEW current_answers AS
SELECT a.response_id, a.step_id, a.revision, a.value, a.value_num, a.answered_at
FROM answers AS a
WHERE a.cleared = 0
  AND a.revision = (SELECT MAX(b.revision) FROM answers AS b
                    WHERE b.response_id = a.response_id AND b.step_id = a.step_id);
