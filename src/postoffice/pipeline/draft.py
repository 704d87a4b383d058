"""A message being received: content streams into a blob, behind the headers we add.

The trace header goes first. When `inspect` is given (submission), the header section is held
in memory (at most `max_header_size` octets) until it is complete, so the MSA can check it and
add missing fields before the rest streams through; `rewrite` (the MX) holds it the same way and
writes what it returns instead (removing fields that claim to be ours). `finish(prefix)` puts
fields known only at the end (authentication results) in front of everything."""

from __future__ import annotations

from collections.abc import Callable

from postoffice.message import headers
from postoffice.proto.smtp.reply import Reply
from postoffice.storage.interfaces import BlobWriter, PendingBlob

# inspect(fields) -> (header lines to add, or a refusal reply)
Inspector = Callable[[list[tuple[str, str]]], tuple[bytes, Reply | None]]

HEADER_TOO_LARGE = Reply(552, "5.3.4", "Header section exceeds fixed limit")
NO_SPACE = Reply(452, "4.3.1", "Insufficient system storage, try again later")
HEAD_LIMIT = 64 * 1024
"""How much of a streamed message is looked at for its header fields."""


class Draft:
    def __init__(
        self,
        writer: BlobWriter,
        trace: bytes,
        inspect: Inspector | None = None,
        max_header_size: int = 1024 * 1024,
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self._writer = writer
        self._inspect = inspect
        self._rewrite = rewrite
        self._max_header = max_header_size
        self._held = bytearray()
        self._head = bytearray()
        self.fields: list[tuple[str, str]] | None = None
        """The header section's fields, once it has passed (for lane choice and logs)."""
        self.refusal: Reply | None = None
        """Set when the content was refused; the rest is then read and dropped."""
        try:
            writer.write(trace)
        except OSError:
            self.refusal = NO_SPACE

    def write(self, chunk: bytes) -> None:
        if self.refusal is not None:
            return
        try:
            self._write(chunk)
        except OSError:
            # Disk full or failing: read the rest, then a temporary failure; the client retries.
            self.refusal = NO_SPACE
            self._held.clear()

    def _write(self, chunk: bytes) -> None:
        if self._inspect is None and self._rewrite is None:
            self._writer.write(chunk)
            if self.fields is None:
                self._note_head(chunk)
            return
        self._held += chunk
        end = headers.header_end(bytes(self._held[: self._max_header + 4]))
        if end < 0:
            if len(self._held) > self._max_header:
                self.refusal = HEADER_TOO_LARGE
                self._held.clear()
            return
        self._release(end)

    def _note_head(self, chunk: bytes) -> None:
        """Keep a copy of the header section as it streams by (no holding back)."""
        self._head += chunk[: HEAD_LIMIT - len(self._head) + 4]
        end = headers.header_end(bytes(self._head))
        if end >= 0 or len(self._head) >= HEAD_LIMIT:
            section = bytes(self._head[: end if end >= 0 else len(self._head)])
            self.fields = headers.parse_fields(section)
            self._head = bytearray()

    def _release(self, end: int) -> None:
        section = bytes(self._held[:end])
        self.fields = headers.parse_fields(section)
        added, refusal = self._inspect(self.fields) if self._inspect else (b"", None)
        rewrite, self._inspect, self._rewrite = self._rewrite, None, None
        if refusal is not None:
            self.refusal = refusal
        else:
            self._writer.write(added)
            self._writer.write(rewrite(section) if rewrite else section)
            self._writer.write(bytes(self._held[end:]))
        self._held.clear()

    def complete(self) -> bool:
        """End of content: release a header section still held (a message without body).
        False when the content was refused (the reply is in `refusal`)."""
        if self.fields is None and self._head:
            self.fields = headers.parse_fields(bytes(self._head))
        try:
            if (self._inspect or self._rewrite) is not None and self.refusal is None:
                if not self._held.endswith(b"\r\n"):
                    self._held += b"\r\n"
                self._release(len(self._held))
        except OSError:
            self.refusal = NO_SPACE
        return self.refusal is None

    def content(self) -> bytes:
        """Everything written so far (after `complete`: the whole message as it will be
        stored, but for the `finish` prefix)."""
        return self._writer.peek()

    def finish(self, prefix: bytes = b"") -> PendingBlob | None:
        """The content, or None when it was refused (the reply is in `refusal`)."""
        if self.fields is None and self._head:
            self.fields = headers.parse_fields(bytes(self._head))
        try:
            if (self._inspect or self._rewrite) is not None and self.refusal is None:
                # The message ended inside its header section (no body): inspect what there is.
                if not self._held.endswith(b"\r\n"):
                    self._held += b"\r\n"
                self._release(len(self._held))
            if self.refusal is None:
                return self._writer.finish(prefix)
        except OSError:
            self.refusal = NO_SPACE
        self._writer.abort()
        return None

    def abort(self) -> None:
        self._writer.abort()
