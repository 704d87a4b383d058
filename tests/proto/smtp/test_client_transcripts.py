"""The SMTP client core, transcript by transcript (see client_transcript.py for the format)."""

from __future__ import annotations

import pytest
from client_transcript import ClientDriver, cconfig, envelope, run

from postoffice.message.envelope import Recipient
from postoffice.proto.smtp.client import ClientConnection, ClientState, LocalProtocolError
from postoffice.proto.smtp.client_events import (
    IDLE,
    Extensions,
    SessionClosed,
    SessionReady,
    TransactionDone,
)
from postoffice.proto.smtp.client_results import SessionFailure
from postoffice.proto.smtp.reply import Reply

MSG = b"Subject: hi\r\n\r\nHello\r\n"
EHLO_ALL = """
    S: 250-mx.example.org
    S: 250-PIPELINING
    S: 250-SIZE 1000000
    S: 250-8BITMIME
    S: 250-SMTPUTF8
    S: 250-ENHANCEDSTATUSCODES
    S: 250 DSN
"""


def ready(greeting_and_ehlo: bytes) -> ClientConnection:
    conn = ClientConnection(cconfig())
    conn.receive_data(greeting_and_ehlo)
    assert isinstance(conn.next_event(), SessionReady)
    assert conn.next_event() == IDLE and conn.state is ClientState.READY
    return conn


def kinds(driver: ClientDriver, n: int = 0) -> list[str]:
    return [o.kind for o in driver.results[n].outcomes]


def test_pipelined_transaction_and_quit() -> None:
    d = ClientDriver(cconfig(), [(envelope("b@example.net", "c@example.net"), MSG)])
    run(
        f"""
        S: 220 mx.example.org ESMTP
        C: EHLO client.example
        {EHLO_ALL}
        # PIPELINING: MAIL, every RCPT and DATA in one write
        C: MAIL FROM:<a@example.org> SIZE=22
        C: RCPT TO:<b@example.net>
        C: RCPT TO:<c@example.net>
        C: DATA
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 OK
        S: 250 2.1.5 OK
        S: 354 go ahead
        C: Subject: hi
        C:
        C: Hello
        C: .
        S: 250 2.0.0 Ok: queued as 12345
        E: TransactionDone(result=TransactionResult(outcomes=(RecipientOutcome(address='b@example.net', kind='delivered', reply=Reply(code=250, status='2.0.0', lines=('Ok: queued as 12345',)), reason='accepted: 250 2.0.0 Ok: queued as 12345', stage='final', remote=True), RecipientOutcome(address='c@example.net', kind='delivered', reply=Reply(code=250, status='2.0.0', lines=('Ok: queued as 12345',)), reason='accepted: 250 2.0.0 Ok: queued as 12345', stage='final', remote=True)), reply=Reply(code=250, status='2.0.0', lines=('Ok: queued as 12345',))))
        C: QUIT
        S: 221 2.0.0 Bye
        E: SessionClosed(failure=None)
        """,
        d,
    )
    assert d.results[0].all_delivered
    ext = d.conn.extensions
    assert (ext.pipelining, ext.size, ext.eightbitmime, ext.smtputf8, ext.dsn) == (
        True, 1000000, True, True, True)
    assert not ext.chunking and not ext.starttls and ext.enhancedstatuscodes


def test_without_pipelining_one_command_per_reply() -> None:
    d = ClientDriver(cconfig(), [(envelope("b@example.net", "c@example.net"), MSG)])
    run(
        """
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250 mx
        C: MAIL FROM:<a@example.org>
        S: 250 ok
        C: RCPT TO:<b@example.net>
        S: 550 5.1.1 no such user
        C: RCPT TO:<c@example.net>
        S: 250 ok
        C: DATA
        S: 354 go ahead
        C* Hello
        C: .
        S: 250 queued
        C: QUIT
        S: 221 bye
        """,
        d,
    )
    assert kinds(d) == ["failed", "delivered"]
    failed = d.results[0].failed[0]
    assert (failed.stage, failed.status, failed.reason) == (
        "rcpt", "5.1.1", "recipient refused: 550 5.1.1 no such user")
    assert d.results[0].delivered[0].status == "2.0.0"  # no enhanced code given: derived


