-- 0006: aliases (`postoffice alias`): an address in a local domain that forwards to its
-- targets, local mailboxes or remote addresses (policy/srs.py rewrites the sender of the
-- remote copies).
CREATE TABLE aliases (
    address     TEXT    PRIMARY KEY,  -- normalised local@domain, in a local domain
    targets     TEXT    NOT NULL,     -- JSON list of normalised addresses
    created_at  REAL    NOT NULL
) WITHOUT ROWID;
