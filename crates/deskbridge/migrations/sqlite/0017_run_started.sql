-- When each integration's newest sync run started, kept on the integration: the scheduler reads
-- it every tick for every integration, and finding it in sync_runs (which keeps every run) grew
-- with the history rather than with the number of help desks.
ALTER TABLE integrations ADD COLUMN run_started_at BIGINT;
UPDATE integrations SET run_started_at =
    (SELECT MAX(started_at) FROM sync_runs WHERE sync_runs.integration_id = integrations.id);
