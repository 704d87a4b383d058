-- 0013: counters by hour for stats, kept up to date by a trigger on every event (so the
-- figures need no scan of the event log, and outlive its retention).
CREATE TABLE stats_hourly (
    tenant    TEXT    NOT NULL,
    hour      INTEGER NOT NULL,  -- Unix time / 3600
    type      TEXT    NOT NULL,  -- the event type; bounces as bounced_hard / bounced_soft
    category  TEXT    NOT NULL,
    provider  TEXT    NOT NULL,
    domain    TEXT    NOT NULL,  -- the sending domain (of the message's envelope sender)
    ip        TEXT    NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (tenant, hour, type, category, provider, domain, ip)
) WITHOUT ROWID;

CREATE TRIGGER events_count AFTER INSERT ON events BEGIN
    INSERT INTO stats_hourly (tenant, hour, type, category, provider, domain, ip, count)
    VALUES (
        NEW.tenant,
        CAST(NEW.at / 3600 AS INTEGER),
        CASE WHEN NEW.type = 'bounced' AND NEW.bounce != '' THEN 'bounced_' || NEW.bounce
             ELSE NEW.type END,
        NEW.category,
        NEW.provider,
        COALESCE((SELECT lower(substr(mail_from, instr(mail_from, '@') + 1)) FROM messages
                  WHERE id = NEW.message_id), ''),
        NEW.ip,
        1)
    ON CONFLICT DO UPDATE SET count = count + 1;
END;
