"""Full POP3 sessions against the sans-I/O core, checked octet for octet."""

import base64

import pytest
from pop3_driver import MESSAGES, Driver

from postoffice.proto.pop3.config import ServerConfig
from postoffice.proto.pop3.events import Closed, Credentials, Dele, Update
from postoffice.proto.pop3.server import LocalProtocolError, ServerConnection, State

SIZES = [len(m) for m in MESSAGES.values()]
TOTAL = sum(SIZES)


def login(d: Driver) -> None:
    assert d.feed(b"USER alice\r\nPASS s3cret pw\r\n") == (
        b"+OK Send PASS\r\n" + f"+OK maildrop has 3 messages ({TOTAL} octets)\r\n".encode())


def test_greeting_and_capa_before_tls() -> None:
    d = Driver(ServerConfig())
    assert bytes(d.out) == b"+OK ready\r\n"
    assert d.feed(b"CAPA\r\n") == (
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
        b"PIPELINING\r\nSTLS\r\nIMPLEMENTATION postoffice\r\n.\r\n")


def test_login_refused_before_tls_then_allowed_after_stls() -> None:
    d = Driver(ServerConfig())
    refused = b"-ERR [AUTH] Plaintext authentication disallowed before STLS\r\n"
    assert d.feed(b"USER alice\r\n") == refused
    assert d.feed(b"AUTH PLAIN\r\n") == refused
    assert d.feed(b"STLS\r\nNOOP\r\n") == b"+OK Begin TLS negotiation\r\n"  # NOOP dropped
    assert d.conn.secure and d.conn.state is State.AUTHORIZATION
    capa = d.feed(b"CAPA\r\n")
    assert b"USER\r\nSASL PLAIN\r\n" in capa and b"STLS" not in capa
    assert d.feed(b"STLS\r\n") == b"-ERR STLS not available\r\n"
    login(d)


def test_transaction_commands() -> None:
    d = Driver()
    login(d)
    assert d.feed(b"STAT\r\n") == f"+OK 3 {TOTAL}\r\n".encode()
    assert d.feed(b"LIST\r\n") == (
        b"+OK 3 messages\r\n" + f"1 {SIZES[0]}\r\n2 {SIZES[1]}\r\n3 {SIZES[2]}\r\n.\r\n".encode())
    assert d.feed(b"LIST 2\r\n") == f"+OK 2 {SIZES[1]}\r\n".encode()
    assert d.feed(b"UIDL\r\n") == b"+OK 3 messages\r\n1 u1\r\n2 u2\r\n3 u3\r\n.\r\n"
    assert d.feed(b"UIDL 3\r\n") == b"+OK 3 u3\r\n"
    assert d.feed(b"TOP 2 1\r\n") == (
        b"+OK\r\nSubject: two\r\nFrom: a@example.org\r\n\r\nline 1\r\n.\r\n")
    assert d.feed(b"TOP 3 0\r\n") == b"+OK\r\nSubject: three\r\n\r\n.\r\n"
    assert d.feed(b"RETR 1\r\n") == (
        f"+OK {SIZES[0]} octets\r\n".encode()
        + b"Subject: one\r\n\r\nHello\r\n..hidden dot\r\n...two dots\r\nbye\r\n.\r\n")
    assert d.feed(b"NOOP\r\n") == b"+OK\r\n"


def test_dele_hides_message_and_quit_updates() -> None:
    d = Driver()
    login(d)
    assert d.feed(b"DELE 2\r\n") == b"+OK Message 2 deleted\r\n"
    assert d.feed(b"LIST\r\n") == (
        b"+OK 2 messages\r\n" + f"1 {SIZES[0]}\r\n3 {SIZES[2]}\r\n.\r\n".encode())
    assert d.feed(b"STAT\r\n") == f"+OK 2 {SIZES[0] + SIZES[2]}\r\n".encode()
    for command in (b"DELE 2", b"RETR 2", b"LIST 2", b"TOP 2 1", b"UIDL 2"):
        assert d.feed(command + b"\r\n") == b"-ERR No such message\r\n"
    assert d.feed(b"DELE 3\r\nQUIT\r\n") == b"+OK Message 3 deleted\r\n+OK Bye\r\n"
    assert Update((2, 3), ("u2", "u3")) in d.events
    assert d.expunged == ["u2", "u3"]
    assert d.events[-1] == Closed("quit") and d.conn.state is State.CLOSED


def test_rset_undeletes_and_quit_in_authorization_updates_nothing() -> None:
    d = Driver()
    login(d)
    d.feed(b"DELE 1\r\n")
    assert d.feed(b"RSET\r\n") == f"+OK maildrop has 3 messages ({TOTAL} octets)\r\n".encode()
    assert d.feed(b"QUIT\r\n") == b"+OK Bye\r\n"
    assert d.expunged == []
    assert Update((), ()) in d.events and Dele(1) in d.events

    d = Driver()
    assert d.feed(b"QUIT\r\n") == b"+OK Bye\r\n"
    assert not any(isinstance(e, Update) for e in d.events)


