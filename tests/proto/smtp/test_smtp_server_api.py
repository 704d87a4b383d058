"""The adapter-facing API of ServerConnection: misuse, EOF, configuration, properties."""

from __future__ import annotations

from collections import deque

import pytest
from smtp_transcript import GREETING, Driver, config

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.config import ServerConfig
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.server import LocalProtocolError, ServerConnection, State


def fresh(**kw: object) -> ServerConnection:
    conn = ServerConnection(config(**kw))
    conn.greet(GREETING)
    return conn


def test_send_without_pending_event() -> None:
    conn = fresh()
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "2.0.0", "OK"))
    conn.receive_data(b"EHLO c\r\n")
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "", "not yet asked"))  # the event has not been taken yet
    assert isinstance(conn.next_event(), ev.Hello)
    assert conn.next_event() is ev.NEED_DATA  # waiting for the reply
    conn.send(conn.hello_reply())
    with pytest.raises(LocalProtocolError):
        conn.hello_reply()


def test_reply_class_must_fit_the_event() -> None:
    conn = fresh()
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
    for _ in range(3):
        conn.next_event()
        conn.send(Reply(250, "2.0.0", "OK"))
    assert isinstance(conn.next_event(), ev.DataStart)
    with pytest.raises(LocalProtocolError):
        conn.send(Reply(250, "2.0.0", "DATA needs 354"))
    conn.send(Reply(354, "", "go"))
    assert conn.state is State.DATA


def test_greet_twice_and_tls_started_without_starttls() -> None:
    conn = fresh()
    with pytest.raises(LocalProtocolError):
        conn.greet(GREETING)
    with pytest.raises(LocalProtocolError):
        conn.tls_started()


def test_eof_in_the_middle_of_data() -> None:
    driver = Driver(config())
    driver.feed(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\npart")
    driver.eof()
    assert driver.closed == "eof" and driver.messages == []
    assert isinstance(driver.conn.next_event(), ev.Closed)  # stays closed


def test_buffered_commands_run_before_eof() -> None:
    driver = Driver(config())
    driver.conn.receive_data(b"NOOP\r\nQUIT\r\n")
    driver.eof()
    assert driver.closed == "quit"
    assert driver.lines[-2:] == ["250 2.0.0 OK", "221 2.0.0 Bye"]


def test_bytes_between_starttls_reply_and_handshake_are_dropped() -> None:
    driver = Driver(config(tls_available=True))
    driver.feed(b"EHLO c\r\nSTARTTLS\r\n")
    assert driver.conn.state is State.TLS
    driver.feed(b"MAIL FROM:<evil@example.org>\r\n")
    driver.tls()
    driver.feed(b"EHLO c\r\n")
    assert not any(isinstance(e, ev.MailFrom) for e in driver.events)
    assert driver.conn.secure and driver.conn.helo == "c" and driver.conn.state is State.READY


def test_session_properties() -> None:
    driver = Driver(config())
    driver.feed(b"HELO old\r\nEHLO new\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\n")
    conn = driver.conn
    assert (conn.helo, conn.esmtp, conn.recipients) == ("new", True, 0)
    assert conn.mail == ev.MailFrom("a@b.example", {"BODY": "8BITMIME"})
    driver.feed(b"RCPT TO:<c@d.example>\r\n")
    assert conn.recipients == 1
    driver.feed(b"RSET\r\n")
    assert conn.mail is None and conn.recipients == 0


def test_helo_reply_and_ehlo_text() -> None:
    conn = fresh(max_message_size=1000, secure=True, pipelining=False, dsn=False, smtputf8=False)
    conn.receive_data(b"EHLO c\r\n")
    conn.next_event()
    reply = conn.hello_reply("mx.example.org Hello c")
    assert reply.lines == (
        "mx.example.org Hello c",
        "SIZE 1000",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
        "AUTH PLAIN LOGIN",
        "CHUNKING",
    )
    conn.send(reply)
    conn.receive_data(b"HELO c\r\n")
    conn.next_event()
    assert conn.hello_reply().render() == b"250 mx.example.org\r\n"


def test_adapter_refusing_hello_keeps_initial_state() -> None:
    driver = Driver(config())
    driver.overrides["Hello"] = deque([Reply(550, "5.7.1", "No")])
    driver.feed(b"EHLO bad\r\nMAIL FROM:<a@b.example>\r\n")
    assert driver.lines[-2:] == ["550 5.7.1 No", "503 5.5.1 Send EHLO first"]
    assert driver.conn.helo is None


@pytest.mark.parametrize(
    "kw",
    [
        {"hostname": ""},
        {"bare_newline": "strip"},
        {"auth_mechanisms": ("CRAM-MD5",)},
        {"max_message_size": -1},
        {"max_recipients": 0},
        {"max_command_line": 100},
    ],
)
def test_config_validation(kw: dict[str, object]) -> None:
    args: dict[str, object] = {"hostname": "mx.example.org", **kw}
    with pytest.raises(ValueError):
        ServerConfig(**args)  # type: ignore[arg-type]
