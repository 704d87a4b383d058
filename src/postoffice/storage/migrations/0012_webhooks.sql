-- 0012: webhooks. A tenant subscribes URLs to event types; the dispatcher (one per install)
-- fans the event log out into deliveries (one per event and matching webhook), POSTs them
-- signed with the webhook's secret and retries them for a day; every attempt is kept.
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    url         TEXT    NOT NULL,
    events      TEXT    NOT NULL DEFAULT '["*"]',  -- JSON list of event types; ["*"]: all
    secret      TEXT    NOT NULL,  -- as is: it signs every delivery (shown only when made)
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  REAL    NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant, id);

CREATE TABLE webhook_deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id        INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id          INTEGER,  -- events.id; NULL for a test event
    event_type        TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   REAL,  -- while pending: due time, or the end of a claim's lease
    last_status_code  INTEGER,
    last_error        TEXT    NOT NULL DEFAULT '',
    created_at        REAL    NOT NULL,
    delivered_at      REAL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (created_at)
    WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           REAL    NOT NULL,
    status_code  INTEGER,  -- NULL: no answer (timeout, connection refused, ...)
    error        TEXT    NOT NULL DEFAULT '',
    duration     REAL    NOT NULL DEFAULT 0
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, at);

-- The last event fanned out: events after it have not been looked at yet. Starts at the end
-- of the log (there were no webhooks before).
CREATE TABLE webhook_cursor (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id  INTEGER NOT NULL
);
INSERT INTO webhook_cursor (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events;
