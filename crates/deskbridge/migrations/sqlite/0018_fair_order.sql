-- Fair order between organisations (start-time fair queueing): each queued job carries fair_at,
-- its place in line. A job an organisation queues goes one step after that organisation's last
-- queued job of the same priority, or at its due time when it has none; claims take jobs in
-- fair_at order. So an organisation that queues a thousand jobs at once is served in turn with
-- the others rather than ahead of them. fair_at is never before run_after.
ALTER TABLE jobs ADD COLUMN fair_at BIGINT NOT NULL DEFAULT 0;
UPDATE jobs SET fair_at = run_after;
DROP INDEX jobs_queued_order;
CREATE INDEX jobs_queued_fair ON jobs(priority DESC, fair_at, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_org_tail ON jobs(org_id, priority, fair_at) WHERE state = 'queued';
