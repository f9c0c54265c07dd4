-- hailong schema, version 4: the "answered → started" disposition moves back from a trigger
-- (migration 3) to storage.responses.commit_step_op, once per step instead of once per answer
-- row: the trigger made bulk loads of answers (paper imports, synthetic data) 4× slower.
-- answers_current stays maintained by the triggers of migration 3.

DROP TRIGGER IF EXISTS answers_mark_started;
