CREATE TABLE fd_tickets (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    subject TEXT,
    status BIGINT NOT NULL,
    priority BIGINT NOT NULL,
    requester_id BIGINT,
    responder_id BIGINT,
    group_id BIGINT,
    company_id BIGINT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    conversations_synced_at BIGINT,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);
CREATE INDEX fd_tickets_pending ON fd_tickets(org_id, integration_id, conversations_synced_at);

CREATE TABLE fd_conversations (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    ticket_id BIGINT NOT NULL,
    incoming BIGINT NOT NULL,
    private BIGINT NOT NULL,
    body_text TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (org_id, integration_id, id)
);

CREATE TABLE sync_cursors (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    stream TEXT NOT NULL,
    cursor BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id, stream)
);
