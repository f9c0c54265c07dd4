-- hailong schema: several `hailong run` workers share one database (PostgreSQL; SQLite keeps the
-- same tables for one process). Nothing here depends on this file's number.

-- The channel's send budget, shared by every worker: a token bucket per channel (Telegram's
-- ~30 messages/s is for the bot, not per process). A worker takes tokens before it claims outbox
-- rows; replies a worker sent are debited too, so bulk sending yields to conversations.
CREATE TABLE send_budget (
    channel     TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  REAL NOT NULL
);

-- Jobs that must run on one worker at a time (the reminder and deadline scheduler): the holder
-- renews its lease; another worker takes it over once it has expired. `generation` counts
-- hand-overs (a holder that sees another generation has lost the lease).
CREATE TABLE leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    generation   INTEGER NOT NULL DEFAULT 1,
    acquired_at  REAL NOT NULL,
    renewed_at   REAL NOT NULL,
    expires_at   REAL NOT NULL
);

-- Which worker claimed an outbox row (with claimed_at: its lease on the row).
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
