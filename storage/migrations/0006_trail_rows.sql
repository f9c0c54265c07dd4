-- hailong schema, version 6: the trail (the steps behind the current one, what "back" walks)
-- leaves the cursor: each step's place in it is kept on its paradata row, so an answer writes the
-- one position it adds on a row it writes anyway, instead of rewriting a list that grows with every
-- answer. Cursors written before keep their trail and are read as they are; a response's next step
-- moves its trail into the rows (storage.state_rows).

ALTER TABLE response_steps ADD COLUMN trail_pos INTEGER;
