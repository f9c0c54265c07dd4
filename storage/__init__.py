"""hailong storage: SQLite (aiosqlite) with numbered migrations and a group-commit writer.

Modules (only these contain SQL; other packages call their typed functions):
- ``db``: ``Database`` (open/migrate/close, ``write(op)``, reads), ``DatabaseTooNew``, ``default_db_path``.
- ``writer``: the single group-commit writer (one fsync per batch, failures isolated per op).
- ``conversations``: ``SqliteConversationStore``, the ``storage.api.ConversationStore`` for channels.
- ``rounds``, ``units``, ``respondents``, ``responses``, ``outbox``, ``recheck``, ``audit``: one
  module per table family (fieldwork, analytics and channels call these).
- ``testing``: seeding helpers for tests, benchmarks and rehearsals.
- ``cli``: ``hailong init``.
"""
