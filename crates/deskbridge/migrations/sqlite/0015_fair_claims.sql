-- A claim reads the longest-due queued jobs of the highest priorities in order, from this index,
-- and orders a few dozen of them by how many jobs their organisation has running (fairness).
CREATE INDEX jobs_queued_order ON jobs(priority DESC, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_running_org ON jobs(org_id) WHERE state = 'running';
