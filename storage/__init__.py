"""hailong storage: SQLite (aiosqlite) with numbered migrations and a group-commit writer.

Modules (only these contain SQL; other packages call their typed functions):
- ``db``: ``Database`` (open/migrate/close, ``write(op)``, reads), ``DatabaseTooNew``, ``default_db_path``.
- ``writer``: the single group-commit writer (one fsync per batch, failures isolated per op).
- ``errors``: ``StorageError`` and ``StorageUnavailable`` (the database cannot be written now: disk
  full, locked, I/O error; channels then do not acknowledge the update).
- ``conversations``: ``SqliteConversationStore``, the ``storage.api.ConversationStore`` for channels.
- ``state_rows``: how an engine State is laid out (a small cursor, answer rows, paradata rows that
  also hold the trail) and rebuilt; the per-step delta of rows.
- ``step_write``: the hot path, one engine step stored atomically (``StepWrite``) and a group
  commit's worth of them in one statement per table.
- ``bulk``: many rows in one statement (a ``VALUES`` list of bound parameters, padded to size classes).
- ``rounds``, ``units``, ``respondents``, ``responses``, ``outbox``, ``recheck``, ``audit``: one
  module per table family (fieldwork, analytics and channels call these).
- ``testing``: seeding helpers for tests, benchmarks and rehearsals.
- ``cli``: ``hailong init``.
"""
