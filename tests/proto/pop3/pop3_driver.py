"""A scripted adapter for the POP3 core: a fixed mailbox, one password, a trace of events."""

from __future__ import annotations

from dataclasses import dataclass, field

from postoffice.proto.pop3.config import ServerConfig
from postoffice.proto.pop3.events import (
    NEED_DATA,
    Closed,
    Credentials,
    Event,
    Retr,
    StartTls,
    Top,
    Update,
)
from postoffice.proto.pop3.server import ServerConnection

MESSAGES = {
    "u1": b"Subject: one\r\n\r\nHello\r\n.hidden dot\r\n..two dots\r\nbye\r\n",
    "u2": b"Subject: two\r\nFrom: a@example.org\r\n\r\nline 1\r\nline 2\r\nline 3\r\n",
    "u3": b"Subject: three\r\n\r\nshort\r\n",
}


@dataclass
class Driver:
    config: ServerConfig = field(default_factory=lambda: ServerConfig(plaintext_auth=True))
    secure: bool = False
    locked: bool = False
    events: list[Event] = field(default_factory=list)
    expunged: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.conn = ServerConnection(self.config, secure=self.secure)
        self.conn.greet("ready")
        self.out = bytearray(self.conn.data_to_send())

    def feed(self, data: bytes) -> bytes:
        """Feed bytes, answer every event, return what the core wrote."""
        start = len(self.out)
        self.conn.receive_data(data)
        self.pump()
        return bytes(self.out[start:])

    def pump(self) -> None:
        if self.events and isinstance(self.events[-1], Closed):
            return
        while (event := self.conn.next_event()) is not NEED_DATA:
            assert isinstance(event, Event)
            self.events.append(event)
            self.answer(event)
            if isinstance(event, Closed):
                break
        self.out += self.conn.data_to_send()

    def answer(self, event: Event) -> None:
        conn = self.conn
        if isinstance(event, Credentials):
            if self.locked:
                conn.auth_failed("Maildrop locked", "IN-USE")
            elif (event.user, event.password) == ("alice", "s3cret pw"):
                conn.authenticated([(len(m), uid) for uid, m in MESSAGES.items()])
            else:
                conn.auth_failed()
        elif isinstance(event, (Retr, Top)):
            conn.send_message(MESSAGES[event.uid])
        elif isinstance(event, Update):
            self.expunged += event.uids
            conn.updated()
        elif isinstance(event, StartTls):
            conn.tls_started()
