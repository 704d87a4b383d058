-- 0018: the hourly counters are kept by the code that writes events (storage/sqlite/events.py
-- insert_events), one upsert per distinct key and batch instead of one per event.
DROP TRIGGER events_count;
