"""Streaming message content decoders: DATA (dot-stuffed, RFC 5321 4.5.2) and BDAT (RFC 3030).

Both take arbitrary byte chunks and return content chunks, holding back at most four bytes
between calls, so memory is O(chunk). Work is done with bytes.find/count/replace on whole
chunks, never per byte in Python.

Rules:
- DATA ends ONLY at CRLF "." CRLF. The first CRLF belongs to the content, which therefore ends
  with CRLF; "." CRLF right after the 354 is the empty message. Nothing else ends DATA
  (not "\\n.\\n", "\\r.\\r", "\\r\\n.\\n", ...): this is what defeats SMTP smuggling.
- Dot-unstuffing removes the first "." of a line that follows a CRLF (or starts the content).
- A bare CR or bare LF (one not part of CRLF) is a policy matter: "reject" stops emitting and
  flags the content ("bare-newline"), "normalize" turns each bare CR and bare LF into CRLF.
  A "." after a bare newline is not unstuffed (only CRLF starts a line on the wire).
- Past `max_size` content octets (0 = unlimited) emission stops and the content is flagged
  ("too-large"). In both cases the caller keeps feeding until the end, then refuses it.
"""

from __future__ import annotations

from typing import Final, Literal

BareNewline = Literal["reject", "normalize"]

TERMINATOR: Final = b"\r\n.\r\n"


class _Content:
    """Shared bookkeeping: bare CR/LF policy and size limit on outgoing segments."""

    def __init__(self, max_size: int = 0, bare_newline: BareNewline = "reject") -> None:
        if bare_newline not in ("reject", "normalize"):
            raise ValueError(f"bare_newline must be 'reject' or 'normalize', not {bare_newline!r}")
        self.max_size = max_size
        self.normalize = bare_newline == "normalize"
        self.size = 0
        """Content octets so far (after unstuffing and normalisation)."""
        self.bare = False
        """A bare CR or LF was seen (with "reject")."""
        self.too_large = False
        """More than max_size octets."""

    @property
    def error(self) -> str | None:
        """None, "bare-newline" or "too-large"; once set, nothing more is emitted.

        A bare newline anywhere wins over the size, so the verdict does not depend on where
        the input was split."""
        if self.bare:
            return "bare-newline"
        return "too-large" if self.too_large else None

    def _emit(self, seg: bytes) -> bytes:
        """Policy for a segment that does not end in the middle of a CRLF."""
        if self.bare or not seg:
            return b""
        crlf = seg.count(b"\r\n")
        if seg.count(b"\r") != crlf or seg.count(b"\n") != crlf:
            if not self.normalize:
                self.bare = True
                return b""
            if self.too_large:
                return b""
            seg = seg.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        if self.too_large:
            return b""
        self.size += len(seg)
        if self.max_size and self.size > self.max_size:
            self.too_large = True
            return b""
        return seg


def _held(buf: bytes) -> int:
    """How many trailing bytes might start CRLF "." CRLF (or a CRLF) and must wait."""
    if buf.endswith(b"\r"):
        return 4 if buf.endswith(b"\r\n.\r") else 1
    if buf.endswith(b"\r\n"):
        return 2
    if buf.endswith(b"\r\n."):
        return 3
    return 0


class DotDecoder(_Content):
    """DATA content after the 354 reply.

    `feed()` returns the content ready so far (maybe b""). Once `done`, `leftover` holds the
    bytes that followed the terminator: the client's next commands."""

    def __init__(self, max_size: int = 0, bare_newline: BareNewline = "reject") -> None:
        super().__init__(max_size, bare_newline)
        # A virtual CRLF before the content makes "." at the very start a line start and
        # ".\r\n" right away the terminator; it is dropped from the output.
        self._tail = b"\r\n"
        self._skip = 2
        self.done = False
        self.leftover = b""

    def feed(self, data: bytes) -> bytes:
        if self.done:
            raise RuntimeError("DATA content already complete")
        buf = self._tail + data
        end = buf.find(TERMINATOR)
        if end >= 0:
            seg = buf[: end + 2]
            self.leftover = buf[end + 5 :]
            self._tail = b""
            self.done = True
        else:
            keep = _held(buf)
            seg = buf[: len(buf) - keep]
            self._tail = buf[len(buf) - keep :] if keep else b""
        if not seg:
            return b""
        if self._skip:
            # seg starts with the virtual CRLF: unstuff, then drop it before the policy sees it.
            seg = seg.replace(b"\r\n.", b"\r\n")[2:]
            self._skip = 0
        elif b"\r\n." in seg:
            seg = seg.replace(b"\r\n.", b"\r\n")
        return self._emit(seg)


class ChunkDecoder(_Content):
    """The content of a BDAT transaction: octets as sent, across chunks (no dot handling).

    A CR at the end of one chunk may pair with an LF at the start of the next, so it is held
    back; `finish()` at LAST releases it (a trailing CR is bare)."""

    def __init__(self, max_size: int = 0, bare_newline: BareNewline = "reject") -> None:
        super().__init__(max_size, bare_newline)
        self._cr = False

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._cr:
            data = b"\r" + data
        self._cr = data.endswith(b"\r")
        return self._emit(data[:-1] if self._cr else data)

    def finish(self) -> bytes:
        if not self._cr:
            return b""
        self._cr = False
        return self._emit(b"\r")
