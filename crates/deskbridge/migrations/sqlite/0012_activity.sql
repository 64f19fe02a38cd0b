-- Activity for the dashboard's pictures, per integration: API credits spent per minute with the
-- budget per minute at the time, and records changed per hour (every change counted, also a record
-- changed twice). Written as the work happens, in the transaction of the change for the latter;
-- rows older than eight days are pruned.
CREATE TABLE api_usage (
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, minute BIGINT NOT NULL,
    credits BIGINT NOT NULL, budget BIGINT,
    PRIMARY KEY (org_id, integration_id, minute)
);
CREATE TABLE change_hours (
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, hour BIGINT NOT NULL,
    changed BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id, hour)
);
