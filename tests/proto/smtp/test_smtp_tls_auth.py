"""STARTTLS (RFC 3207) and AUTH (RFC 4954, PLAIN and LOGIN) through the server core."""

from __future__ import annotations

import base64

import pytest
from smtp_transcript import Driver, config, run

from postoffice.proto.smtp import events as ev
from postoffice.proto.smtp.reply import Reply
from postoffice.proto.smtp.server import State


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PLAIN_OK = b64(b"\0user\0secret")
PLAIN_BAD = b64(b"\0user\0wrong")
PLAIN_AUTHZ = b64(b"admin\0user\0secret")
LOGIN_USER = b64(b"user")
LOGIN_PASS = b64(b"secret")
TLS = {"tls_available": True}


def test_starttls_discards_injected_commands() -> None:
    """CVE-2011-0411: commands sent with STARTTLS in one packet must not run after the
    handshake (they were sent in clear text and could come from a man in the middle)."""
    driver = run(
        f"""
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-STARTTLS
        S: 250-CHUNKING
        S: 250 DSN
        C: STARTTLS
        C: MAIL FROM:<evil@example.org>
        C: RCPT TO:<victim@example.org>
        S: 220 2.0.0 Ready to start TLS
        E: StartTls()
        # more clear text before the handshake completes is dropped as well
        C: RSET
        -- tls
        E: Reset()
        C: MAIL FROM:<a@example.org>
        S: 503 5.5.1 Send EHLO first
        C: EHLO c
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-AUTH PLAIN LOGIN
        S: 250-CHUNKING
        S: 250 DSN
        C: STARTTLS
        S: 503 5.5.1 TLS already active
        C: AUTH PLAIN {PLAIN_OK}
        S: 235 2.7.0 Authentication successful
        """,
        config(**TLS),
    )
    assert not any(isinstance(e, ev.MailFrom | ev.RcptTo) for e in driver.events[:6])
    assert driver.conn.secure and driver.conn.auth_identity == "user"


def test_starttls_refusals() -> None:
    run(
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: STARTTLS now
        C: MAIL FROM:<a@example.org>
        C: STARTTLS
        C: RSET
        S* 250
        S: 501 5.5.4 Syntax: STARTTLS
        S: 250 2.1.0 Sender OK
        S: 503 5.5.1 Not allowed during a mail transaction
        S: 250 2.0.0 OK
        # the adapter may refuse (no certificate): the session goes on in clear text
        A: StartTls 454 4.7.0 TLS not available
        C: STARTTLS
        C: NOOP
        S: 454 4.7.0 TLS not available
        S: 250 2.0.0 OK
        """,
        config(**TLS),
    )
    run(
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: STARTTLS
        S* 250
        S: 502 5.5.1 Command not implemented
        """,
        config(),
    )


def test_auth_requires_tls() -> None:
    driver = run(
        f"""
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: AUTH PLAIN {PLAIN_OK}
        S* 250
        S: 538 5.7.11 Encryption required for requested authentication mechanism
        """,
        config(),
    )
    assert not any(line.startswith("250-AUTH") for line in driver.lines)


