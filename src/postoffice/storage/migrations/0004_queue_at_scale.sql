-- 0004: indexes that keep the queue fast with a million items.
-- The scheduler's backlog count and the claim read only this index (leased_until included).
DROP INDEX queue_due;
CREATE INDEX queue_due ON queue (status, tenant, lane, domain, next_attempt_at, leased_until);
-- `queue ls` pages in id order; filtered by domain or status it walks these, not a sort.
DROP INDEX queue_domain;
CREATE INDEX queue_domain ON queue (domain, id);
CREATE INDEX queue_status ON queue (status, id);
-- Engines look for dead owners' leases at start, and for delay notices now and then.
CREATE INDEX queue_leased ON queue (leased_by) WHERE leased_by IS NOT NULL;
CREATE INDEX queue_delay ON queue (created_at)
    WHERE status = 'deferred' AND delay_notified = 0 AND instr(notify, 'DELAY') > 0;