@pytest.mark.parametrize("code", [500, 502])
def test_ehlo_refused_falls_back_to_helo_without_parameters(code: int) -> None:
    env = envelope("b@example.net", ret="FULL", envid="e1")
    d = ClientDriver(cconfig(), [(env, MSG)])
    run(
        f"""
        S: 220 old.example SMTP
        C: EHLO client.example
        S: {code} 5.5.1 what?
        C: HELO client.example
        S: 250 old.example
        C: MAIL FROM:<a@example.org>
        S: 250 ok
        C: RCPT TO:<b@example.net>
        S: 250 ok
        C: DATA
        S: 354 go
        C* Hello
        C: .
        S: 250 ok
        C: QUIT
        """,
        d,
    )
    assert d.conn.extensions == Extensions(greeting="old.example")
    assert d.results[0].all_delivered


def test_ehlo_refused_otherwise_ends_the_session() -> None:
    d = ClientDriver(cconfig(), [(envelope("b@example.net"), MSG)])
    run(
        """
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 554 5.7.1 go away
        C: QUIT
        S: 221 bye
        E: SessionClosed(failure=SessionFailure(reply=Reply(code=554, status='5.7.1', lines=('go away',)), reason='EHLO/HELO refused: 554 5.7.1 go away', stage='ehlo', kind='failed', remote=True))
        """,
        d,
    )
    assert d.results == []


def test_greeting_refused_and_421_greeting() -> None:
    d = ClientDriver(cconfig())
    run("S: 554 5.3.2 not accepting mail\nC: QUIT\nS: 221 bye", d)
    assert d.closed is not None and d.closed.failure is not None
    assert (d.closed.failure.kind, d.closed.failure.stage) == ("failed", "greeting")
    d = ClientDriver(cconfig())
    run("S: 421 4.3.2 busy, try later", d)  # the peer closes: no QUIT
    assert d.closed is not None and d.closed.failure is not None
    assert d.closed.failure.kind == "deferred"
    assert d.closed.failure.reason == "peer closing the session: 421 4.3.2 busy, try later"


def test_opportunistic_starttls_discards_injected_bytes_and_ehlos_again() -> None:
    d = ClientDriver(cconfig(tls="opportunistic"), [(envelope("b@example.net"), MSG)])
    run(
        """
        S: 220 mx ESMTP
        C: EHLO client.example
        S: 250-mx
        S: 250-STARTTLS
        S: 250 PIPELINING
        C: STARTTLS
        # a man in the middle appends a fake reply to the 220: it must be dropped
        S: 220 2.0.0 go ahead
        S: 250-injected
        S: 250 AUTH PLAIN
        E: UpgradeTls()
        C: EHLO client.example
        S: 250-mx
        S: 250 PIPELINING
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.net>
        C: DATA
        """,
        d,
    )
    assert d.conn.secure and d.conn.extensions.keywords == ("PIPELINING",)


@pytest.mark.parametrize("mode", ["opportunistic", "required", "verify"])
def test_starttls_not_offered(mode: str) -> None:
    d = ClientDriver(cconfig(tls=mode), [(envelope("b@example.net"), MSG)])
    if mode == "opportunistic":
        run("S: 220 mx ESMTP\nC: EHLO client.example\nS: 250 mx\nC: MAIL FROM:<a@example.org>", d)
        assert not d.conn.secure
        return
    run("S: 220 mx ESMTP\nC: EHLO client.example\nS: 250 mx\nC: QUIT\nS: 221 bye", d)
    assert d.closed == SessionClosed(
        SessionFailure(
            Reply(451, "4.7.10", "TLS required but STARTTLS not offered by the peer"),
            "TLS required but STARTTLS not offered by the peer",
            "starttls",
            "deferred",
            remote=False,
        )
    )


@pytest.mark.parametrize("mode", ["opportunistic", "required"])
def test_starttls_refused(mode: str) -> None:
    d = ClientDriver(cconfig(tls=mode), [(envelope("b@example.net"), MSG)])
    head = ("S: 220 mx\nC: EHLO client.example\nS: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\n"
            "S: 554 5.5.1 TLS not available\n")
    if mode == "opportunistic":  # the peer said no before any handshake: carry on in clear
        run(head + "C: MAIL FROM:<a@example.org>", d)
        return
    run(head + "C: QUIT\nS: 221 bye", d)
    assert d.closed is not None and d.closed.failure is not None
    assert d.closed.failure.kind == "deferred"  # a TLS problem, never a bounce


