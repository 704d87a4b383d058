-- 0002: small blobs live in pack files (storage/blobs.py); this is where each one is.
CREATE TABLE blob_packs (
    digest  TEXT    PRIMARY KEY,   -- hex SHA-256 of the content
    pack    TEXT    NOT NULL,      -- path under blobs/packs
    offset  INTEGER NOT NULL,
    size    INTEGER NOT NULL
) WITHOUT ROWID;
