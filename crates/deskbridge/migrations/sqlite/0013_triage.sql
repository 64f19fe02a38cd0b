-- Triage, the first product on the synced copy: per integration and ticket field, its settings
-- (mode off, shadow or write; the target precision and the threshold that reaches it; the model
-- in use; why write-back was paused, if it was), every model trained (status, evaluation report as JSON, the stored model as base64),
-- and every prediction of a ticket by a model, with what was written back and, once the ticket
-- was resolved or closed, the field's value then (the prediction was right if it is unchanged).
CREATE TABLE triage_fields (
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, field TEXT NOT NULL,
    mode TEXT NOT NULL, target_precision DOUBLE PRECISION NOT NULL,
    model_id BIGINT, threshold DOUBLE PRECISION, enabled_at BIGINT, note TEXT,
    PRIMARY KEY (org_id, integration_id, field)
);
CREATE TABLE triage_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, field TEXT NOT NULL,
    status TEXT NOT NULL, message TEXT, report TEXT, model TEXT,
    examples BIGINT, created_at BIGINT NOT NULL, finished_at BIGINT
);
CREATE INDEX triage_models_field ON triage_models(org_id, integration_id, field, id);
CREATE TABLE triage_predictions (
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, field TEXT NOT NULL,
    ticket_id BIGINT NOT NULL, model_id BIGINT NOT NULL,
    -- The value chosen, or NULL with the reason it abstained.
    value TEXT, confidence DOUBLE PRECISION NOT NULL, abstained TEXT, top TEXT NOT NULL,
    predicted_at BIGINT NOT NULL,
    -- shadow (nothing written), pending (to write), written, kept (a person's value was there),
    -- failed (Freshdesk refused it; the reason in note).
    outcome TEXT NOT NULL, written_at BIGINT, note TEXT,
    final_value TEXT, correct BIGINT, closed_at BIGINT,
    PRIMARY KEY (org_id, integration_id, field, ticket_id, model_id)
);
CREATE INDEX triage_predictions_recent ON triage_predictions(org_id, integration_id, predicted_at);
-- Where Triage has read the integration's ticket changes up to.
CREATE TABLE triage_cursors (
    org_id BIGINT NOT NULL, integration_id BIGINT NOT NULL, seq BIGINT NOT NULL,
    PRIMARY KEY (org_id, integration_id)
);
