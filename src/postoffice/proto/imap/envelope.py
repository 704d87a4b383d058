"""ENVELOPE (RFC 9051 7.5.2): the message's main header fields, addresses parsed.

Values are sent as written (RFC 2047 encoded words stay encoded). Address lists follow
Dovecot's conventions: a group is (NIL NIL "name" NIL) ... (NIL NIL NIL NIL), a route is
"@a,@b", a missing local part or domain is "MISSING_MAILBOX" / "MISSING_DOMAIN", a broken
angle address has the domain "SYNTAX_ERROR", and an address without a display name takes its
comment as the name. Sender and Reply-To default to From.
"""

from __future__ import annotations

from postoffice.message.mime import Part, header_fields
from postoffice.proto.imap.responses import Joined, Value

Address = tuple[bytes | None, bytes | None, bytes | None, bytes | None]
"""(name, route, mailbox, domain)"""

_FIELDS = ("date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
           "in-reply-to", "message-id")
_ATEXT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                   b"!#$%&'*+-/=?^_`{|}~") | frozenset(range(0x80, 0x100))
_PHRASE_TEXT = _ATEXT | {0x2E}  # obs-phrase allows "."
_SPACE = frozenset(b" \t\r\n")


def envelope(raw: bytes, part: Part) -> Value:
    """The ENVELOPE of the message whose header `part` holds (the root or a message/rfc822's
    encapsulated message)."""
    found: dict[str, bytes] = {}
    for name, value in header_fields(raw[part.header_start:part.header_end]):
        if name in _FIELDS and name not in found:
            found[name] = value
    date, subject, in_reply_to, message_id = (
        found.get(name) for name in ("date", "subject", "in-reply-to", "message-id"))
    sender, reply_to = (addresses(found.get(name, b"")) for name in ("sender", "reply-to"))
    author = addresses(found.get("from", b""))
    return (
        _plain(date),
        None if subject is None else for_humans(subject),
        _list(author),
        _list(sender or author),
        _list(reply_to or author),
        *(_list(addresses(found.get(name, b""))) for name in ("to", "cc", "bcc")),
        _plain(in_reply_to),
        _plain(message_id),
    )


def _plain(value: bytes | None) -> bytes | None:
    return None if value is None else value.replace(b"\r", b"").replace(b"\n", b"").strip()


def _list(found: list[Address]) -> Value:
    return (Joined(tuple(found)),) if found else None


def for_humans(value: bytes) -> bytes:
    """Line breaks removed, runs of white space made one space, none at either end."""
    return b" ".join(value.replace(b"\r", b"").replace(b"\n", b"").split())


# -- RFC 5322 address lists -------------------------------------------------------------------

