-- The data browser. Tickets are listed newest change first, keyset-paged on an index; filtered by
-- their type (a column computed from the raw JSON, so the sync writes nothing new); and found by
-- the words of their subject and description through each engine's own full-text index, which the
-- engine keeps in step with fd_tickets inside the transaction that writes the rows. SQLite: an FTS5
-- table kept by triggers. PostgreSQL: a GIN index on the same text's tsvector.
CREATE INDEX fd_tickets_recent ON fd_tickets(org_id, integration_id, updated_at, id);
-- sqlite only: begin
ALTER TABLE fd_tickets ADD COLUMN ticket_type TEXT GENERATED ALWAYS AS (json_extract(raw, '$.type')) VIRTUAL;
CREATE VIRTUAL TABLE fd_tickets_fts USING fts5(subject, description, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO fd_tickets_fts (rowid, subject, description)
    SELECT rowid, subject, json_extract(raw, '$.description_text') FROM fd_tickets;
CREATE TRIGGER fd_tickets_fts_insert AFTER INSERT ON fd_tickets BEGIN
    INSERT INTO fd_tickets_fts (rowid, subject, description)
        VALUES (new.rowid, new.subject, json_extract(new.raw, '$.description_text'));
END;
CREATE TRIGGER fd_tickets_fts_update AFTER UPDATE OF subject, raw ON fd_tickets BEGIN
    DELETE FROM fd_tickets_fts WHERE rowid = old.rowid;
    INSERT INTO fd_tickets_fts (rowid, subject, description)
        VALUES (new.rowid, new.subject, json_extract(new.raw, '$.description_text'));
END;
CREATE TRIGGER fd_tickets_fts_delete AFTER DELETE ON fd_tickets BEGIN
    DELETE FROM fd_tickets_fts WHERE rowid = old.rowid;
END;
-- sqlite only: end
-- postgres: ALTER TABLE fd_tickets ADD COLUMN ticket_type TEXT GENERATED ALWAYS AS (raw::jsonb ->> 'type') STORED;
-- postgres: CREATE INDEX fd_tickets_search ON fd_tickets USING GIN (to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(raw::jsonb ->> 'description_text', '')));
