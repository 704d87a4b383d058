-- 0005: greylisting (policy/greylist.py): one row per (client network, sender, recipient)
-- triplet, and per client network the number of triplets it has passed (automatic allowlist).
-- Rows past expires_at count as gone; an hourly purge deletes them.
CREATE TABLE greylist (
    network     TEXT    NOT NULL,  -- "192.0.2.0/24", "2001:db8::/64"
    sender      TEXT    NOT NULL,  -- normalised envelope sender, '' for the null sender
    recipient   TEXT    NOT NULL,
    first_seen  REAL    NOT NULL,
    expires_at  REAL    NOT NULL,
    passed      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (network, sender, recipient)
) WITHOUT ROWID;
CREATE INDEX greylist_expiry ON greylist (expires_at);

CREATE TABLE greylist_networks (
    network     TEXT    PRIMARY KEY,
    passes      INTEGER NOT NULL,
    expires_at  REAL    NOT NULL
) WITHOUT ROWID;
CREATE INDEX greylist_networks_expiry ON greylist_networks (expires_at);
