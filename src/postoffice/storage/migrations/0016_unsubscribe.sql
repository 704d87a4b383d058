-- 0016: one-click unsubscribe (policy/unsubscribe.py). Bulk-lane mail gets List-Unsubscribe
-- fields at delivery; transactional mail only when its sender asked (the API's `unsubscribe`
-- field), which is this flag.
ALTER TABLE messages ADD COLUMN unsubscribe INTEGER NOT NULL DEFAULT 0;
