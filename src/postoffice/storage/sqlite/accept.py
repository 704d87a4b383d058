"""The hot path: the rows of a batch of acceptances, in plain SQL (inside the caller's transaction)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Final

from postoffice.storage.addresses import normalize_address
from postoffice.storage.interfaces import Acceptance, AlreadyExists, Filing, NotFound, StoredMessage
from postoffice.storage.sqlite import mailboxes
from postoffice.storage.sqlite.bulk import Statement, insert_rows, insert_statement
from postoffice.storage.sqlite.events import EventRow, event_statements, sending_domain
from postoffice.storage.suppressions import Suppression

MESSAGE_COLUMNS: Final = (
    "id", "blob", "size", "received_at", "source", "mail_from", "client_ip", "helo",
    "auth_identity", "body", "smtputf8", "ret", "envid", "tenant", "subject", "category",
    "metadata", "header_id", "unsubscribe", "track_opens", "track_clicks")
QUEUE_COLUMNS: Final = ("message_id", "recipient", "notify", "orcpt", "lane", "status",
                        "next_attempt_at", "created_at", "tenant", "domain")
# Reserve n uids and n modseqs in one user's INBOX; returns the values after the bump.
ALLOCATE_INBOX: Final = (
    "UPDATE folders SET uidnext = uidnext + ?1, highestmodseq = highestmodseq + ?1"
    " WHERE name = 'INBOX' AND user_id = (SELECT id FROM users WHERE address = ?2)"
    " RETURNING id, uidnext, highestmodseq"
)
# The same in the user's Junk folder (by special use, so a renamed one is found; else INBOX).
ALLOCATE_JUNK: Final = (
    "UPDATE folders SET uidnext = uidnext + ?1, highestmodseq = highestmodseq + ?1"
    " WHERE id = (SELECT f.id FROM folders f JOIN users u ON u.id = f.user_id"
    " WHERE u.address = ?2 AND (f.special_use = '\\Junk' OR f.name = 'INBOX')"
    " ORDER BY f.special_use IS NULL LIMIT 1)"
    " RETURNING id, uidnext, highestmodseq"
)
ADD_USED: Final = "UPDATE users SET used_bytes = used_bytes + ? WHERE address = ?"
ENTRY_COLUMNS: Final = ("folder_id", "uid", "message_id", "blob", "size", "internal_date",
                        "modseq")


def plan_acceptances(batch: Sequence[Acceptance]) -> list[Statement]:
    """The inserts of a batch of acceptances that need nothing from the database (messages,
    events and their counters, queue rows), made before the transaction."""
    statements = [insert_statement("messages", MESSAGE_COLUMNS, [
        (m.id, m.blob, m.size, m.received_at, m.source, m.mail_from, m.client_ip, m.helo,
         m.auth_identity, m.body, int(m.smtputf8), m.ret, m.envid, a.tenant, m.subject,
         m.category, m.metadata, m.header_id, int(m.unsubscribe), int(m.track_opens),
         int(m.track_clicks))
        for a in batch for m in (a.message,)])]
    events = [acceptance_events(a) for a in batch]
    statements += event_statements(
        [row for rows in events for row in rows],
        [sending_domain(a.message.mail_from) for a, rows in zip(batch, events, strict=True)
         for _ in rows])
    statements.append(insert_statement("queue", QUEUE_COLUMNS, [
        (a.message.id, r.address, ",".join(r.notify), r.orcpt, a.lane, "queued",
         max(a.message.received_at, a.not_before or 0.0), a.message.received_at, a.tenant,
         r.address.rpartition("@")[2].lower().rstrip("."))
        for a in batch for r in a.relay]))
    return [s for s in statements if s is not None]


def write_acceptances(conn: sqlite3.Connection, planned: Sequence[Statement],
                      batch: Sequence[Acceptance],
                      uidvalidity: Callable[[], int] | None = None) -> None:
    """Insert the planned rows and the mailbox entries (INBOX, or Junk for acceptances marked
    so, or the folders of `filed` copies), inside the caller's transaction; raises NotFound
    for an unknown local address (the caller rolls back). Uids follow batch order within
    each folder. `uidvalidity` numbers folders a filing creates (without it, such copies go
    to INBOX)."""
    deliveries: dict[tuple[str, bool], list[StoredMessage]] = {}
    for acceptance in batch:
        for address in dict.fromkeys(map(normalize_address, acceptance.local)):
            deliveries.setdefault((address, acceptance.junk), []).append(acceptance.message)

    entries: list[tuple[object, ...]] = []
    for (address, junk), messages in deliveries.items():
        count = len(messages)
        rows = conn.execute(ALLOCATE_JUNK if junk else ALLOCATE_INBOX, (count, address)).fetchall()
        if not rows:
            raise NotFound(f"no mailbox for local recipient {address}")
        folder_id, uidnext, modseq = rows[0]
        conn.execute(ADD_USED, (sum(m.size for m in messages), address))
        first_uid, first_modseq = uidnext - count, modseq - count + 1
        entries.extend(
            (folder_id, first_uid + i, m.id, m.blob, m.size, m.received_at, first_modseq + i)
            for i, m in enumerate(messages)
        )

    for statement in planned:
        conn.execute(*statement)
    insert_rows(conn, "mailbox_messages", ENTRY_COLUMNS, entries)
    for acceptance in batch:
        for filing in acceptance.filed:
            _file(conn, acceptance, filing, uidvalidity)


def acceptance_events(acceptance: Acceptance) -> list[EventRow]:
    """accepted (the message), queued (each remote recipient), delivered (each local one),
    suppressed (each one left out)."""
    m = acceptance.message
    at, tenant, category = m.received_at, acceptance.tenant, m.category
    rows: list[EventRow] = [(at, tenant, m.id, "", "accepted", "", category, "", "", "", "", "")]
    rows += [(at, tenant, m.id, r.address, "queued", "", category, "", "", "", "", "")
             for r in acceptance.relay]
    local = dict.fromkeys([*acceptance.local, *(f.address for f in acceptance.filed)])
    rows += [(at, tenant, m.id, address, "delivered", "local mailbox", category, "", "", "", "",
              "") for address in local]
    rows += [(at, tenant, m.id, address, "suppressed", suppressed_detail(s), category, "", "", "",
              s.reason, "") for address, s in acceptance.suppressed]
    return rows


def suppressed_detail(s: Suppression) -> str:
    return f"suppressed ({s.reason}{', ' + s.category if s.category else ''})"


def _file(conn: sqlite3.Connection, acceptance: Acceptance, filing: Filing,
          uidvalidity: Callable[[], int] | None) -> None:
    """One copy placed by Sieve: its folder (created when asked), else the default one."""
    address = normalize_address(filing.address)
    row = conn.execute("SELECT id FROM users WHERE address = ?", (address,)).fetchone()
    if row is None:
        raise NotFound(f"no mailbox for local recipient {address}")
    user_id = int(row[0])
    folder_id = _filing_folder(conn, user_id, filing, uidvalidity)
    if folder_id is None:
        rows = conn.execute(ALLOCATE_JUNK if acceptance.junk else ALLOCATE_INBOX,
                            (0, address)).fetchall()
        if not rows:
            raise NotFound(f"no INBOX for local recipient {address}")
        folder_id = int(rows[0][0])
    message = acceptance.message
    conn.execute(ADD_USED, (message.size, address))
    uid, modseq = mailboxes.allocate(conn, folder_id, 1)
    conn.execute(
        "INSERT INTO mailbox_messages (folder_id, uid, message_id, blob, size, flags,"
        " internal_date, modseq) VALUES (?,?,?,?,?,?,?,?)",
        (folder_id, uid, message.id, message.blob, message.size, " ".join(filing.flags),
         message.received_at, modseq))


def _filing_folder(conn: sqlite3.Connection, user_id: int, filing: Filing,
                   uidvalidity: Callable[[], int] | None) -> int | None:
    """The id of the folder a filing names; None for the default folder (no name, a bad one,
    or a missing one that is not to be created)."""
    if filing.folder is None:
        return None
    try:
        name = mailboxes.check_name(filing.folder)
    except ValueError:
        return None
    found = mailboxes.get_folder(conn, user_id, name)
    if found is not None and found.selectable:
        return found.id
    if not filing.create or uidvalidity is None:
        return None
    try:
        return mailboxes.create_folder(conn, user_id, name, None, uidvalidity).id
    except (AlreadyExists, ValueError):
        return None
