-- hailong schema, version 3: keep `answers_current` and the respondent's "started" disposition in
-- step with `answers` by triggers, inside SQLite. Every writer (chat, paper import, a future tool)
-- then maintains them the same way, and the hot path issues two statements fewer per answer.

CREATE TRIGGER answers_set_current AFTER INSERT ON answers WHEN NEW.cleared = 0
BEGIN
    INSERT INTO answers_current (response_id, step_id, revision, value, value_num, answered_at)
    VALUES (NEW.response_id, NEW.step_id, NEW.revision, NEW.value, NEW.value_num, NEW.answered_at)
    ON CONFLICT (response_id, step_id) DO UPDATE SET revision = excluded.revision, value = excluded.value,
        value_num = excluded.value_num, answered_at = excluded.answered_at;
END;

CREATE TRIGGER answers_clear_current AFTER INSERT ON answers WHEN NEW.cleared = 1
BEGIN
    DELETE FROM answers_current WHERE response_id = NEW.response_id AND step_id = NEW.step_id;
END;

-- A first answer (or an answer after a lapse) means the citizen is answering: started.
-- Final dispositions set afterwards in the same transaction (completed, refused…) win.
CREATE TRIGGER answers_mark_started AFTER INSERT ON answers WHEN NEW.cleared = 0
BEGIN
    UPDATE respondents
       SET status = 'started', status_at = NEW.answered_at,
           started_at = COALESCE(started_at, NEW.answered_at), status_reason = NULL
     WHERE id = (SELECT respondent_id FROM responses WHERE id = NEW.response_id)
       AND status IN ('sampled', 'invited', 'opened', 'partial', 'unreachable', 'refused', 'ineligible');
END;
