-- 0011: suppression lists and the feedback loop. Bounces and complaints become events with a
-- reason class; addresses that must not get mail again are suppressed per tenant.

-- The reason class of a failure (policy/bounces.py: user_unknown, mailbox_full, ...) and
-- whether a bounce is "hard" (the address is bad) or "soft" ("" for other events).
ALTER TABLE events ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN bounce TEXT NOT NULL DEFAULT '';

-- The Message-ID field of a message, so a complaint quoting it finds the message.
ALTER TABLE messages ADD COLUMN header_id TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_header_id ON messages (header_id) WHERE header_id != '';

CREATE TABLE suppressions (
    id              INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    address         TEXT    NOT NULL,  -- lower case
    category        TEXT    NOT NULL DEFAULT '',  -- '' = every category
    reason          TEXT    NOT NULL
                    CHECK (reason IN ('hard_bounce', 'soft_bounce', 'complaint', 'unsubscribe',
                                      'manual')),
    detail          TEXT    NOT NULL DEFAULT '',
    source_message  TEXT    NOT NULL DEFAULT '',  -- the message that caused it
    source_event    INTEGER NOT NULL DEFAULT 0,   -- the event that caused it (0: none)
    created_at      REAL    NOT NULL,
    expires_at      REAL,  -- NULL: never
    UNIQUE (tenant, address, category)
);
CREATE INDEX suppressions_tenant ON suppressions (tenant, id);

-- Soft bounces in a row per address (a delivery to it starts again from nothing).
CREATE TABLE soft_bounces (
    tenant      TEXT    NOT NULL,
    address     TEXT    NOT NULL,  -- lower case
    count       INTEGER NOT NULL,
    first_at    REAL    NOT NULL,
    last_at     REAL    NOT NULL,
    PRIMARY KEY (tenant, address)
) WITHOUT ROWID;
