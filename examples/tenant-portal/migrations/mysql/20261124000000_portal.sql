-- Tenant portal schema (the MFA tables are mfa-store-sqlx's own).
-- Ids compare byte-wise (utf8mb4_bin). Long text is VARCHAR, not TEXT:
-- sqlx's Any driver reads MySQL TEXT columns as bytes.
CREATE TABLE portal_users (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    role VARCHAR(255) NOT NULL,
    phone VARCHAR(255),
    address VARCHAR(255),
    tenancy_ref VARCHAR(255),
    platform_group VARCHAR(255),
    password_hash VARCHAR(255),
    registration_token_hash VARCHAR(255),
    registration_expires_at BIGINT,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE UNIQUE INDEX portal_users_email_key ON portal_users (email);
CREATE TABLE portal_rent_ledger (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    posted_at BIGINT NOT NULL,
    description VARCHAR(255) NOT NULL,
    amount_pence BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_rent_ledger_user_id_idx ON portal_rent_ledger (user_id);
CREATE TABLE portal_repairs (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    category VARCHAR(255) NOT NULL,
    title VARCHAR(255) NOT NULL,
    details VARCHAR(4000) NOT NULL,
    status VARCHAR(255) NOT NULL,
    reported_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_repairs_user_id_idx ON portal_repairs (user_id);
CREATE TABLE portal_slots (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    trade VARCHAR(255) NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    repair_id VARCHAR(191) COLLATE utf8mb4_bin
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_slots_repair_id_idx ON portal_slots (repair_id);
CREATE TABLE portal_documents (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    kind VARCHAR(255) NOT NULL,
    title VARCHAR(255) NOT NULL,
    body VARCHAR(4000) NOT NULL,
    issued_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_documents_user_id_idx ON portal_documents (user_id);
CREATE TABLE portal_messages (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    from_staff BIGINT NOT NULL,
    author VARCHAR(255) NOT NULL,
    body VARCHAR(4000) NOT NULL,
    sent_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_messages_user_id_idx ON portal_messages (user_id);
CREATE TABLE portal_applications (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    property VARCHAR(255) NOT NULL,
    bedrooms BIGINT NOT NULL,
    status VARCHAR(255) NOT NULL,
    notes VARCHAR(4000) NOT NULL,
    submitted_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_applications_user_id_idx ON portal_applications (user_id);
CREATE TABLE portal_password_resets (
    token_hash VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_password_resets_user_id_idx ON portal_password_resets (user_id);
CREATE TABLE portal_audit (
    id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
    actor VARCHAR(255),
    event VARCHAR(255) NOT NULL,
    detail VARCHAR(4000) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE INDEX portal_audit_at_idx ON portal_audit (at);
CREATE INDEX portal_audit_user_id_idx ON portal_audit (user_id);
CREATE TABLE portal_settings (
    name VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    value VARCHAR(12000) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
