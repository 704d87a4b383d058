-- 0010: the message log and the event log. Every message row says whose it is and what it
-- was (subject, category, metadata given through the API); every step of every message and
-- recipient is an event, kept `retention_days` of its tenant.
ALTER TABLE messages ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE messages ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';  -- JSON object
CREATE INDEX messages_tenant ON messages (tenant, received_at);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          REAL    NOT NULL,
    tenant      TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    recipient   TEXT    NOT NULL DEFAULT '',
    type        TEXT    NOT NULL,  -- accepted, queued, delivered, deferred, bounced, ...
    detail      TEXT    NOT NULL DEFAULT '',  -- the remote reply, the reason
    category    TEXT    NOT NULL DEFAULT '',
    provider    TEXT    NOT NULL DEFAULT '',  -- gmail, outlook, ... (by the recipient's MX)
    ip          TEXT    NOT NULL DEFAULT '',  -- our source address for the delivery
    mx          TEXT    NOT NULL DEFAULT ''   -- the host that answered
);
CREATE INDEX events_message ON events (message_id, id);
CREATE INDEX events_tenant ON events (tenant, at);
