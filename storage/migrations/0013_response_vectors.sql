-- hailong schema, version 13: a packed answer vector per submitted response (storage/vectors.py
-- describes the format), so that analytics reads one row per response instead of ~84 answer
-- rows. Kept by triggers in the transaction that changes the answers: written when a response
-- becomes submitted, deleted by any later change of its current answers (analytics then reads
-- that response row by row; the vector is written again at the response's next status update).
-- The SELECT below is storage.vectors.VECTOR_SELECT (keep them equal).

CREATE TABLE response_vectors (
    response_id  INTEGER PRIMARY KEY REFERENCES responses (id) ON DELETE CASCADE,
    answered     INTEGER NOT NULL,
    steps        TEXT    NOT NULL,
    codes        TEXT    NOT NULL,
    loose        TEXT    NOT NULL
);

INSERT INTO response_vectors (response_id, answered, steps, codes, loose)
SELECT response_id, count(*),
       coalesce(group_concat(step_id, char(31)) FILTER (WHERE value_num BETWEEN -2048 AND 2047), ''),
       coalesce(group_concat((max(0, CAST(round(answered_at * 1000) AS INTEGER) - 1704067200000) << 12)
                             | (value_num + 2048), ',') FILTER (WHERE value_num BETWEEN -2048 AND 2047), ''),
       json_group_array(json_array(step_id, value, max(0, CAST(round(answered_at * 1000) AS INTEGER) - 1704067200000),
                                   json_valid(value)))
           FILTER (WHERE NOT (value_num BETWEEN -2048 AND 2047) OR value_num IS NULL)
FROM answers_current
WHERE response_id IN (SELECT id FROM responses WHERE status = 'submitted')
GROUP BY response_id;

CREATE TRIGGER responses_pack_answers AFTER UPDATE OF status ON responses
WHEN NEW.status = 'submitted'
 AND (OLD.status IS NOT 'submitted' OR NOT EXISTS (SELECT 1 FROM response_vectors WHERE response_id = NEW.id))
BEGIN
    INSERT OR REPLACE INTO response_vectors (response_id, answered, steps, codes, loose)
    SELECT NEW.id, count(*),
           coalesce(group_concat(step_id, char(31)) FILTER (WHERE value_num BETWEEN -2048 AND 2047), ''),
           coalesce(group_concat((max(0, CAST(round(answered_at * 1000) AS INTEGER) - 1704067200000) << 12)
                                 | (value_num + 2048), ',') FILTER (WHERE value_num BETWEEN -2048 AND 2047), ''),
           json_group_array(json_array(step_id, value,
                                       max(0, CAST(round(answered_at * 1000) AS INTEGER) - 1704067200000),
                                       json_valid(value)))
               FILTER (WHERE NOT (value_num BETWEEN -2048 AND 2047) OR value_num IS NULL)
    FROM answers_current WHERE response_id = NEW.id;
END;

CREATE TRIGGER answers_current_added_unpack AFTER INSERT ON answers_current
BEGIN
    DELETE FROM response_vectors WHERE response_id = NEW.response_id;
END;

CREATE TRIGGER answers_current_changed_unpack AFTER UPDATE ON answers_current
BEGIN
    DELETE FROM response_vectors WHERE response_id IN (OLD.response_id, NEW.response_id);
END;

CREATE TRIGGER answers_current_removed_unpack AFTER DELETE ON answers_current
BEGIN
    DELETE FROM response_vectors WHERE response_id = OLD.response_id;
END;