def test_auth_plain_after_starttls() -> None:
    d = ClientDriver(cconfig(tls="required", auth=("user", "pw")), [(envelope("b@x.net"), MSG)])
    run(
        """
        S: 220 smarthost
        C: EHLO client.example
        S: 250-smarthost
        S: 250 STARTTLS
        C: STARTTLS
        S: 220 go
        C: EHLO client.example
        S: 250-smarthost
        S: 250 AUTH LOGIN PLAIN
        C: AUTH PLAIN AHVzZXIAcHc=
        S: 235 2.7.0 ok
        E: SessionReady(extensions=Extensions(esmtp=True, pipelining=False, size=None, eightbitmime=False, smtputf8=False, starttls=False, auth=('LOGIN', 'PLAIN'), chunking=False, dsn=False, enhancedstatuscodes=False, keywords=('AUTH',), greeting='smarthost'))
        C: MAIL FROM:<a@example.org>
        """,
        d,
    )
    assert d.conn.authenticated


def test_auth_login_old_style_keyword() -> None:
    d = ClientDriver(cconfig(auth=("user", "pw"), auth_requires_tls=False,
                             auth_mechanisms=("LOGIN",)), [(envelope("b@x.net"), MSG)])
    run(
        """
        S: 220 smarthost
        C: EHLO client.example
        S: 250-smarthost
        S: 250 AUTH=LOGIN
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: dXNlcg==
        S: 334 UGFzc3dvcmQ6
        C: cHc=
        S: 235 ok
        C: MAIL FROM:<a@example.org>
        """,
        d,
    )


def test_auth_failures_defer() -> None:
    d = ClientDriver(cconfig(auth=("user", "bad"), auth_requires_tls=False),
                     [(envelope("b@x.net"), MSG)])
    run("S: 220 s\nC: EHLO client.example\nS: 250-s\nS: 250 AUTH PLAIN\nC* AUTH PLAIN\n"
        "S: 535 5.7.8 bad credentials\nC: QUIT\nS: 221 bye", d)
    assert d.closed is not None and d.closed.failure is not None
    failure = d.closed.failure
    assert (failure.kind, failure.stage, failure.reply.code) == ("deferred", "auth", 535)
    # no common mechanism, and no password in clear
    d = ClientDriver(cconfig(auth=("u", "p"), auth_requires_tls=False))
    run("S: 220 s\nC: EHLO client.example\nS: 250-s\nS: 250 AUTH CRAM-MD5\nC: QUIT", d)
    assert d.conn.state is ClientState.QUIT
    d = ClientDriver(cconfig(auth=("u", "p")))
    run("S: 220 s\nC: EHLO client.example\nS: 250-s\nS: 250 AUTH PLAIN\nC: QUIT\nS: 221 bye", d)
    assert d.closed is not None and d.closed.failure is not None
    assert d.closed.failure.reply.status == "4.7.10"


def test_smtputf8_and_8bitmime_parameters() -> None:
    utf8_address = envelope("jörg@example.net")
    utf8_header = envelope("b@example.net")
    eight_bit_body = envelope("b@example.net")
    body8 = b"Subject: x\r\n\r\ncaf\xc3\xa9\r\n"
    head8 = b"Subject: caf\xc3\xa9\r\n\r\nx\r\n"
    msgs = [(utf8_address, MSG), (utf8_header, head8), (eight_bit_body, body8)]
    d = ClientDriver(cconfig(), msgs)
    run(
        """
        S: 220 mx
        C: EHLO client.example
        S: 250-mx
        S: 250-8BITMIME
        S: 250 SMTPUTF8
        C: MAIL FROM:<a@example.org> SMTPUTF8
        S: 250 ok
        C: RCPT TO:<jörg@example.net>
        S: 250 ok
        C: DATA
        S: 354 go
        C* Hello
        C: .
        S: 250 ok
        C: MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8
        S: 250 ok
        C: RCPT TO:<b@example.net>
        S: 250 ok
        C: DATA
        S: 354 go
        C* x
        C: .
        S: 250 ok
        C: MAIL FROM:<a@example.org> BODY=8BITMIME
        """,
        d,
    )