class _Scanner:
    """A cursor over an address list; `comment` is the last comment skipped."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.comment = b""

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def skip(self) -> bool:
        """Past white space and comments; True if anything follows."""
        data, n = self.data, len(self.data)
        while self.pos < n:
            c = data[self.pos]
            if c in _SPACE:
                self.pos += 1
            elif c == 0x28:
                self._comment()
            else:
                return True
        return False

    def _comment(self) -> None:
        data, n = self.data, len(self.data)
        depth, text = 0, bytearray()
        while self.pos < n:
            c = data[self.pos]
            self.pos += 1
            if c == 0x5C and self.pos < n:
                text.append(data[self.pos])
                self.pos += 1
                continue
            if c == 0x28:
                depth += 1
                if depth == 1:
                    continue
            elif c == 0x29:
                depth -= 1
                if depth == 0:
                    break
            text.append(c)
        self.comment = bytes(text)

    def run(self, allowed: frozenset[int]) -> bytes:
        start, data, n = self.pos, self.data, len(self.data)
        while self.pos < n and data[self.pos] in allowed:
            self.pos += 1
        return data[start:self.pos]

    def quoted(self) -> bytes:
        """The quoted string here, unescaped."""
        data, n = self.data, len(self.data)
        out = bytearray()
        self.pos += 1
        while self.pos < n:
            c = data[self.pos]
            self.pos += 1
            if c == 0x22:
                break
            if c == 0x5C and self.pos < n:
                c = data[self.pos]
                self.pos += 1
            if c not in (0x0D, 0x0A):
                out.append(c)
        return bytes(out)

    def phrase(self) -> bytes:
        """Words (atoms, quoted strings, obs-phrase dots) joined by one space."""
        words = []
        while True:
            self.skip()
            if self.peek() == 0x22:
                words.append(self.quoted())
                continue
            word = self.run(_PHRASE_TEXT)
            if not word:
                return b" ".join(words)
            words.append(word)

    def dot_atom(self) -> bytes | None:
        """atom *("." atom), CFWS allowed around the dots; None if there is no atom."""
        self.skip()
        atom = self.run(_ATEXT)
        if not atom:
            return None
        parts = [atom]
        while self.skip() and self.peek() == 0x2E:
            self.pos += 1
            self.skip()
            parts.append(self.run(_ATEXT))
        return b".".join(parts)

    def local_part(self) -> bytes | None:
        self.skip()
        if self.peek() == 0x22:
            value = self.quoted()
            self.skip()
            return value
        return self.dot_atom()

    def domain(self) -> bytes | None:
        """After "@": a dot-atom or a [domain literal]."""
        self.pos += 1
        self.skip()
        if self.peek() == 0x5B:
            end = self.data.find(b"]", self.pos)
            end = len(self.data) if end < 0 else end + 1
            literal = self.data[self.pos:end]
            self.pos = end
            self.skip()
            return literal
        return self.dot_atom()


def addresses(value: bytes) -> list[Address]:
    """An address list as ENVELOPE wants it (groups flattened with markers)."""
    scanner = _Scanner(value)
    found: list[Address] = []
    if not scanner.skip():
        return found
    while True:
        more = _address(scanner, found)
        if not more or scanner.peek() != 0x2C:
            return found
        scanner.pos += 1
        if not scanner.skip():
            return found


def _address(s: _Scanner, found: list[Address]) -> bool:
    """address = mailbox / group; True if input remains."""
    start = s.pos
    name = s.phrase()
    if s.peek() != 0x3A:  # not a group
        s.pos = start
        return _mailbox(s, found)
    s.pos += 1
    found.append((None, None, name, None))
    more = s.skip()
    while more and s.peek() != 0x3B:
        more = _mailbox(s, found)
        if not more or s.peek() != 0x2C:
            break
        s.pos += 1
        more = s.skip()
    if s.peek() == 0x3B:
        s.pos += 1
        more = s.skip()
    found.append((None, None, None, None))
    return more


def _mailbox(s: _Scanner, found: list[Address]) -> bool:
    """mailbox = name-addr / addr-spec; True if input remains."""
    start = s.pos
    name = s.phrase()
    if s.peek() == 0x3C:
        route, mailbox, domain = _angle_address(s)
    else:
        s.pos = start
        s.comment = b""
        mailbox = s.local_part()
        domain = s.domain() if s.peek() == 0x40 else None
        name, route = s.comment, None
    found.append((for_humans(name) or None, route,
                  b"MISSING_MAILBOX" if mailbox is None else mailbox,
                  b"MISSING_DOMAIN" if domain is None else domain))
    return s.skip()


def _angle_address(s: _Scanner) -> tuple[bytes | None, bytes | None, bytes | None]:
    """"<" ["@" route ":"] local-part ["@" domain] ">" -> (route, mailbox, domain)."""
    s.pos += 1
    route: bytes | None = None
    s.skip()
    if s.peek() == 0x40:
        hops = []
        while s.peek() == 0x40:
            hop = s.domain()
            hops.append(b"@" + (hop or b""))
            while s.skip() and s.peek() == 0x2C:
                s.pos += 1
        if s.peek() != 0x3A:
            return b"INVALID_ROUTE", None, b"SYNTAX_ERROR"
        s.pos += 1
        route = b",".join(hops)
    mailbox = s.local_part()
    domain = s.domain() if s.peek() == 0x40 else None
    if mailbox is None or s.peek() != 0x3E:
        return route, mailbox, b"SYNTAX_ERROR"
    s.pos += 1
    return route, mailbox, domain
