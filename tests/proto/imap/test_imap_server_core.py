"""The sans-I/O IMAP connection core: what it answers by itself and what it hands out."""

from __future__ import annotations

import base64

from postoffice.proto.imap import server as core
from postoffice.proto.imap.events import NEED_DATA


def _conn(**config: object) -> core.ImapConnection:
    conn = core.ImapConnection(core.ImapConfig(**config))  # type: ignore[arg-type]
    conn.greet()
    conn.data_to_send()
    return conn


def _say(conn: core.ImapConnection, data: bytes) -> tuple[object, bytes]:
    conn.receive_data(data)
    event = conn.next_event()
    return event, conn.data_to_send()


def _logged_in(**config: object) -> core.ImapConnection:
    conn = _conn(plaintext_auth=True, **config)
    event, _ = _say(conn, b"a LOGIN u p\r\n")
    assert isinstance(event, core.Credentials)
    conn.authenticated("a", True, "u")
    conn.data_to_send()
    return conn


def test_login_is_disabled_before_tls() -> None:
    conn = _conn(tls_available=True)
    event, out = _say(conn, b"a CAPABILITY\r\n")
    assert event is NEED_DATA
    assert out.startswith(b"* CAPABILITY IMAP4rev1 ") and b"LOGINDISABLED" in out
    assert b"STARTTLS" in out
    event, out = _say(conn, b"b LOGIN u p\r\n")
    assert event is NEED_DATA and out == b"b NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
    event, out = _say(conn, b"c STARTTLS\r\n")
    assert isinstance(event, core.StartTls) and out.startswith(b"c OK")
    conn.tls_started()
    event, _ = _say(conn, b"d LOGIN u p\r\n")
    assert event == core.Credentials("d", "u", "p")


def test_authenticate_plain_with_a_continuation() -> None:
    conn = _conn(plaintext_auth=True)
    event, out = _say(conn, b"a AUTHENTICATE PLAIN\r\n")
    assert event is NEED_DATA and out == b"+ \r\n"
    event, _ = _say(conn, base64.b64encode(b"\0user\0pw") + b"\r\n")
    assert event == core.Credentials("a", "user", "pw", "")
    conn.authenticated("a", True, "user")
    assert b"a OK [CAPABILITY " in conn.data_to_send()
    assert conn.state is core.State.AUTHENTICATED


def test_three_failed_logins_end_the_session() -> None:
    conn = _conn(plaintext_auth=True)
    out = b""
    for tag in ("a", "b", "c"):
        event, _ = _say(conn, tag.encode() + b" LOGIN u wrong\r\n")
        assert isinstance(event, core.Credentials)
        conn.authenticated(tag, False)
        out += conn.data_to_send()
    assert out.count(b"NO [AUTHENTICATIONFAILED]") == 3 and out.endswith(b"* BYE Too many "
                                                                         b"failed logins\r\n")
    assert isinstance(conn.next_event(), core.Closed)


def test_commands_in_the_wrong_state_are_bad() -> None:
    conn = _conn(plaintext_auth=True)
    _, out = _say(conn, b"a SELECT INBOX\r\n")
    assert out == b"a BAD SELECT is not valid in the not authenticated state\r\n"
    conn = _logged_in()
    _, out = _say(conn, b"b FETCH 1 FLAGS\r\n")
    assert out == b"b BAD FETCH is not valid in the authenticated state\r\n"


def test_an_unknown_charset_is_no_badcharset() -> None:
    conn = _logged_in()
    conn.selected(False)
    _, out = _say(conn, b"a SEARCH CHARSET X-NOPE TEXT hello\r\n")
    assert out.startswith(b"a NO [BADCHARSET (UTF-8 US-ASCII)] ")


def test_a_broken_mailbox_name_is_no_not_bad() -> None:
    conn = _logged_in()
    _, out = _say(conn, b"a SELECT &Jjo\r\n")
    assert out.startswith(b"a NO [CANNOT] Bad mailbox name")


def test_synchronising_literals_and_their_limit() -> None:
    conn = _logged_in(max_literal=10)
    event, out = _say(conn, b"a APPEND INBOX {20}\r\n")
    assert event is NEED_DATA and out.startswith(b"a NO [TOOBIG]")
    event, out = _say(conn, b"b APPEND INBOX {5}\r\n")
    assert event is NEED_DATA and out == b"+ Ready for literal data\r\n"
    event, _ = _say(conn, b"hello\r\n")
    assert isinstance(event, core.Execute) and event.command.name == "APPEND"


def test_idle_waits_for_done() -> None:
    conn = _logged_in()
    event, _ = _say(conn, b"a IDLE\r\n")
    assert isinstance(event, core.Execute)
    conn.start_idle("a")
    assert conn.data_to_send() == b"+ idling\r\n"
    event, out = _say(conn, b"NOOP\r\n")
    assert event is NEED_DATA and out == b"* BAD Expected DONE\r\n"
    event, _ = _say(conn, b"DONE\r\n")
    assert event == core.IdleDone("a")


def test_enable_reports_what_it_turned_on() -> None:
    conn = _logged_in()
    _, out = _say(conn, b"a ENABLE QRESYNC UTF8=ACCEPT X-UNKNOWN\r\n")
    assert out == b"* ENABLED QRESYNC UTF8=ACCEPT\r\na OK Enabled\r\n"
    assert {"QRESYNC", "CONDSTORE", "UTF8=ACCEPT"} <= conn.enabled and conn.utf8
