-- hailong schema: staff accounts for the web console and the bot's staff commands (issue 17).
-- A role and, for officers and enumerators, the unit whose subtree they see; passwords only as
-- argon2 hashes; sessions only as SHA-256 hashes of the cookie token; failed logins counted here
-- so that the limit holds across restarts and across processes. Nothing else depends on this
-- file's number.

CREATE TABLE staff_accounts (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE CHECK (length(username) BETWEEN 2 AND 64),
    display_name         TEXT    NOT NULL DEFAULT '',
    role                 TEXT    NOT NULL
                         CHECK (role IN ('admin', 'analyst', 'district', 'commune', 'enumerator')),
    unit_id              INTEGER REFERENCES units (id),
    password_hash        TEXT    NOT NULL,
    active               INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    lang                 TEXT    NOT NULL DEFAULT 'vi' CHECK (lang IN ('vi', 'en')),
    created_at           REAL    NOT NULL,
    password_changed_at  REAL    NOT NULL,
    CHECK (role IN ('admin', 'analyst') OR unit_id IS NOT NULL)
);

-- Chats of a staff member (Telegram user id, Zalo user id) allowed the bot's staff commands.
CREATE TABLE staff_chats (
    channel     TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES staff_accounts (id),
    linked_at   REAL    NOT NULL,
    PRIMARY KEY (channel, chat_id)
) WITHOUT ROWID;
CREATE INDEX staff_chats_by_account ON staff_chats (account_id);

-- Console sessions: `token_hash` = SHA-256 of the cookie value (a stolen database opens no session).
CREATE TABLE staff_sessions (
    token_hash  TEXT    PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES staff_accounts (id),
    csrf        TEXT    NOT NULL,
    created_at  REAL    NOT NULL,
    last_seen   REAL    NOT NULL,
    expires_at  REAL    NOT NULL
) WITHOUT ROWID;
CREATE INDEX staff_sessions_by_account ON staff_sessions (account_id);

-- Login attempts (the rate limit): per user name and per client address, pruned after a day.
CREATE TABLE staff_login_attempts (
    id        INTEGER PRIMARY KEY,
    username  TEXT    NOT NULL,
    client    TEXT    NOT NULL,
    at        REAL    NOT NULL,
    ok        INTEGER NOT NULL CHECK (ok IN (0, 1))
);
CREATE INDEX staff_login_attempts_by_user ON staff_login_attempts (username, at);
CREATE INDEX staff_login_attempts_by_client ON staff_login_attempts (client, at);