SECURE = {"secure": True}


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            f"""
            C: AUTH PLAIN {PLAIN_OK}
            S: 235 2.7.0 Authentication successful
            E: AuthCredentials(mechanism='PLAIN', authzid='', username='user')
            C: AUTH PLAIN {PLAIN_OK}
            S: 503 5.5.1 Already authenticated
            """,
            id="plain-initial-response",
        ),
        pytest.param(
            f"""
            C: AUTH plain
            S: 334
            C: {PLAIN_BAD}
            S: 535 5.7.8 Authentication credentials invalid
            C: AUTH PLAIN
            S: 334
            C: {PLAIN_AUTHZ}
            S: 235 2.7.0 Authentication successful
            E: AuthCredentials(mechanism='PLAIN', authzid='admin', username='user')
            """,
            id="plain-challenge-and-retry",
        ),
        pytest.param(
            f"""
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: {LOGIN_USER}
            S: 334 UGFzc3dvcmQ6
            C: {LOGIN_PASS}
            S: 235 2.7.0 Authentication successful
            E: AuthCredentials(mechanism='LOGIN', authzid='', username='user')
            """,
            id="login",
        ),
        pytest.param(
            f"""
            C: AUTH LOGIN {LOGIN_USER}
            S: 334 UGFzc3dvcmQ6
            C: {LOGIN_PASS}
            S: 235 2.7.0 Authentication successful
            """,
            id="login-initial-response",
        ),
        pytest.param(
            """
            C: AUTH LOGIN =
            S: 334 UGFzc3dvcmQ6
            C: *
            S: 501 5.0.0 Authentication cancelled
            C: AUTH PLAIN =
            S: 501 5.5.2 Malformed authentication data
            """,
            id="empty-initial-response-and-cancel",
        ),
        pytest.param(
            """
            C: AUTH PLAIN !!!notbase64
            S: 501 5.5.2 Invalid base64 data
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: %%%
            S: 501 5.5.2 Invalid base64 data
            C: NOOP
            S: 250 2.0.0 OK
            """,
            id="bad-base64",
        ),
        pytest.param(
            """
            C: AUTH CRAM-MD5
            S: 504 5.5.4 Unrecognized authentication type
            C: AUTH
            S: 501 5.5.4 Syntax: AUTH mechanism [initial-response]
            C: AUTH PLAIN a b
            S: 501 5.5.4 Syntax: AUTH mechanism [initial-response]
            """,
            id="auth-syntax",
        ),
        pytest.param(
            f"""
            A: AuthCredentials 454 4.7.0 Temporary authentication failure
            C: AUTH PLAIN {PLAIN_OK}
            S: 454 4.7.0 Temporary authentication failure
            C: MAIL FROM:<a@example.org>
            S: 530 5.7.0 Authentication required
            # pipelined: MAIL is only looked at once AUTH has its answer
            C: AUTH PLAIN {PLAIN_OK}
            C: MAIL FROM:<a@example.org>
            S: 235 2.7.0 Authentication successful
            S: 250 2.1.0 Sender OK
            """,
            id="submission-requires-auth",
        ),
    ],
)
def test_auth(script: str) -> None:
    head = """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-AUTH PLAIN LOGIN
        S: 250-CHUNKING
        S: 250 DSN
    """
    run(head + script, config(secure=True, require_auth=True))


def test_plain_challenge_is_334_space() -> None:
    driver = Driver(config(secure=True))
    driver.feed(b"EHLO c\r\nAUTH PLAIN\r\n")
    assert driver.output.endswith(b"\r\n334 \r\n")
    assert driver.conn.state is State.AUTH


def test_auth_line_limit() -> None:
    driver = Driver(config(secure=True, max_auth_line=600))
    driver.feed(b"EHLO c\r\nAUTH LOGIN\r\n" + b"A" * 700 + b"\r\nNOOP\r\n")
    assert driver.lines[-3:] == [
        "334 VXNlcm5hbWU6",
        "500 5.5.6 Authentication Exchange line is too long",
        "250 2.0.0 OK",
    ]
    assert driver.conn.state is State.READY
    # AUTH lines may be longer than command lines (initial responses)
    long_ir = b64(b"\0" + b"u" * 1500 + b"\0secret").encode()
    driver = Driver(config(secure=True, max_command_line=512))
    driver.feed(b"EHLO c\r\nAUTH PLAIN " + long_ir + b"\r\n")
    assert driver.lines[-1] == "235 2.7.0 Authentication successful"


def test_authenticated_ehlo_hides_auth() -> None:
    driver = Driver(config(secure=True))
    driver.feed(f"EHLO c\r\nAUTH PLAIN {PLAIN_OK}\r\nEHLO c\r\n".encode())
    assert driver.conn.auth_identity == "user"
    last_ehlo = driver.output.split(b"235 2.7.0 Authentication successful\r\n")[1]
    assert b"AUTH" not in last_ehlo


def test_auth_not_offered_without_mechanisms() -> None:
    driver = Driver(config(secure=True, auth_mechanisms=()))
    driver.feed(b"EHLO c\r\nAUTH PLAIN\r\n")
    assert b"AUTH" not in driver.output.split(b"\r\n250 DSN")[0]
    assert driver.lines[-1] == "502 5.5.1 Command not implemented"


def test_greeting_refusal_closes() -> None:
    driver = Driver(config(), greeting=Reply(554, "", "No SMTP service here"))
    assert driver.closed == "refused"
    assert driver.output == b"554 No SMTP service here\r\n"
    driver.feed(b"EHLO c\r\n")
    assert driver.output == b"554 No SMTP service here\r\n"


def test_early_talker_waits_for_the_banner() -> None:
    driver = Driver(config(), greeting=None)
    driver.feed(b"EHLO c\r\n")
    assert driver.events == [] and driver.output == b""
    driver.conn.greet(Reply(220, "", "mx.example.org ESMTP"))
    driver.drive()
    assert isinstance(driver.events[0], ev.Hello)
