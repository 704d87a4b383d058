"""One blocking IMAP client connection of the imaptest runner."""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass

from postoffice.testing.imaptest.values import Atom, Value, parse_response, upper

__all__ = ["Connection", "ConnectionClosed", "Response", "quote"]

_LITERAL_END = re.compile(rb"~?\{(\d+)\+?\}\r\n$")


class ConnectionClosed(ConnectionError):
    """The server closed the connection."""


@dataclass(frozen=True)
class Response:
    kind: str
    """``untagged``, ``tagged`` or ``continuation``."""
    tag: str
    values: list[Value]
    raw: str
    """The line as received (literals inline), without the final CRLF."""

    @property
    def status(self) -> str:
        first = self.values[0] if self.values else None
        return upper(first.text) if isinstance(first, Atom) else ""


def quote(text: str) -> str:
    """``text`` as an IMAP quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Connection:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        index: int,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.index = index
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.counter = 0
        self.exists = 0
        """Messages in the selected mailbox, as the untagged replies told."""
        self.closed = False
        self.seen_bye = False
        self.capabilities: set[str] = set()
        self.log: list[str] = []
        """Everything received since :meth:`clear_log`."""
        self.banner = self.read()

    def next_tag(self) -> str:
        self.counter += 1
        return f"{self.index + 1}.{self.counter}"

    def send(self, data: str) -> None:
        self.sock.sendall(data.encode("latin-1"))

    def read(self) -> Response:
        """The next response (literals read in), updating the connection's state."""
        if self.closed:
            raise ConnectionClosed("connection already closed")
        chunks: list[bytes] = []
        while True:
            line = self.reader.readline()
            if not line:
                self.closed = True
                raise ConnectionClosed("server closed the connection")
            chunks.append(line)
            literal = _LITERAL_END.search(line)
            if literal is None:
                break
            size = int(literal.group(1))
            data = self.reader.read(size)
            if len(data) < size:
                self.closed = True
                raise ConnectionClosed("server closed the connection inside a literal")
            chunks.append(data)
        raw = b"".join(chunks).decode("latin-1").removesuffix("\n").removesuffix("\r")
        self.log.append(raw)
        response = _response(raw)
        self._track(response)
        return response

    def _track(self, response: Response) -> None:
        values = response.values
        if response.kind != "untagged" or not values:
            return
        if response.status == "BYE":
            self.seen_bye = True
        if response.status == "CAPABILITY":
            self.capabilities = {upper(v.text) for v in values[1:] if isinstance(v, Atom)}
        if len(values) >= 2 and isinstance(values[0], Atom) and isinstance(values[1], Atom):
            number, name = values[0].text, upper(values[1].text)
            if number.isdigit() and name == "EXISTS":
                self.exists = int(number)
            elif number.isdigit() and name == "EXPUNGE" and self.exists:
                self.exists -= 1

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def _response(raw: str) -> Response:
    if raw.startswith("+"):
        return Response("continuation", "+", [], raw)
    tag, _, rest = raw.partition(" ")
    values = parse_response(rest)
    return Response("untagged" if tag == "*" else "tagged", tag, values, raw)
