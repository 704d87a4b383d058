"""The connections of one script run, and the plain commands the preparation sends."""

from __future__ import annotations

import base64
import ssl
import urllib.parse
from collections.abc import Callable

from postoffice.testing.imaptest.connection import Connection, ConnectionClosed, Response, quote
from postoffice.testing.imaptest.mbox import MboxMessage
from postoffice.testing.imaptest.outcome import ScriptFailed
from postoffice.testing.imaptest.values import Atom, String, upper

__all__ = ["MessageSource", "Session", "mailbox_url"]


class MessageSource:
    """The script's mbox messages in order, wrapping around at the end (as imaptest does)."""

    def __init__(self, messages: list[MboxMessage]) -> None:
        self.messages = messages
        self.next = 0

    @property
    def at_end(self) -> bool:
        return self.next >= len(self.messages)

    def take(self) -> MboxMessage:
        if not self.messages:
            raise ScriptFailed("the script appends a message but its mbox is empty")
        if self.at_end:
            self.next = 0
        message = self.messages[self.next]
        self.next += 1
        return message


def _mutf7_decode(name: str) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(name):
        start = name.find("&", pos)
        if start < 0:
            out.append(name[pos:])
            break
        out.append(name[pos:start])
        end = name.find("-", start)
        if end < 0:
            raise ValueError(f"bad modified UTF-7 mailbox name: {name!r}")
        chunk = name[start + 1 : end]
        if chunk:
            data = chunk.replace(",", "/")
            out.append(base64.b64decode(data + "=" * (-len(data) % 4)).decode("utf-16-be"))
        else:
            out.append("&")
        pos = end + 1
    return "".join(out)


def mailbox_url(mailbox: str) -> str:
    """The mailbox as the path of an IMAP URL (``$mailbox_url``)."""
    return urllib.parse.quote(_mutf7_decode(mailbox), safe="/:@!$&'()*+,=-._~")


class Session:
    """Open connections, and helpers to send a command and wait for its tagged reply."""

    def __init__(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None) -> None:
        self.host, self.port, self.timeout, self.tls = host, port, timeout, tls
        self.connections: list[Connection] = []

    def connect(self, count: int) -> None:
        for index in range(count):
            conn = Connection(
                self.host, self.port, index=index, timeout=self.timeout, tls_context=self.tls
            )
            self.connections.append(conn)
            if conn.banner.kind != "untagged" or conn.banner.status not in ("OK", "PREAUTH"):
                raise ScriptFailed(f"connection {index + 1}: bad greeting {conn.banner.raw!r}")

    def close(self) -> None:
        for conn in self.connections:
            if not conn.closed:
                try:
                    conn.send("z LOGOUT\r\n")
                except OSError:
                    pass
            conn.close()

    def command(
        self,
        conn: Connection,
        text: str,
        *,
        allow: tuple[str, ...] = ("OK",),
        untagged: Callable[[Response], None] | None = None,
        literal: bytes | None = None,
    ) -> Response:
        """Send ``text`` (plus ``literal`` after a continuation) and return the tagged reply."""
        tag = conn.next_tag()
        try:
            if literal is None:
                conn.send(f"{tag} {text}\r\n")
            else:
                conn.send(f"{tag} {text} {{{len(literal)}}}\r\n")
                reply = self._until(conn, tag, untagged, continuation=True)
                if reply is not None:
                    return self._check(conn, text, reply, allow)
                conn.sock.sendall(literal + b"\r\n")
            reply = self._until(conn, tag, untagged, continuation=False)
        except (ConnectionClosed, OSError) as exc:
            raise ScriptFailed(f"preparation: {text}: {exc}") from None
        assert reply is not None
        return self._check(conn, text, reply, allow)

    @staticmethod
    def _until(
        conn: Connection,
        tag: str,
        untagged: Callable[[Response], None] | None,
        *,
        continuation: bool,
    ) -> Response | None:
        while True:
            response = conn.read()
            if response.kind == "continuation" and continuation:
                return None
            if response.kind == "tagged" and response.tag == tag:
                return response
            if response.kind == "untagged" and untagged is not None:
                untagged(response)

    @staticmethod
    def _check(conn: Connection, text: str, reply: Response, allow: tuple[str, ...]) -> Response:
        if reply.status not in allow:
            raise ScriptFailed(
                f"preparation on connection {conn.index + 1}: {text} -> {reply.raw}"
            )
        return reply

    def login(self, conn: Connection, user: str, password: str) -> None:
        if conn.banner.status == "PREAUTH":
            return
        if not conn.capabilities:
            self.command(conn, "CAPABILITY")
        if "LOGINDISABLED" in conn.capabilities and "AUTH=PLAIN" in conn.capabilities:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            self.command(conn, f"AUTHENTICATE PLAIN {token}")
        else:
            self.command(conn, f"LOGIN {quote(user)} {quote(password)}")
        conn.capabilities = set()
        self.command(conn, "CAPABILITY")

    def list_names(self, conn: Connection, verb: str, pattern: str) -> list[str]:
        names: list[str] = []

        def collect(response: Response) -> None:
            values = response.values
            if response.status == verb and len(values) >= 4:
                name = values[3]
                if isinstance(name, (Atom, String)):
                    names.append(name.text)

        self.command(conn, f'{verb} "" {quote(pattern)}', untagged=collect)
        return names

    def delete_mailboxes(self, conn: Connection, mailbox: str) -> None:
        """Delete ``mailbox`` and every mailbox whose name starts with it; unsubscribe them."""
        deleted = self.list_names(conn, "LIST", mailbox + "*")
        unsubscribed = self.list_names(conn, "LSUB", mailbox + "*")
        for name in sorted(deleted, key=upper, reverse=True):
            self.command(conn, f"DELETE {quote(name)}", allow=("OK", "NO"))
        for name in sorted(unsubscribed, key=upper, reverse=True):
            self.command(conn, f"UNSUBSCRIBE {quote(name)}", allow=("OK", "NO"))
