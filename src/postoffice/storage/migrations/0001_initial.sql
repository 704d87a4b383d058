-- 0001: domains, users, accepted messages, the outbound queue and mailboxes.
-- One statement per line-ending ';' (the runner splits on complete statements).
-- Times are REAL seconds since the epoch. Addresses and domain names are stored lower-case.

CREATE TABLE domains (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  REAL    NOT NULL
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    address          TEXT    NOT NULL UNIQUE,
    domain_id        INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    password_hash    TEXT    NOT NULL,
    allowed_senders  TEXT    NOT NULL DEFAULT '[]',  -- JSON array of addresses and "@domain"
    created_at       REAL    NOT NULL
);
CREATE INDEX users_domain ON users (domain_id);

-- Named counters that must never go backwards (UIDVALIDITY).
CREATE TABLE counters (
    name   TEXT    PRIMARY KEY,
    value  INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per accepted message; the content is the blob file named by its SHA-256.
CREATE TABLE messages (
    id             TEXT    PRIMARY KEY,  -- storage.ids: sortable by time, so rows append
    blob           TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    received_at    REAL    NOT NULL,
    source         TEXT    NOT NULL,
    mail_from      TEXT    NOT NULL,
    client_ip      TEXT    NOT NULL,
    helo           TEXT    NOT NULL,
    auth_identity  TEXT,
    body           TEXT    NOT NULL DEFAULT '7BIT',
    smtputf8       INTEGER NOT NULL DEFAULT 0,
    ret            TEXT,
    envid          TEXT
) WITHOUT ROWID;

-- One row per remote recipient waiting for (or done with) outbound delivery.
CREATE TABLE queue (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: shown in logs
    message_id       TEXT    NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    recipient        TEXT    NOT NULL,
    notify           TEXT    NOT NULL DEFAULT '',  -- comma-separated DSN NOTIFY values
    orcpt            TEXT,
    lane             TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'queued',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    last_error       TEXT
);
CREATE INDEX queue_due ON queue (status, lane, next_attempt_at);
CREATE INDEX queue_message ON queue (message_id);

-- IMAP folders: uidnext and highestmodseq are bumped by every delivery.
CREATE TABLE folders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highestmodseq  INTEGER NOT NULL DEFAULT 1,
    special_use    TEXT,  -- '\Sent', '\Drafts', '\Junk', '\Trash', '\Archive' or NULL
    UNIQUE (user_id, name)
);

-- Messages in folders. message_id is not a foreign key: a mailbox copy outlives the
-- queue's message row, and IMAP APPEND makes entries without one.
CREATE TABLE mailbox_messages (
    folder_id      INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid            INTEGER NOT NULL,
    message_id     TEXT    NOT NULL,
    blob           TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    flags          TEXT    NOT NULL DEFAULT '',  -- space-separated IMAP flags
    internal_date  REAL    NOT NULL,
    modseq         INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
