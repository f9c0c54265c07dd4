-- hailong schema, version 15: nothing changes on SQLite. On PostgreSQL, a database migrated to
-- version 13 before migration 13's triggers had a PostgreSQL form (storage/dialect.py) holds an
-- empty response_vectors table and no triggers: this statement becomes those triggers (created
-- again where they exist) and a rebuild of every submitted response's vector.

SELECT 'response vectors kept on PostgreSQL too';