def test_peer_without_smtputf8_fails_cleanly_and_session_goes_on() -> None:
    msgs = [(envelope("jörg@example.net"), MSG), (envelope("b@example.net"), MSG)]
    d = ClientDriver(cconfig(), msgs)
    run(
        """
        S: 220 mx
        C: EHLO client.example
        S: 250-mx
        S: 250 8BITMIME
        # nothing is sent for the first message
        C: MAIL FROM:<a@example.org>
        """,
        d,
    )
    (outcome,) = d.results[0].outcomes
    assert (outcome.kind, outcome.status, outcome.remote) == ("failed", "5.6.7", False)
    assert "peer lacks SMTPUTF8" in outcome.reason


def test_dsn_parameters_only_when_offered() -> None:
    env = envelope(
        Recipient("b@example.net", notify=("SUCCESS", "FAILURE"), orcpt="rfc822;b@example.net"),
        Recipient("c@example.net", notify=("NEVER",)),
        ret="HDRS",
        envid="id+1 x",
    )
    d = ClientDriver(cconfig(), [(env, MSG), (env, MSG)])
    run(
        """
        S: 220 mx
        C: EHLO client.example
        S: 250-mx
        S: 250 DSN
        C: MAIL FROM:<a@example.org> RET=HDRS ENVID=id+2B1+20x
        S: 250 ok
        C: RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net
        S: 250 ok
        C: RCPT TO:<c@example.net> NOTIFY=NEVER
        """,
        d,
    )
    d = ClientDriver(cconfig(), [(env, MSG)])
    run("S: 220 mx\nC: EHLO client.example\nS: 250 mx\nC: MAIL FROM:<a@example.org>\nS: 250 ok\n"
        "C: RCPT TO:<b@example.net>", d)


def test_message_larger_than_the_peers_size_limit() -> None:
    d = ClientDriver(cconfig(), [(envelope("b@example.net"), b"x" * 100)], quit=False)
    run("S: 220 mx\nC: EHLO client.example\nS: 250-mx\nS: 250 SIZE 50", d)
    (outcome,) = d.results[0].outcomes
    assert (outcome.kind, outcome.status, outcome.stage) == ("failed", "5.3.4", "local")


def test_final_reply_decides_every_accepted_recipient() -> None:
    env = envelope("b@example.net", "c@example.net", "d@example.net")
    d = ClientDriver(cconfig(), [(env, MSG), (env, MSG)])
    run(
        f"""
        S: 220 mx
        C: EHLO client.example
        {EHLO_ALL}
        C* DATA
        S: 250 ok
        S: 450 4.2.1 mailbox busy
        S: 250 ok
        S: 250 ok
        S: 354 go
        C* .
        S: 451 4.3.0 try again
        C* DATA
        S: 250 ok
        S: 250 ok
        S: 550 5.1.1 unknown
        S: 250 ok
        S: 354 go
        C* .
        S: 554 5.7.1 spam
        C: QUIT
        """,
        d,
    )
    assert kinds(d, 0) == ["deferred", "deferred", "deferred"]
    assert [o.stage for o in d.results[0].outcomes] == ["rcpt", "final", "final"]
    assert kinds(d, 1) == ["failed", "failed", "failed"]
    assert d.results[1].reply == Reply(554, "5.7.1", "spam")


def test_all_recipients_refused_then_rset_before_the_next_mail() -> None:
    env = envelope("b@example.net")
    d = ClientDriver(cconfig(), [(env, MSG), (env, MSG), (env, MSG)])
    run(
        f"""
        S: 220 mx
        C: EHLO client.example
        {EHLO_ALL}
        C* DATA
        S: 250 ok
        S: 550 5.1.1 unknown
        S: 554 5.5.1 no valid recipients
        C: RSET
        C: MAIL FROM:<a@example.org> SIZE=22
        C: RCPT TO:<b@example.net>
        C: DATA
        S: 250 ok
        S: 250 ok
        S: 450 4.1.1 later
        # a sloppy server gives 354 anyway (RFC 2920 3.1): send an empty message
        S: 354 go
        C: .
        S: 554 no recipients
        C: RSET
        C* DATA
        S: 250 flushed
        S: 250 ok
        S: 250 ok
        S: 354 go
        C* .
        S: 250 ok
        C: QUIT
        """,
        d,
    )
    assert kinds(d, 0) == ["failed"] and kinds(d, 1) == ["deferred"] and kinds(d, 2) == [
        "delivered"]


