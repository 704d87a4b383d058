-- 0015: retention (storage/sqlite/retention.py, blob_gc.py). The garbage collector asks, for
-- each stored blob, whether a message or a mailbox entry still names it, and, for each pack
-- file, which blobs it holds: without these indexes each question would scan a whole table.
CREATE INDEX messages_blob ON messages (blob);
CREATE INDEX mailbox_messages_blob ON mailbox_messages (blob);
CREATE INDEX blob_packs_pack ON blob_packs (pack);
