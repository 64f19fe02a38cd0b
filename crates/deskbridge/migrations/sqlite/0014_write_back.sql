-- When a product's write to Freshdesk was refused (403) through this integration: a health cause
-- that reads keep working under, cleared when an admin switches write-back on again.
ALTER TABLE integrations ADD COLUMN write_denied_at BIGINT;

-- Triage's optional annotation of each write: a tag and a private note with the top three.
ALTER TABLE triage_fields ADD COLUMN annotate INTEGER NOT NULL DEFAULT 0;
-- Where a written prediction's note stands: NULL (none due or not yet), sending, sent, failed.
-- `sending` is set before the POST, so a note is never posted twice, even across a crash.
ALTER TABLE triage_predictions ADD COLUMN annotation TEXT;

-- A value Freshdesk refused for a field (no longer one of its choices): not predicted by that
-- model again; a retrained model (another id) starts afresh.
CREATE TABLE triage_retired (
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    field TEXT NOT NULL,
    model_id BIGINT NOT NULL,
    value TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id, field, model_id, value)
);
