-- mfa-store-sqlx schema (MySQL / MariaDB, InnoDB). Times: BIGINT unix
-- milliseconds (UTC). User ids and record ids are VARBINARY: compared
-- byte-wise, case- and trailing-space-sensitive (a NO PAD binary
-- collation), exactly like Rust strings; at most 255 bytes, so every index
-- stays far below InnoDB's 3072-byte key limit.
CREATE TABLE IF NOT EXISTS mfa_users (
    user_id             VARBINARY(255) NOT NULL PRIMARY KEY,
    epoch               BIGINT  NOT NULL DEFAULT 0,
    failures            BIGINT  NOT NULL DEFAULT 0,
    locked_until        BIGINT  NULL,
    reenroll_required   BOOLEAN NOT NULL DEFAULT FALSE,
    sessions_revoked_at BIGINT  NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mfa_factors (
    id              VARBINARY(64)  NOT NULL PRIMARY KEY,
    user_id         VARBINARY(255) NOT NULL,
    kind            VARCHAR(16)    NOT NULL,
    label           VARCHAR(255)   NOT NULL,
    state           VARCHAR(16)    NOT NULL,
    secret          BLOB           NULL,
    destination     BLOB           NULL,
    masked          VARCHAR(255)   NULL,
    destination_key VARBINARY(32)  NULL,
    last_step       BIGINT         NULL,
    created_at      BIGINT         NOT NULL,
    confirmed_at    BIGINT         NULL,
    last_used_at    BIGINT         NULL,
    KEY mfa_factors_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mfa_challenges (
    id          VARBINARY(64)  NOT NULL PRIMARY KEY,
    user_id     VARBINARY(255) NOT NULL,
    factor_id   VARBINARY(64)  NOT NULL,
    kind        VARCHAR(16)    NOT NULL,
    purpose     VARCHAR(16)    NOT NULL,
    code_hash   VARBINARY(32)  NOT NULL,
    attempts    BIGINT         NOT NULL DEFAULT 0,
    created_at  BIGINT         NOT NULL,
    expires_at  BIGINT         NOT NULL,
    used_at     BIGINT         NULL,
    KEY mfa_challenges_user_purpose (user_id, purpose, created_at),
    KEY mfa_challenges_user_factor (user_id, factor_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mfa_devices (
    id           VARBINARY(64)  NOT NULL PRIMARY KEY,
    user_id      VARBINARY(255) NOT NULL,
    token_hash   VARBINARY(32)  NOT NULL,
    label        VARCHAR(255)   NOT NULL,
    epoch        BIGINT         NOT NULL,
    created_at   BIGINT         NOT NULL,
    last_used_at BIGINT         NULL,
    expires_at   BIGINT         NOT NULL,
    revoked_at   BIGINT         NULL,
    UNIQUE KEY mfa_devices_token (token_hash),
    KEY mfa_devices_user (user_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mfa_recovery_codes (
    id          VARBINARY(64)  NOT NULL PRIMARY KEY,
    user_id     VARBINARY(255) NOT NULL,
    fingerprint VARBINARY(32)  NOT NULL,
    phc         VARCHAR(255)   NOT NULL,
    created_at  BIGINT         NOT NULL,
    used_at     BIGINT         NULL,
    KEY mfa_recovery_codes_user_fp (user_id, fingerprint)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS mfa_sends (
    id          BIGINT         NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     VARBINARY(255) NOT NULL,
    destination VARBINARY(32)  NOT NULL,
    sent_at     BIGINT         NOT NULL,
    KEY mfa_sends_user (user_id, sent_at),
    KEY mfa_sends_destination (destination, sent_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per destination ever sent to: record_send locks it (FOR UPDATE)
-- so the per-destination cap holds across users and app servers.
CREATE TABLE IF NOT EXISTS mfa_send_locks (
    destination VARBINARY(32) NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
