-- 0009: tenants (organisations) own domains and API keys; every install has "default".
CREATE TABLE tenants (
    name            TEXT    PRIMARY KEY,
    created_at      REAL    NOT NULL,
    retention_days  INTEGER NOT NULL DEFAULT 60,
    hourly_limit    INTEGER,
    daily_limit     INTEGER
) WITHOUT ROWID;
INSERT INTO tenants (name, created_at) VALUES ('default', (julianday('now') - 2440587.5) * 86400.0);

-- (no REFERENCES: SQLite adds such a column only with a NULL default; the store checks it)
ALTER TABLE domains ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX domains_tenant ON domains (tenant);

-- API keys: only a SHA-256 of the secret is kept; `id` is the public part shown in lists.
CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,
    tenant        TEXT    NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    secret_hash   TEXT    NOT NULL,
    scope         TEXT    NOT NULL CHECK (scope IN ('send', 'read', 'admin')),
    name          TEXT    NOT NULL DEFAULT '',
    created_at    REAL    NOT NULL,
    revoked_at    REAL,
    last_used_at  REAL
) WITHOUT ROWID;
CREATE INDEX api_keys_tenant ON api_keys (tenant);
