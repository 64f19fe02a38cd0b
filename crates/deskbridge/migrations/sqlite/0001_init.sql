CREATE TABLE organisations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organisations(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures(subject, at);

CREATE TABLE vault_keys (
    version BIGINT PRIMARY KEY,
    check_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE integrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organisations(id),
    kind TEXT NOT NULL,
    domain TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id BIGINT NOT NULL,
    agent_name TEXT NOT NULL,
    agent_email TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    key_ciphertext TEXT NOT NULL,
    report_json TEXT NOT NULL,
    connected_at BIGINT NOT NULL,
    last_checked_at BIGINT NOT NULL,
    UNIQUE (org_id, kind, domain)
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log(org_id, at);
