-- hailong schema, version 1: frames, rounds, respondents, responses, answers, idempotency,
-- outbox, re-check and audit. Times are Unix epoch seconds (REAL), as the engine uses them.
-- JSON columns hold text produced by Python's json module (ensure_ascii=False).

-- A questionnaire definition, pinned by its content hash (survey_defs.schema.Survey.content_hash).
CREATE TABLE survey_versions (
    hash        TEXT PRIMARY KEY,
    survey_id   TEXT NOT NULL,
    version     TEXT NOT NULL,
    definition  TEXT NOT NULL,
    stored_at   REAL NOT NULL
);
CREATE INDEX survey_versions_by_id ON survey_versions (survey_id, version);

-- The sampling frame: administrative units (province → district → commune → village) or service
-- points (agency → field). Round-independent; `frame` names an imported frame (e.g. a year).
CREATE TABLE units (
    id               INTEGER PRIMARY KEY,
    frame            TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL
                     CHECK (kind IN ('province', 'district', 'commune', 'village', 'agency', 'field', 'walk_in')),
    code             TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    admin_type       TEXT    CHECK (admin_type IN ('I', 'II', 'III')),
    is_admin_centre  INTEGER NOT NULL DEFAULT 0 CHECK (is_admin_centre IN (0, 1)),
    is_commune_hq    INTEGER NOT NULL DEFAULT 0 CHECK (is_commune_hq IN (0, 1)),
    parent_id        INTEGER REFERENCES units (id),
    sort_order       INTEGER,
    neighbour_order  INTEGER,
    quota            INTEGER CHECK (quota IS NULL OR quota >= 0),
    attrs            TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (frame, code)
);
CREATE INDEX units_by_parent ON units (parent_id);

-- A survey round (đợt khảo sát): one questionnaire version, one sample, one time window.
CREATE TABLE rounds (
    id                INTEGER PRIMARY KEY,
    code              TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL DEFAULT '',
    survey_id         TEXT    NOT NULL,
    survey_hash       TEXT    NOT NULL REFERENCES survey_versions (hash),
    sampling_plan_id  TEXT,
    frame             TEXT,
    status            TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'closed')),
    opens_at          REAL,
    closes_at         REAL,
    opened_at         REAL,
    closed_at         REAL,
    reminder_policy   TEXT    NOT NULL DEFAULT '{}',
    settings          TEXT    NOT NULL DEFAULT '{}',
    allow_walk_in     INTEGER NOT NULL DEFAULT 0 CHECK (allow_walk_in IN (0, 1)),
    walk_in_unit_id   INTEGER REFERENCES units (id),
    expiry_days       INTEGER NOT NULL DEFAULT 14 CHECK (expiry_days > 0),
    recheck_share     REAL    CHECK (recheck_share IS NULL OR (recheck_share >= 0 AND recheck_share <= 1)),
    created_at        REAL    NOT NULL
);

-- Units selected for a round, each with the rule that chose it and its quota.
CREATE TABLE round_units (
    round_id    INTEGER NOT NULL REFERENCES rounds (id),
    unit_id     INTEGER NOT NULL REFERENCES units (id),
    reason      TEXT    NOT NULL,
    rule        TEXT,
    quota       INTEGER CHECK (quota IS NULL OR quota >= 0),
    sort_order  INTEGER,
    PRIMARY KEY (round_id, unit_id)
) WITHOUT ROWID;

-- A sampled household / service user. Personal data lives in `contacts`, never here.
CREATE TABLE respondents (
    id                INTEGER PRIMARY KEY,
    round_id          INTEGER NOT NULL REFERENCES rounds (id),
    unit_id           INTEGER NOT NULL REFERENCES units (id),
    household_ref     TEXT,
    selection_reason  TEXT    NOT NULL,
    attrs             TEXT    NOT NULL DEFAULT '{}',
    status            TEXT    NOT NULL DEFAULT 'sampled'
                      CHECK (status IN ('sampled', 'invited', 'opened', 'started', 'partial', 'completed',
                                        'refused', 'ineligible', 'unreachable', 'substituted')),
    status_reason     TEXT,
    substitute_of     INTEGER REFERENCES respondents (id),
    walk_in           INTEGER NOT NULL DEFAULT 0 CHECK (walk_in IN (0, 1)),
    token             TEXT    NOT NULL UNIQUE CHECK (length(token) BETWEEN 22 AND 64),
    card_code         TEXT    NOT NULL,
    created_at        REAL    NOT NULL,
    invited_at        REAL,
    opened_at         REAL,
    started_at        REAL,
    finished_at       REAL,
    status_at         REAL,
    UNIQUE (round_id, card_code)
);
CREATE INDEX respondents_by_round_unit ON respondents (round_id, unit_id, status);
CREATE INDEX respondents_by_card_code ON respondents (card_code);
CREATE INDEX respondents_by_substitute_of ON respondents (substitute_of) WHERE substitute_of IS NOT NULL;

