-- The one durable job queue. A job is a row: enqueued in the same transaction as its cause,
-- claimed by one conditional UPDATE that takes a lease (owner and expiry, milliseconds), kept by
-- heartbeats, retried with back-off through run_after, and left visible as failed or cancelled.
-- The partial unique index makes a dedupe key name at most one live (queued or running) job, so
-- at most one sync per integration runs at a time across processes.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    org_id BIGINT,
    integration_id BIGINT,
    payload TEXT NOT NULL,
    dedupe_key TEXT,
    priority BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    run_after BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    -- 0: the dedupe key is dropped when the job is claimed, so a cause arriving while it runs
    -- queues one more run (webhook refreshes); 1: it holds while the job runs (one sync at a time).
    dedupe_running BIGINT NOT NULL DEFAULT 1,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE UNIQUE INDEX jobs_live_dedupe ON jobs(dedupe_key) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_ready ON jobs(state, run_after);
CREATE INDEX jobs_integration ON jobs(integration_id, id);
