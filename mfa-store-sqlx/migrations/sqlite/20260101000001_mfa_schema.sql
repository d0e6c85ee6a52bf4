-- mfa-store-sqlx schema (SQLite). Times: INTEGER unix milliseconds (UTC).
CREATE TABLE IF NOT EXISTS mfa_users (
    user_id             TEXT    NOT NULL PRIMARY KEY,
    epoch               INTEGER NOT NULL DEFAULT 0,
    failures            INTEGER NOT NULL DEFAULT 0,
    locked_until        INTEGER,
    reenroll_required   BOOLEAN NOT NULL DEFAULT FALSE,
    sessions_revoked_at INTEGER
);

CREATE TABLE IF NOT EXISTS mfa_factors (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    secret          BLOB,
    destination     BLOB,
    masked          TEXT,
    destination_key BLOB CHECK (destination_key IS NULL OR length(destination_key) = 32),
    last_step       INTEGER,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    last_used_at    INTEGER
);
CREATE INDEX IF NOT EXISTS mfa_factors_user ON mfa_factors (user_id, created_at);

CREATE TABLE IF NOT EXISTS mfa_challenges (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    factor_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    code_hash   BLOB    NOT NULL CHECK (length(code_hash) = 32),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX IF NOT EXISTS mfa_challenges_user_purpose ON mfa_challenges (user_id, purpose, created_at);
CREATE INDEX IF NOT EXISTS mfa_challenges_user_factor ON mfa_challenges (user_id, factor_id);

CREATE TABLE IF NOT EXISTS mfa_devices (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL CHECK (length(token_hash) = 32),
    label        TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS mfa_devices_token ON mfa_devices (token_hash);
CREATE INDEX IF NOT EXISTS mfa_devices_user ON mfa_devices (user_id, created_at);

CREATE TABLE IF NOT EXISTS mfa_recovery_codes (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    phc         TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX IF NOT EXISTS mfa_recovery_codes_user_fp ON mfa_recovery_codes (user_id, fingerprint);

CREATE TABLE IF NOT EXISTS mfa_sends (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT    NOT NULL,
    destination BLOB    NOT NULL CHECK (length(destination) = 32),
    sent_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS mfa_sends_user ON mfa_sends (user_id, sent_at);
CREATE INDEX IF NOT EXISTS mfa_sends_destination ON mfa_sends (destination, sent_at);