-- Personal data, kept apart from answers; analytics never reads this table.
CREATE TABLE contacts (
    respondent_id  INTEGER PRIMARY KEY REFERENCES respondents (id),
    name           TEXT,
    phone          TEXT,
    telegram_id    TEXT,
    zalo_id        TEXT,
    address        TEXT
);

-- Which chat talks for which respondent (the latest claim wins).
CREATE TABLE chat_bindings (
    channel        TEXT    NOT NULL,
    chat_id        TEXT    NOT NULL,
    respondent_id  INTEGER NOT NULL REFERENCES respondents (id),
    bound_at       REAL    NOT NULL,
    PRIMARY KEY (channel, chat_id)
) WITHOUT ROWID;
CREATE INDEX chat_bindings_by_respondent ON chat_bindings (respondent_id);

-- One response per respondent, whatever the channel; `state` is the engine's State JSON.
CREATE TABLE responses (
    id             INTEGER PRIMARY KEY,
    respondent_id  INTEGER NOT NULL UNIQUE REFERENCES respondents (id),
    round_id       INTEGER NOT NULL REFERENCES rounds (id),
    survey_hash    TEXT    NOT NULL REFERENCES survey_versions (hash),
    mode           TEXT    NOT NULL DEFAULT 'chat' CHECK (mode IN ('chat', 'paper')),
    channel        TEXT,
    lang           TEXT    NOT NULL DEFAULT 'vi',
    status         TEXT    NOT NULL DEFAULT 'new',
    outcome        TEXT,
    state          TEXT    NOT NULL,
    started_at     REAL    NOT NULL,
    updated_at     REAL    NOT NULL,
    submitted_at   REAL
);
CREATE INDEX responses_by_round ON responses (round_id, status, updated_at);

-- Answer history: one row per step per revision (an edit adds a row; `cleared` marks an answer
-- dropped because its step no longer applies). `value` is JSON; `value_num` repeats integer
-- values so that analytics can read them without parsing JSON.
CREATE TABLE answers (
    id           INTEGER PRIMARY KEY,
    response_id  INTEGER NOT NULL REFERENCES responses (id),
    step_id      TEXT    NOT NULL,
    revision     INTEGER NOT NULL CHECK (revision >= 1),
    value        TEXT,
    value_num    INTEGER,
    cleared      INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
    answered_at  REAL    NOT NULL,
    asked_at     REAL,
    channel      TEXT,
    UNIQUE (response_id, step_id, revision),
    CHECK ((cleared = 1 AND value IS NULL) OR (cleared = 0 AND value IS NOT NULL))
);

-- Channel updates already applied (Telegram update ids, Zalo event ids…): exactly-once.
CREATE TABLE processed_updates (
    channel     TEXT NOT NULL,
    update_key  TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (channel, update_key)
) WITHOUT ROWID;
CREATE INDEX processed_updates_by_at ON processed_updates (at);

-- Messages to send: rows first, messages second, so a crash never sends twice or forgets one.
CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY,
    round_id             INTEGER REFERENCES rounds (id),
    respondent_id        INTEGER REFERENCES respondents (id),
    channel              TEXT    NOT NULL,
    chat_id              TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('invite', 'reminder', 'notice')),
    priority             INTEGER NOT NULL DEFAULT 100,
    payload              TEXT    NOT NULL DEFAULT '{}',
    dedupe_key           TEXT    NOT NULL UNIQUE,
    status               TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'cancelled')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    not_before           REAL    NOT NULL DEFAULT 0,
    last_error           TEXT,
    created_at           REAL    NOT NULL,
    claimed_at           REAL,
    sent_at              REAL,
    provider_message_id  TEXT
);
CREATE INDEX outbox_due ON outbox (channel, status, priority, not_before);
CREATE INDEX outbox_by_respondent ON outbox (respondent_id, kind, status);

-- Re-check (phúc tra) of completed responses by the Fatherland Front / Veterans' Association.
CREATE TABLE recheck (
    id             INTEGER PRIMARY KEY,
    round_id       INTEGER NOT NULL REFERENCES rounds (id),
    respondent_id  INTEGER NOT NULL REFERENCES respondents (id),
    response_id    INTEGER REFERENCES responses (id),
    stratum        TEXT,
    drawn_at       REAL    NOT NULL,
    seed           TEXT    NOT NULL,
    outcome        TEXT    CHECK (outcome IN ('confirmed', 'not_confirmed', 'unreachable')),
    note           TEXT,
    recorded_by    TEXT,
    recorded_at    REAL,
    UNIQUE (round_id, respondent_id)
);

-- Staff actions, for accountability.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        REAL NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    round_id  INTEGER,
    details   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_round ON audit_log (round_id, at);