def test_eof_never_updates() -> None:
    d = Driver()
    login(d)
    d.feed(b"DELE 1\r\n")
    d.conn.receive_eof()
    d.pump()
    assert d.events[-1] == Closed("eof") and d.expunged == []


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_auth_plain_with_and_without_initial_response() -> None:
    d = Driver()
    ok = f"+OK maildrop has 3 messages ({TOTAL} octets)\r\n".encode()
    assert d.feed(b"AUTH PLAIN " + b64(b"\0alice\0s3cret pw") + b"\r\n") == ok
    assert Credentials("alice", "s3cret pw", "PLAIN") in d.events

    d = Driver()
    assert d.feed(b"AUTH plain\r\n") == b"+ \r\n"
    assert d.feed(b64(b"admin\0alice\0s3cret pw") + b"\r\n") == ok
    assert Credentials("alice", "s3cret pw", "PLAIN", "admin") in d.events


def test_auth_errors() -> None:
    d = Driver()
    assert d.feed(b"AUTH PLAIN\r\n*\r\n") == b"+ \r\n-ERR Authentication cancelled\r\n"
    assert d.feed(b"AUTH PLAIN\r\n!!\r\n") == b"+ \r\n-ERR Malformed response: bad base64\r\n"
    assert d.feed(b"AUTH PLAIN =\r\n") == b"-ERR Malformed response: malformed PLAIN message\r\n"
    assert d.feed(b"AUTH CRAM-MD5\r\n") == b"-ERR Unsupported mechanism\r\n"
    assert d.feed(b"AUTH\r\n") == b"-ERR Usage: AUTH mechanism [initial-response]\r\n"
    assert d.conn.state is State.AUTHORIZATION


def test_failed_logins_then_disconnect() -> None:
    d = Driver()
    bad = b"USER alice\r\nPASS wrong\r\n"
    assert d.feed(bad) == b"+OK Send PASS\r\n-ERR [AUTH] Authentication failed\r\n"
    d.feed(bad)
    assert d.feed(bad + b"NOOP\r\n") == b"+OK Send PASS\r\n-ERR [AUTH] Authentication failed\r\n"
    assert d.events[-1] == Closed("too-many-failures")


def test_locked_maildrop_is_in_use() -> None:
    d = Driver(locked=True)
    assert d.feed(b"USER alice\r\nPASS s3cret pw\r\n").endswith(
        b"-ERR [IN-USE] Maildrop locked\r\n")
    assert d.conn.state is State.AUTHORIZATION


@pytest.mark.parametrize(("command", "reply"), [
    (b"STAT", b"-ERR Not allowed now"),
    (b"RETR 1", b"-ERR Not allowed now"),
    (b"PASS x", b"-ERR USER first"),
    (b"USER", b"-ERR Usage: USER name"),
    (b"APOP a b", b"-ERR Unknown command"),
    (b"\xff", b"-ERR Commands are ASCII"),
])
def test_errors_in_authorization(command: bytes, reply: bytes) -> None:
    assert Driver().feed(command + b"\r\n") == reply + b"\r\n"


@pytest.mark.parametrize(("command", "reply"), [
    (b"USER bob", b"-ERR Not allowed now"),
    (b"STLS", b"-ERR Not allowed now"),
    (b"RETR 0", b"-ERR No such message"),
    (b"RETR 4", b"-ERR No such message"),
    (b"RETR x", b"-ERR No such message"),
    (b"RETR", b"-ERR Wrong number of arguments"),
    (b"LIST 1 2", b"-ERR Wrong number of arguments"),
    (b"TOP 1", b"-ERR Wrong number of arguments"),
    (b"TOP 1 -1", b"-ERR Line count must be a non-negative number"),
    (b"STAT 1", b"-ERR Wrong number of arguments"),
    (b"XYZZY", b"-ERR Unknown command"),
])
def test_errors_in_transaction(command: bytes, reply: bytes) -> None:
    d = Driver()
    login(d)
    assert d.feed(command + b"\r\n") == reply + b"\r\n"
    assert d.conn.state is State.TRANSACTION


def test_transaction_capa_omits_login_capabilities() -> None:
    d = Driver()
    login(d)
    capa = d.feed(b"CAPA\r\n")
    assert b"USER" not in capa and b"SASL" not in capa and b"STLS" not in capa


def test_update_failure_is_sys_temp() -> None:
    d = Driver()
    login(d)
    d.answer = lambda event: (d.conn.unavailable("Store busy") if isinstance(event, Update)
                              else Driver.answer(d, event))  # type: ignore[method-assign]
    assert d.feed(b"DELE 1\r\nQUIT\r\n").endswith(b"-ERR [SYS/TEMP] Store busy\r\n")
    assert d.events[-1] == Closed("unavailable")


def test_line_limits() -> None:
    d = Driver(ServerConfig(plaintext_auth=True, max_line=20, max_auth_line=100))
    probe, answer = b"USER bob\r\n", b"+OK Send PASS\r\n"
    assert d.feed(b"USER " + b"x" * 30 + b"\r\n" + probe) == b"-ERR Line too long\r\n" + answer
    assert d.feed(b"x" * 25) == b"-ERR Line too long\r\n"
    assert d.feed(b"y" * 10 + b"\r\n" + probe) == answer
    long_auth = b"AUTH PLAIN " + b64(b"\0alice\0s3cret pw") + b"\r\n"
    assert len(long_auth) > 20
    assert d.feed(long_auth).startswith(b"+OK maildrop")


def test_adapter_misuse() -> None:
    conn = ServerConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_message(b"x")
    with pytest.raises(LocalProtocolError):
        conn.tls_started()
    conn.greet()
    with pytest.raises(LocalProtocolError):
        conn.greet()
