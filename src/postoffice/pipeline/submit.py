"""Message submission checks (RFC 6409 section 8): what the MSA verifies and adds."""

from __future__ import annotations

from collections.abc import Callable

from postoffice.message import headers, trace
from postoffice.proto.smtp.reply import Reply

NO_FROM = Reply(550, "5.7.1", "Message refused: it has no valid From header")
MANY_FROM = Reply(550, "5.7.1", "Message refused: more than one From header")


def msa_inspector(
    *,
    queue_id: str,
    hostname: str,
    timestamp: float,
    may_use: Callable[[str], bool],
) -> Callable[[list[tuple[str, str]]], tuple[bytes, Reply | None]]:
    """An inspector for Draft: refuse a missing/invalid From or one the user may not use;
    add Date and Message-ID when missing."""

    def inspect(fields: list[tuple[str, str]]) -> tuple[bytes, Reply | None]:
        froms = headers.field_values(fields, "From")
        if len(froms) > 1:
            return b"", MANY_FROM
        addresses = headers.mailbox_addresses(froms[0]) if froms else None
        if not addresses:
            return b"", NO_FROM
        for address in addresses:
            if not may_use(address):
                return b"", Reply(
                    550, "5.7.1", f"Message refused: you may not send as From <{address}>"
                )
        added = []
        if not headers.field_values(fields, "Date"):
            added.append(f"Date: {trace.rfc5322_date(timestamp)}\r\n")
        if not headers.field_values(fields, "Message-ID"):
            added.append(f"Message-ID: {trace.message_id(queue_id, hostname)}\r\n")
        return "".join(added).encode("ascii"), None

    return inspect
