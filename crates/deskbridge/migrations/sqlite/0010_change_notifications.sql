-- Change notifications: an organisation's webhook for records consumers (its URL, and its signing
-- secret sealed by the vault), and one row per announced stretch of an integration's change feed.
-- Stretches follow one another without gaps or overlaps: each starts where the last one ended, so
-- every change is announced in exactly one event, whatever retries or crashes happen.
ALTER TABLE organisations ADD COLUMN changes_webhook_url TEXT;
ALTER TABLE organisations ADD COLUMN changes_webhook_secret TEXT;

CREATE TABLE change_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL,
    -- The stretch: feed positions after from_seq, up to and including to_seq.
    from_seq BIGINT NOT NULL, to_seq BIGINT NOT NULL,
    -- The event as sent, the same on every attempt.
    body TEXT NOT NULL,
    -- pending, sent or failed (out of attempts).
    status TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0, last_error TEXT,
    created_at BIGINT NOT NULL, sent_at BIGINT
);
CREATE UNIQUE INDEX change_notifications_stretch ON change_notifications(org_id, integration_id, from_seq);
