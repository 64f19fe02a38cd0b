-- Connection health: the current finding on the integration, every status change (the timeline),
-- incidents (one alert each), and alert deliveries (rows first, so a restart loses none).
ALTER TABLE integrations ADD COLUMN health_cause TEXT;
ALTER TABLE integrations ADD COLUMN health_detail TEXT;
ALTER TABLE integrations ADD COLUMN health_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE integrations ADD COLUMN health_failing_since BIGINT;
ALTER TABLE integrations ADD COLUMN health_checked_at BIGINT;

CREATE TABLE health_events (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    cause TEXT,
    detail TEXT
);
CREATE INDEX health_events_integration ON health_events(integration_id, id);

CREATE TABLE incidents (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    cause TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    resolved_at BIGINT,
    reminded_at BIGINT
);
CREATE INDEX incidents_open ON incidents(integration_id, resolved_at);

CREATE TABLE alert_deliveries (
    id BIGSERIAL PRIMARY KEY,
    org_id BIGINT NOT NULL,
    integration_id BIGINT NOT NULL,
    incident_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    next_attempt_at BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX alert_deliveries_pending ON alert_deliveries(status, next_attempt_at);

-- Where an organisation wants signed alert webhooks; the signing secret is sealed by the vault.
ALTER TABLE organisations ADD COLUMN alert_webhook_url TEXT;
ALTER TABLE organisations ADD COLUMN alert_webhook_secret TEXT;
