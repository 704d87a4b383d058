-- 0019: a blob's references are counted in its blob_packs row (refs), kept by triggers on
-- messages and mailbox_messages, so the collector needs no index on their blob columns: those
-- indexes cost every accepted message a write of a random page each, and the count is written
-- to the row the acceptance writes anyway. A blob stored in a file of its own (not in a pack)
-- gets a row with pack '' to hold its count.
ALTER TABLE blob_packs ADD COLUMN refs INTEGER NOT NULL DEFAULT 0;
INSERT OR IGNORE INTO blob_packs (digest, pack, offset, size)
    SELECT blob, '', 0, MAX(size) FROM messages GROUP BY blob;
INSERT OR IGNORE INTO blob_packs (digest, pack, offset, size)
    SELECT blob, '', 0, MAX(size) FROM mailbox_messages GROUP BY blob;
UPDATE blob_packs SET refs =
    (SELECT COUNT(*) FROM messages WHERE blob = blob_packs.digest)
    + (SELECT COUNT(*) FROM mailbox_messages WHERE blob = blob_packs.digest);

CREATE TRIGGER messages_blob_ref AFTER INSERT ON messages BEGIN
    INSERT INTO blob_packs (digest, pack, offset, size, refs) VALUES (NEW.blob, '', 0, NEW.size, 1)
    ON CONFLICT (digest) DO UPDATE SET refs = refs + 1;
END;
CREATE TRIGGER messages_blob_unref AFTER DELETE ON messages BEGIN
    UPDATE blob_packs SET refs = refs - 1 WHERE digest = OLD.blob;
END;
CREATE TRIGGER messages_blob_moved AFTER UPDATE OF blob ON messages
WHEN NEW.blob IS NOT OLD.blob BEGIN
    UPDATE blob_packs SET refs = refs - 1 WHERE digest = OLD.blob;
    INSERT INTO blob_packs (digest, pack, offset, size, refs) VALUES (NEW.blob, '', 0, NEW.size, 1)
    ON CONFLICT (digest) DO UPDATE SET refs = refs + 1;
END;
CREATE TRIGGER mailbox_messages_blob_ref AFTER INSERT ON mailbox_messages BEGIN
    INSERT INTO blob_packs (digest, pack, offset, size, refs) VALUES (NEW.blob, '', 0, NEW.size, 1)
    ON CONFLICT (digest) DO UPDATE SET refs = refs + 1;
END;
CREATE TRIGGER mailbox_messages_blob_unref AFTER DELETE ON mailbox_messages BEGIN
    UPDATE blob_packs SET refs = refs - 1 WHERE digest = OLD.blob;
END;
CREATE TRIGGER mailbox_messages_blob_moved AFTER UPDATE OF blob ON mailbox_messages
WHEN NEW.blob IS NOT OLD.blob BEGIN
    UPDATE blob_packs SET refs = refs - 1 WHERE digest = OLD.blob;
    INSERT INTO blob_packs (digest, pack, offset, size, refs) VALUES (NEW.blob, '', 0, NEW.size, 1)
    ON CONFLICT (digest) DO UPDATE SET refs = refs + 1;
END;

DROP INDEX messages_blob;
DROP INDEX mailbox_messages_blob;
