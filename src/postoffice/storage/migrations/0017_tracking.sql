-- 0017: open and click tracking (policy/tracking.py), opted into per message through the API:
-- delivery rewrites the HTML of such messages per recipient (mta/personalize.py).
ALTER TABLE messages ADD COLUMN track_opens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN track_clicks INTEGER NOT NULL DEFAULT 0;
