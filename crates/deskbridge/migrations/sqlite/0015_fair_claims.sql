-- A claim orders due jobs by how many jobs their organisation has running (fairness between
-- organisations); this index answers that count.
CREATE INDEX jobs_org_state ON jobs(org_id, state);
