-- 0014: message templates of a tenant (Jinja2 sources, rendered per recipient), and the
-- answers of API calls made with an Idempotency-Key (a retried call is answered the same).
CREATE TABLE templates (
    tenant      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL DEFAULT '',
    text        TEXT,
    html        TEXT,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

CREATE TABLE idempotency (
    tenant      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    request     TEXT    NOT NULL,  -- SHA-256 of method, path and body: the same key with
                                   -- another request is a conflict
    status      INTEGER NOT NULL,
    response    TEXT    NOT NULL,  -- the JSON answer
    created_at  REAL    NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency (created_at);
