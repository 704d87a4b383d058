"""Reading the peer's replies (RFC 5321 4.2) off the client's input buffer, and saying what
they mean in one line."""

from __future__ import annotations

from postoffice.proto.smtp.client_results import SessionFailure, Stage, kind_of
from postoffice.proto.smtp.reply import Reply


class PeerError(Exception):
    """The peer broke the protocol (a malformed or overlong reply)."""


def take_reply(buf: bytearray, max_line: int, max_lines: int) -> Reply | None:
    """Remove one complete (possibly multi-line) reply from `buf` and return it; None when
    it is not complete yet; PeerError when malformed. Lines may end with CRLF or bare LF."""
    pos = 0
    lines: list[bytes] = []
    while True:
        end = buf.find(b"\n", pos)
        if end < 0:
            if len(buf) - pos > max_line:
                raise PeerError("reply line too long")
            return None
        if end - pos > max_line:
            raise PeerError("reply line too long")
        line = bytes(buf[pos:end]).rstrip(b"\r")
        pos = end + 1
        if (
            len(line) < 3
            or line[0] not in b"2345"
            or not line[:3].isdigit()
            or line[3:4] not in (b"", b" ", b"-")
        ):
            raise PeerError(f"malformed reply line {line[:40]!r}")
        if lines and line[:3] != lines[0][:3]:
            raise PeerError("multi-line reply with different codes")
        lines.append(line)
        if len(lines) > max_lines:
            raise PeerError("reply with too many lines")
        if line[3:4] != b"-":
            break
    del buf[:pos]
    return Reply.parse(b"\r\n".join(lines))


_WHAT: dict[str, str] = {
    "greeting": "greeting refused",
    "ehlo": "EHLO/HELO refused",
    "starttls": "STARTTLS refused",
    "auth": "authentication failed",
    "rset": "RSET refused",
    "mail": "sender refused",
    "rcpt": "recipient refused",
    "data": "DATA refused",
    "content": "message refused",
    "final": "message refused",
}


def describe(stage: Stage, reply: Reply) -> str:
    """One line for logs and DSNs: "recipient refused: 550 5.1.1 No such user"."""
    if reply.code == 421:
        what = "peer closing the session"
    elif reply.positive:
        what = "accepted"
    else:
        what = _WHAT.get(stage, "refused")
    status = f" {reply.status}" if reply.status else ""
    return f"{what}: {reply.code}{status} {reply.text}".rstrip()


def remote_failure(reply: Reply, stage: Stage, *, soft: bool = False) -> SessionFailure:
    """The session ends because of this reply from the peer; `soft` makes even a 5xx a
    deferral (TLS and AUTH problems are ours to fix, not the sender's)."""
    kind = "deferred" if soft or reply.positive else kind_of(reply)
    return SessionFailure(reply, describe(stage, reply), stage, kind)
