-- hailong schema, version 14: `answers_current` is written by the statements that write
-- `answers` (storage.step_write, storage.responses.import_paper), no longer by a trigger per
-- answer row. The writer already knows each row's revision and whether it sets or clears the
-- step, so it writes the current value with one statement per batch; the trigger ran a program
-- per row inside the answer insert (issue 21: the writer's CPU per answer). Whoever inserts into
-- `answers` now writes `answers_current` too (the view `current_answers` is the reference they
-- must agree with: the crash test compares them).

DROP TRIGGER IF EXISTS answers_set_current;

DROP TRIGGER IF EXISTS answers_clear_current;