def test_mail_refused_decides_everyone_and_ignores_the_503s() -> None:
    env = envelope("b@example.net", "c@example.net")
    d = ClientDriver(cconfig(), [(env, MSG)])
    run(
        f"""
        S: 220 mx
        C: EHLO client.example
        {EHLO_ALL}
        C* DATA
        S: 451 4.3.0 sender verification pending
        S: 503 5.5.1 need MAIL
        S: 503 5.5.1 need MAIL
        S: 503 5.5.1 need MAIL
        C: QUIT
        """,
        d,
    )
    result = d.results[0]
    assert kinds(d) == ["deferred", "deferred"] and {o.stage for o in result.outcomes} == {"mail"}
    assert result.reply.code == 451


def test_chunking_sends_bdat_and_a_refused_chunk_aborts() -> None:
    env = envelope("b@example.net")
    big = b"0123456789\r\n" * 3
    d = ClientDriver(cconfig(), [(env, big), (env, b"0123456789\r\n")], chunk=12)
    run(
        """
        S: 220 mx
        C: EHLO client.example
        S: 250-mx
        S: 250-PIPELINING
        S: 250 CHUNKING
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.net>
        S: 250 ok
        S: 250 ok
        C: BDAT 12
        C: 0123456789
        C: BDAT 12
        C: 0123456789
        C: BDAT 12 LAST
        C: 0123456789
        S: 250 2.0.0 12 octets
        S: 552 5.3.4 too big
        S: 503 5.5.1 no transaction
        C: RSET
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.net>
        S: 250 ok
        S: 250 ok
        S: 250 ok
        C: BDAT 12 LAST
        C: 0123456789
        S: 250 2.0.0 queued
        C: QUIT
        """,
        d,
    )
    assert kinds(d, 0) == ["failed"] and d.results[0].outcomes[0].stage == "content"
    assert d.results[1].all_delivered


def test_chunking_can_be_switched_off() -> None:
    d = ClientDriver(cconfig(chunking=False), [(envelope("b@example.net"), MSG)])
    run("S: 220 mx\nC: EHLO client.example\nS: 250-mx\nS: 250-PIPELINING\nS: 250 CHUNKING\n"
        "C: MAIL FROM:<a@example.org>\nC: RCPT TO:<b@example.net>\nC: DATA", d)


def test_421_mid_transaction_defers_the_rest_and_closes_without_quit() -> None:
    env = envelope("b@example.net", "c@example.net", "d@example.net")
    d = ClientDriver(cconfig(), [(env, MSG)])
    run(
        f"""
        S: 220 mx
        C: EHLO client.example
        {EHLO_ALL}
        C* DATA
        S: 250 ok
        S: 550 5.1.1 unknown
        S: 421 4.7.0 too many errors, closing
        """,
        d,
    )
    assert kinds(d) == ["failed", "deferred", "deferred"]
    assert d.results[0].outcomes[1].reply.code == 421
    assert d.closed is not None and d.lines[-1] == "DATA"


def test_connection_lost_mid_content_keeps_earlier_verdicts() -> None:
    env = envelope("b@example.net", "c@example.net")
    d = ClientDriver(cconfig(), [(env, MSG * 3)], chunk=10)
    run(
        f"""
        S: 220 mx
        C: EHLO client.example
        {EHLO_ALL}
        C* DATA
        S: 250 ok
        S: 250 ok
        S: 550 5.1.1 unknown
        S: 354 go
        C* .
        -- eof
        """,
        d,
    )
    delivered_or_not = d.results[0].outcomes
    assert [o.kind for o in delivered_or_not] == ["deferred", "failed"]
    assert delivered_or_not[0].status == "4.4.2" and not delivered_or_not[0].remote
    assert delivered_or_not[0].reason == "connection closed by peer (during final)"


def test_a_reply_sent_during_the_content_then_eof_is_the_verdict() -> None:
    # driven by hand so that the content is not finished when the peer gives up
    conn = ready(b"220 mx\r\n250-mx\r\n250 PIPELINING\r\n")
    conn.start_transaction(envelope("b@example.net"))
    conn.receive_data(b"250 ok\r\n250 ok\r\n354 go\r\n")
    assert type(conn.next_event()).__name__ == "ContentWanted"
    conn.send_content(b"Subject: x\r\n")
    conn.receive_data(b"554 5.3.4 message too big\r\n")  # not read until the content is sent
    assert type(conn.next_event()).__name__ == "ContentWanted"
    conn.receive_eof()
    event = conn.next_event()
    assert isinstance(event, TransactionDone)
    assert event.result.outcomes[0].kind == "failed" and event.result.reply.code == 554


