-- Sign-in throttling as one counter row per subject (a client, an account and client pair, an
-- account), reserved and released by single atomic statements; replaces one row per failure.
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    subject TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_window ON login_throttle(window_start);

-- Bumped whenever the stored key changes (re-authorize); workers compare it before each call
-- batch so that no request with a replaced key leaves, in this process or another.
ALTER TABLE integrations ADD COLUMN key_generation BIGINT NOT NULL DEFAULT 1;
