-- Every stream besides tickets and conversations. Typed columns for what the products query, the
-- raw JSON of each record so fields added later are not lost.
CREATE TABLE fd_contacts (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT,
    email TEXT,
    phone TEXT,
    company_id BIGINT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE fd_companies (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE fd_agents (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT,
    email TEXT,
    ticket_scope BIGINT,
    occasional BIGINT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE fd_groups (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE fd_ticket_fields (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    name TEXT,
    label TEXT,
    field_type TEXT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE fd_articles (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    category_id BIGINT,
    folder_id BIGINT,
    title TEXT,
    description_text TEXT,
    status BIGINT,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

-- Roles, solution categories and folders, business hours, SLA policies, satisfaction ratings and
-- time entries: kept whole, keyed by stream.
CREATE TABLE fd_records (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    stream TEXT NOT NULL,
    id BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT,
    updated_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, stream, id)
);

-- Per stream: how many records, and why it was skipped if it was.
CREATE TABLE sync_streams (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    stream TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id, stream)
);

-- One lease per integration: two triggers give one run, and a crashed holder's lease expires.
CREATE TABLE sync_locks (
    integration_id BIGINT PRIMARY KEY,
    owner TEXT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Ticket ids named by Freshdesk automation-rule webhooks, waiting for a targeted refresh.
CREATE TABLE hook_events (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    ticket_id BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    outcome TEXT,
    PRIMARY KEY (org_id, integration_id, ticket_id, received_at)
);
CREATE INDEX hook_events_pending ON hook_events(integration_id, processed_at);

-- A ticket's conversations are replaced as a set.
CREATE INDEX fd_conversations_ticket ON fd_conversations(org_id, integration_id, ticket_id);

ALTER TABLE integrations ADD COLUMN sync_interval_secs BIGINT;
ALTER TABLE integrations ADD COLUMN hook_secret TEXT;
ALTER TABLE integrations ADD COLUMN synced_at BIGINT;

-- Every run: what started it, where it is, how it ended. `progress_json` feeds the live page.
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    progress_json TEXT NOT NULL,
    error TEXT,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX sync_runs_integration ON sync_runs(integration_id, id);
