-- mfa-store-sqlx schema (PostgreSQL). Times: BIGINT unix milliseconds (UTC).
-- User ids use COLLATE "C" so they compare and sort byte-wise, like Rust.
CREATE TABLE IF NOT EXISTS mfa_users (
    user_id             TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    epoch               BIGINT  NOT NULL DEFAULT 0,
    failures            BIGINT  NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    reenroll_required   BOOLEAN NOT NULL DEFAULT FALSE,
    sessions_revoked_at BIGINT
);

CREATE TABLE IF NOT EXISTS mfa_factors (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id         TEXT COLLATE "C" NOT NULL,
    kind            TEXT   NOT NULL,
    label           TEXT   NOT NULL,
    state           TEXT   NOT NULL,
    secret          BYTEA,
    destination     BYTEA,
    masked          TEXT,
    destination_key BYTEA CHECK (destination_key IS NULL OR octet_length(destination_key) = 32),
    last_step       BIGINT,
    created_at      BIGINT NOT NULL,
    confirmed_at    BIGINT,
    last_used_at    BIGINT
);
CREATE INDEX IF NOT EXISTS mfa_factors_user ON mfa_factors (user_id, created_at);

CREATE TABLE IF NOT EXISTS mfa_challenges (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL,
    factor_id   TEXT COLLATE "C" NOT NULL,
    kind        TEXT   NOT NULL,
    purpose     TEXT   NOT NULL,
    code_hash   BYTEA  NOT NULL CHECK (octet_length(code_hash) = 32),
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX IF NOT EXISTS mfa_challenges_user_purpose ON mfa_challenges (user_id, purpose, created_at);
CREATE INDEX IF NOT EXISTS mfa_challenges_user_factor ON mfa_challenges (user_id, factor_id);

CREATE TABLE IF NOT EXISTS mfa_devices (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL,
    token_hash   BYTEA  NOT NULL CHECK (octet_length(token_hash) = 32),
    label        TEXT   NOT NULL,
    epoch        BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX IF NOT EXISTS mfa_devices_token ON mfa_devices (token_hash);
CREATE INDEX IF NOT EXISTS mfa_devices_user ON mfa_devices (user_id, created_at);

CREATE TABLE IF NOT EXISTS mfa_recovery_codes (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL,
    fingerprint BYTEA  NOT NULL CHECK (octet_length(fingerprint) = 32),
    phc         TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX IF NOT EXISTS mfa_recovery_codes_user_fp ON mfa_recovery_codes (user_id, fingerprint);

CREATE TABLE IF NOT EXISTS mfa_sends (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     TEXT COLLATE "C" NOT NULL,
    destination BYTEA  NOT NULL CHECK (octet_length(destination) = 32),
    sent_at     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS mfa_sends_user ON mfa_sends (user_id, sent_at);
CREATE INDEX IF NOT EXISTS mfa_sends_destination ON mfa_sends (destination, sent_at);

-- One row per destination ever sent to: record_send locks it (FOR UPDATE)
-- so the per-destination cap holds across users and app servers.
CREATE TABLE IF NOT EXISTS mfa_send_locks (
    destination BYTEA NOT NULL PRIMARY KEY CHECK (octet_length(destination) = 32)
);
