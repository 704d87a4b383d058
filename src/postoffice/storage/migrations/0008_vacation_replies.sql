-- 0008: whom a user's Sieve vacation action answered, per handle, until when (RFC 5230 4.2).
CREATE TABLE vacation_replies (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    handle      TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    expires_at  REAL    NOT NULL,
    PRIMARY KEY (user_id, handle, sender)
) WITHOUT ROWID;
