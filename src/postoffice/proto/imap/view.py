"""What SEARCH, SORT and THREAD read of a message: the server gives one view per message."""

from __future__ import annotations

from typing import Protocol


class MessageView(Protocol):
    """One message of the selected mailbox, as the session sees it now."""

    @property
    def seq(self) -> int: ...

    @property
    def uid(self) -> int: ...

    @property
    def flags(self) -> frozenset[str]:
        """System flags in canonical case ("\\Seen"), keywords as stored; no \\Recent."""
        ...

    @property
    def recent(self) -> bool: ...

    @property
    def internal_date(self) -> float:
        """Epoch seconds."""
        ...

    @property
    def size(self) -> int:
        """RFC822.SIZE."""
        ...

    @property
    def modseq(self) -> int: ...

    def header(self, name: str) -> list[str]:
        """Every value of the field `name` (any case), unfolded, RFC 2047 decoded, in order."""
        ...

    def header_text(self) -> str:
        """The whole header section, decoded."""
        ...

    def body_text(self) -> str:
        """The decoded text of the body; may be expensive, so asked at most once per search."""
        ...
