-- The change feed of the synced copy. Every record a sync or a webhook refresh changes (inserted,
-- changed, tombstoned, or deleted outright) gets the next number of its integration's change
-- sequence, written in the same transaction as the row. One row per record: a record changed
-- again moves to the end, so a reader who keeps the last number it read gets every later change
-- once, in order. A record deleted outright keeps its row here, as its tombstone.
CREATE TABLE record_changes (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    stream TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id, stream, record_id)
);
CREATE UNIQUE INDEX record_changes_feed ON record_changes(org_id, integration_id, stream, seq);

-- Per integration: the last number handed out (the row is locked while a writer holds it, so
-- numbers become visible in order), and the key that signs its record cursors.
CREATE TABLE change_counters (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    cursor_key TEXT,
    PRIMARY KEY (org_id, integration_id)
);

-- What an earlier release synced enters the feed once, in a fixed order.
INSERT INTO record_changes (org_id, integration_id, stream, record_id, seq, changed_at)
SELECT org_id, integration_id, stream, id,
       ROW_NUMBER() OVER (PARTITION BY org_id, integration_id ORDER BY stream, id),
       COALESCE(updated_at, 0)
FROM (
    SELECT org_id, integration_id, 'tickets' AS stream, id, updated_at FROM fd_tickets
    UNION ALL SELECT org_id, integration_id, 'conversations', id, updated_at FROM fd_conversations
    UNION ALL SELECT org_id, integration_id, 'contacts', id, updated_at FROM fd_contacts
    UNION ALL SELECT org_id, integration_id, 'companies', id, updated_at FROM fd_companies
    UNION ALL SELECT org_id, integration_id, 'agents', id, updated_at FROM fd_agents
    UNION ALL SELECT org_id, integration_id, 'groups', id, updated_at FROM fd_groups
    UNION ALL SELECT org_id, integration_id, 'ticket_fields', id, updated_at FROM fd_ticket_fields
    UNION ALL SELECT org_id, integration_id, 'solution_articles', id, updated_at FROM fd_articles
    UNION ALL SELECT org_id, integration_id, stream, id, updated_at FROM fd_records
) AS synced;

INSERT INTO change_counters (org_id, integration_id, seq)
SELECT org_id, integration_id, MAX(seq) FROM record_changes GROUP BY org_id, integration_id;

-- API tokens get scopes: a space-separated set of records:read, integrations:write and admin.
-- Tokens made before scopes existed keep every right they had.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin';
