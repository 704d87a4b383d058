-- 0003: what the delivery engine needs of the queue: tenants, destination domains, leases
-- (a node claims items for a while; a crashed node's claims expire), attempt bookkeeping and
-- DSN state.
ALTER TABLE queue ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE queue ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE queue ADD COLUMN leased_until REAL;
ALTER TABLE queue ADD COLUMN leased_by TEXT;
ALTER TABLE queue ADD COLUMN last_attempt_at REAL;
ALTER TABLE queue ADD COLUMN dsn_pending INTEGER NOT NULL DEFAULT 0;  -- a failure DSN is owed
ALTER TABLE queue ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
UPDATE queue SET domain = lower(substr(recipient, instr(recipient, '@') + 1));
DROP INDEX queue_due;
-- Due items per destination: the scheduler's backlog query and the claim both walk it.
CREATE INDEX queue_due ON queue (status, tenant, lane, domain, next_attempt_at);
CREATE INDEX queue_domain ON queue (domain, status);
CREATE INDEX queue_dsn ON queue (dsn_pending) WHERE dsn_pending = 1;