def test_malformed_reply_is_a_protocol_error() -> None:
    d = ClientDriver(cconfig())
    run("S: 220 mx\nC: EHLO client.example\nS: hello there", d)
    assert d.closed is not None and d.closed.failure is not None
    assert d.closed.failure.reply.status == "4.5.0" and d.closed.failure.kind == "deferred"
    d = ClientDriver(cconfig())
    run("S: 220 mx\nC: EHLO client.example\nS: 250-mx\nS: 251 mixed", d)
    assert d.closed is not None and "different codes" in d.closed.failure.reason  # type: ignore[union-attr]
    d = ClientDriver(cconfig())
    d.feed(b"220 " + b"x" * 5000)
    assert d.closed is not None and "too long" in d.closed.failure.reason  # type: ignore[union-attr]


def test_addresses_cannot_smuggle_commands() -> None:
    evil = "x@example.net>\r\nRCPT TO:<evil@example.com"
    env = envelope(evil, "b@example.net")
    d = ClientDriver(cconfig(), [(env, MSG)])
    run("S: 220 mx\nC: EHLO client.example\nS: 250 mx\nC: MAIL FROM:<a@example.org>\n"
        "S: 250 ok\nC: RCPT TO:<b@example.net>", d)
    bad_sender = envelope("b@example.net", sender="a@b\r\nDATA")
    d = ClientDriver(cconfig(), [(bad_sender, MSG)])
    run("S: 220 mx\nC: EHLO client.example\nS: 250 mx\nC: QUIT", d)
    assert d.results[0].outcomes[0].status == "5.1.7"


def test_null_sender_and_postmaster() -> None:
    d = ClientDriver(cconfig(), [(envelope("Postmaster", sender=""), MSG)])
    run("S: 220 mx\nC: EHLO client.example\nS: 250 mx\nC: MAIL FROM:<>\nS: 250 ok\n"
        "C: RCPT TO:<Postmaster>", d)


def test_fifty_recipients_48_delivered_1_deferred_1_failed() -> None:
    rcpts = [f"u{i}@example.net" for i in range(50)]
    d = ClientDriver(cconfig(), [(envelope(*rcpts), MSG)])
    replies = ["250 ok"] * 50
    replies[7] = "452 4.2.2 mailbox full"
    replies[31] = "550 5.1.1 no such user"
    script = "S: 220 mx\nC: EHLO client.example\nS: 250-mx\nS: 250 PIPELINING\nC* DATA\n"
    script += "S: 250 ok\n" + "".join(f"S: {r}\n" for r in replies) + "S: 354 go\nC* .\n"
    script += "S: 250 2.0.0 queued\nC: QUIT\n"
    run(script, d)
    result = d.results[0]
    assert (len(result.delivered), len(result.deferred), len(result.failed)) == (48, 1, 1)
    assert result.outcome("u7@example.net").kind == "deferred"
    assert result.outcome("u31@example.net").kind == "failed"


def test_adapter_misuse_is_refused() -> None:
    conn = ClientConnection(cconfig())
    with pytest.raises(LocalProtocolError):
        conn.start_transaction(envelope("b@example.net"))
    with pytest.raises(LocalProtocolError):
        conn.quit()
    with pytest.raises(LocalProtocolError):
        conn.tls_started()
    conn.receive_data(b"220 mx\r\n250 mx\r\n")
    assert isinstance(conn.next_event(), SessionReady) and conn.next_event() == IDLE
    with pytest.raises(ValueError):
        conn.start_transaction(envelope())
    with pytest.raises(LocalProtocolError):
        conn.send_content(b"x")


def test_fail_from_the_adapter_decides_the_rest() -> None:
    conn = ready(b"220 mx\r\n250-mx\r\n250 PIPELINING\r\n")
    conn.start_transaction(envelope("b@example.net", "c@example.net"))
    conn.receive_data(b"250 ok\r\n550 no\r\n")
    assert conn.next_event().__class__.__name__ == "NeedData"
    assert conn.stage == "rcpt"
    conn.fail(SessionFailure.local(421, "4.4.2", "timeout", "rcpt"))
    event = conn.next_event()
    assert isinstance(event, TransactionDone)
    assert [o.kind for o in event.result.outcomes] == ["failed", "deferred"]
    assert isinstance(conn.next_event(), SessionClosed) and conn.data_to_send().endswith(b"DATA\r\n")
