-- 0007: what IMAP and POP3 need of the mailbox store: subscriptions, \Recent, \Noselect,
-- CONDSTORE/QRESYNC (an index on modseq and the uids expunged since a modseq), quotas, the
-- parsed summary of each stored message (shared by every copy of a blob), Sieve scripts.

-- Uids below recent_uid were seen by some session as \Recent (IMAP4rev1).
ALTER TABLE folders ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 1;
-- 0 for a name kept only because it has children (DELETE of a parent): \Noselect.
ALTER TABLE folders ADD COLUMN selectable INTEGER NOT NULL DEFAULT 1;

CREATE INDEX mailbox_messages_modseq ON mailbox_messages (folder_id, modseq);

-- Uids expunged from a folder, with the modseq of the expunge (QRESYNC VANISHED).
CREATE TABLE expunged (
    folder_id  INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (folder_id, modseq);

-- Subscribed names (RFC 9051 6.3.7): a name may be subscribed without existing.
CREATE TABLE subscriptions (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name     TEXT    NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
INSERT INTO subscriptions (user_id, name) SELECT user_id, name FROM folders;

-- Storage quota in octets (NULL: the configured default) and what the user's folders hold.
ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
ALTER TABLE users ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE users SET used_bytes = (SELECT COALESCE(SUM(m.size), 0) FROM mailbox_messages m
    JOIN folders f ON f.id = m.folder_id WHERE f.user_id = users.id);

-- The parsed form of one blob: IMAP ENVELOPE / BODY / BODYSTRUCTURE as sent, the header
-- section (BODY[HEADER...] without opening the message), and the decoded fields SEARCH, SORT
-- and THREAD read (JSON object).
CREATE TABLE message_summaries (
    blob           TEXT  PRIMARY KEY,
    header         BLOB  NOT NULL,
    envelope       BLOB  NOT NULL,
    body           BLOB  NOT NULL,
    bodystructure  BLOB  NOT NULL,
    fields         TEXT  NOT NULL
) WITHOUT ROWID;

-- Sieve scripts (ManageSieve, `postoffice sieve`): at most one active per user.
CREATE TABLE sieve_scripts (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    active      INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL    NOT NULL,
    last_error  TEXT,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
