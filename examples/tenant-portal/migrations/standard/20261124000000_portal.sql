-- Tenant portal schema for SQLite and PostgreSQL (the MFA tables are mfa-store-sqlx's own).
CREATE TABLE portal_users (
    id TEXT NOT NULL PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    phone TEXT,
    address TEXT,
    tenancy_ref TEXT,
    platform_group TEXT,
    password_hash TEXT,
    registration_token_hash TEXT,
    registration_expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX portal_users_email_key ON portal_users (email);
CREATE TABLE portal_rent_ledger (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    posted_at BIGINT NOT NULL,
    description TEXT NOT NULL,
    amount_pence BIGINT NOT NULL
);
CREATE INDEX portal_rent_ledger_user_id_idx ON portal_rent_ledger (user_id);
CREATE TABLE portal_repairs (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    details TEXT NOT NULL,
    status TEXT NOT NULL,
    reported_at BIGINT NOT NULL
);
CREATE INDEX portal_repairs_user_id_idx ON portal_repairs (user_id);
CREATE TABLE portal_slots (
    id TEXT NOT NULL PRIMARY KEY,
    trade TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    repair_id TEXT
);
CREATE INDEX portal_slots_repair_id_idx ON portal_slots (repair_id);
CREATE TABLE portal_documents (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    issued_at BIGINT NOT NULL
);
CREATE INDEX portal_documents_user_id_idx ON portal_documents (user_id);
CREATE TABLE portal_messages (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    from_staff BIGINT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at BIGINT NOT NULL
);
CREATE INDEX portal_messages_user_id_idx ON portal_messages (user_id);
CREATE TABLE portal_applications (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    property TEXT NOT NULL,
    bedrooms BIGINT NOT NULL,
    status TEXT NOT NULL,
    notes TEXT NOT NULL,
    submitted_at BIGINT NOT NULL
);
CREATE INDEX portal_applications_user_id_idx ON portal_applications (user_id);
CREATE TABLE portal_password_resets (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_password_resets_user_id_idx ON portal_password_resets (user_id);
CREATE TABLE portal_audit (
    id TEXT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    actor TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX portal_audit_at_idx ON portal_audit (at);
CREATE INDEX portal_audit_user_id_idx ON portal_audit (user_id);
CREATE TABLE portal_settings (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
