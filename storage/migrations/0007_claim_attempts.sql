-- hailong schema: invitation claims are counted, and a credential bound to one chat moves to
-- another only as docs/credentials.md says (storage/claims.py, storage/handovers.py).
-- Nothing here depends on this file's number.

-- Every claim of a token or card code that reached the ledger (one row per claim that was
-- looked up or failed its check). `update_key` (the platform's update / message id) makes a
-- redelivered claim count once. Rows older than a day are pruned.
CREATE TABLE claim_attempts (
    id          INTEGER PRIMARY KEY,
    channel     TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    update_key  TEXT,
    at          REAL    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('ok', 'held', 'final', 'failed', 'malformed'))
);
CREATE UNIQUE INDEX claim_attempts_by_update ON claim_attempts (channel, update_key);
CREATE INDEX claim_attempts_by_chat ON claim_attempts (channel, chat_id, at);
CREATE INDEX claim_attempts_by_outcome ON claim_attempts (channel, outcome, at);

-- Claims refused by a limit before any look-up, counted per channel and minute (a flood of
-- refused claims costs one row per minute, not one per message).
CREATE TABLE claim_refusals (
    channel  TEXT    NOT NULL,
    minute   INTEGER NOT NULL,
    refused  INTEGER NOT NULL,
    PRIMARY KEY (channel, minute)
) WITHOUT ROWID;

-- A chat asked for a credential that another chat holds with answers: the holder is asked.
-- pending → allowed (holder agreed) | denied (holder said "not me") | expired (no answer in
-- time or holder unreachable: the new chat continued with earlier answers hidden) | lapsed
-- (timed out and replaced by a newer request). `nonce` authenticates the holder's buttons.
CREATE TABLE claim_handovers (
    id             INTEGER PRIMARY KEY,
    respondent_id  INTEGER NOT NULL REFERENCES respondents (id),
    from_channel   TEXT    NOT NULL,
    from_chat      TEXT    NOT NULL,
    to_channel     TEXT    NOT NULL,
    to_chat        TEXT    NOT NULL,
    nonce          TEXT    NOT NULL,
    asked_at       REAL    NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'allowed', 'denied', 'expired', 'lapsed')),
    decided_at     REAL
);
CREATE INDEX claim_handovers_by_respondent ON claim_handovers (respondent_id, status);
CREATE INDEX claim_handovers_by_holder ON claim_handovers (from_channel, from_chat, status);
