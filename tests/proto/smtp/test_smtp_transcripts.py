"""Transcripts (C:/S:/E: scripts, see smtp_transcript.py) for the SMTP server core."""

from __future__ import annotations

import pytest
from smtp_transcript import config, run

TRANSCRIPTS = [
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO client.example
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-CHUNKING
        S: 250 DSN
        E: Hello(verb='EHLO', domain='client.example')
        C: MAIL FROM:<alice@example.org> SIZE=120 BODY=8bitmime
        S: 250 2.1.0 Sender OK
        E: MailFrom(address='alice@example.org', params={'SIZE': '120', 'BODY': '8BITMIME'})
        C: RCPT TO:<bob@example.net>
        S: 250 2.1.5 Recipient OK
        E: RcptTo(address='bob@example.net', params={}, source_route=False)
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        E: DataStart()
        C: Subject: hi
        C:
        C: ..leading dot
        C: .
        S: 250 2.0.0 Message accepted
        E: DataChunk(data=b'Subject: hi\\r\\n\\r\\n.leading dot\\r\\n')
        E: DataEnd(size=29)
        C: QUIT
        S: 221 2.0.0 Bye
        E: Closed(reason='quit')
        """,
        id="basic-session",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        # the whole session in one packet: replies come back in order
        C: EHLO client.example
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.net>
        C: RCPT TO:<c@example.net>
        C: DATA
        C: body
        C: .
        C: NOOP
        C: QUIT
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        S: 250 2.0.0 Message accepted
        S: 250 2.0.0 OK
        S: 221 2.0.0 Bye
        """,
        id="pipelining-whole-session",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        # a refused MAIL makes the pipelined RCPT and DATA sequence errors
        A: MailFrom 550 5.7.1 Sender refused
        C: EHLO c
        C: MAIL FROM:<spam@example.org>
        C: RCPT TO:<b@example.net>
        C: DATA
        S* 250
        S: 550 5.7.1 Sender refused
        S: 503 5.5.1 Need MAIL command
        S: 503 5.5.1 Need MAIL command
        """,
        id="pipelining-refused-mail",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        A: RcptTo 550 5.1.1 No such user
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<nobody@example.net>
        C: DATA
        S* 250
        S: 250 2.1.0 Sender OK
        S: 550 5.1.1 No such user
        S: 554 5.5.1 No valid recipients
        C: RSET
        S: 250 2.0.0 OK
        E: Reset()
        C: RCPT TO:<b@example.net>
        S: 503 5.5.1 Need MAIL command
        """,
        id="no-valid-recipients",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: NOOP
        S: 250 2.0.0 OK
        C: RSET
        S: 250 2.0.0 OK
        E: Reset()
        C: HELP
        S: 214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH
        C: MAIL FROM:<a@example.org>
        S: 503 5.5.1 Send EHLO first
        C: RCPT TO:<a@example.org>
        S: 503 5.5.1 Send EHLO first
        C: DATA
        S: 503 5.5.1 Send EHLO first
        C: STARTTLS
        S: 503 5.5.1 Send EHLO first
        C: AUTH PLAIN
        S: 503 5.5.1 Send EHLO first
        C: VRFY a
        S: 252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery
        C: EHLO
        S: 501 5.5.4 Syntax: EHLO hostname
        C: HELO c.example
        S: 250 mx.example.org
        E: Hello(verb='HELO', domain='c.example')
        C: MAIL FROM:<a@example.org> SIZE=10
        S: 555 5.5.4 Parameters not allowed after HELO
        C: MAIL FROM:<a@example.org>
        S: 250 2.1.0 Sender OK
        C: RCPT TO:<b@example.org> NOTIFY=NEVER
        S: 555 5.5.4 Parameters not allowed after HELO
        """,
        id="before-ehlo-and-helo",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        C: DATA
        S: 503 5.5.1 Need MAIL command
        C: MAIL FROM:<>
        S: 250 2.1.0 Sender OK
        E: MailFrom(address='', params={})
        C: MAIL FROM:<a@example.org>
        S: 503 5.5.1 Nested MAIL command
        C: DATA
        S: 554 5.5.1 No valid recipients
        C: RCPT TO:<>
        S: 501 5.1.3 Bad address syntax
        C: RCPT TO:<Postmaster>
        S: 250 2.1.5 Recipient OK
        E: RcptTo(address='Postmaster', params={}, source_route=False)
        C: AUTH PLAIN
        S: 503 5.5.1 Not allowed during a mail transaction
        C: DATA extra
        S: 501 5.5.4 Syntax: DATA
        C: RSET x
        S: 501 5.5.4 Syntax: RSET
        C: EHLO again
        S* 250
        E: Reset()
        E: Hello(verb='EHLO', domain='again')
        C: RCPT TO:<b@example.org>
        S: 503 5.5.1 Need MAIL command
        """,
        id="sequence-errors",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: FOO bar
        S: 500 5.5.1 Command unrecognized
        C: EXPN staff
        S: 502 5.5.1 Command not implemented
        R: b"\\x00\\r\\n"
        S: 500 5.5.2 Syntax error, command unrecognized
        C:
        S: 500 5.5.2 Syntax error, command unrecognized
        R: b"NOOP \\xff\\r\\n"
        S: 500 5.5.2 Syntax error, command unrecognized
        R: b"NOOP\\rQUIT\\r\\n"
        S: 500 5.5.2 Syntax error, command unrecognized
        # a bare LF ends a command line (scripts send it)
        R: b"noop\\nnOoP\\r\\n"
        S: 250 2.0.0 OK
        S: 250 2.0.0 OK
        """,
        id="syntax-errors",
    ),
    pytest.param(
        {"max_errors": 3},
        """
        S: 220 mx.example.org ESMTP
        C: FOO
        C: BAR
        C: BAZ
        C: NOOP
        S: 500 5.5.1 Command unrecognized
        S: 500 5.5.1 Command unrecognized
        S: 500 5.5.1 Command unrecognized
        S: 421 4.7.0 Too many errors
        E: Closed(reason='too-many-errors')
        """,
        id="too-many-errors",
    ),
    pytest.param(
        {"max_recipients": 2},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<r1@example.org>
        C: RCPT TO:<r2@example.org>
        C: RCPT TO:<r3@example.org>
        C: DATA
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.1.5 Recipient OK
        S: 452 4.5.3 Too many recipients
        S: 354 End data with <CR><LF>.<CR><LF>
        """,
        id="too-many-recipients",
    ),
    pytest.param(
        {"max_message_size": 10},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE 10
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-CHUNKING
        S: 250 DSN
        C: MAIL FROM:<a@example.org> SIZE=11
        S: 552 5.3.4 Message size exceeds fixed limit
        C: MAIL FROM:<a@example.org> SIZE=10
        C: RCPT TO:<b@example.org>
        C: DATA
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        C: 0123456789
        C: .
        S: 552 5.3.4 Message size exceeds fixed limit
        E: DataRejected(reason='too-large')
        # the transaction is gone, the session is not
        C: RCPT TO:<b@example.org>
        S: 503 5.5.1 Need MAIL command
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        C: DATA
        C: 01234567
        C: .
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        S: 250 2.0.0 Message accepted
        """,
        id="size-limit",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        C: DATA
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        R: b"line one\\nline two\\r\\n.\\r\\nNOOP\\r\\n"
        S: 550 5.6.11 Bare CR or LF not allowed, use CRLF
        S: 250 2.0.0 OK
        E: DataRejected(reason='bare-newline')
        """,
        id="bare-lf-rejected",
    ),
    pytest.param(
        {"bare_newline": "normalize"},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        C: DATA
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 354 End data with <CR><LF>.<CR><LF>
        R: b"one\\ntwo\\rthree\\n.\\nfour\\r\\n.\\r\\n"
        S: 250 2.0.0 Message accepted
        E: DataChunk(data=b'one\\r\\ntwo\\r\\nthree\\r\\n.\\r\\nfour\\r\\n')
        E: DataEnd(size=26)
        """,
        id="bare-newlines-normalized",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        C: VRFY bob
        S: 252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery
        C: VRFY
        S: 501 5.5.4 Syntax: VRFY address
        """,
        id="vrfy-disabled",
    ),
    pytest.param(
        {"vrfy_enabled": True},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        C: VRFY bob
        S: 250 2.1.5 bob
        E: Verify(argument='bob')
        """,
        id="vrfy-enabled",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        C: MAIL FROM:<jørn@example.org>
        S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
        C: MAIL FROM:<jørn@example.org> SMTPUTF8
        S: 250 2.1.0 Sender OK
        E: MailFrom(address='jørn@example.org', params={'SMTPUTF8': None})
        C: RCPT TO:<用户@例子.广告>
        S: 250 2.1.5 Recipient OK
        C: RSET
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<用户@例子.广告>
        S: 250 2.0.0 OK
        S: 250 2.1.0 Sender OK
        S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
        C: RCPT TO:<"john doe"@[192.0.2.1]>
        S: 250 2.1.5 Recipient OK
        E: RcptTo(address='"john doe"@[192.0.2.1]', params={}, source_route=False)
        C: RCPT TO:<x@[IPv6:2001:db8::1]>
        S: 250 2.1.5 Recipient OK
        C: RCPT TO:<x@[300.1.1.1]>
        S: 501 5.1.3 Bad address syntax
        """,
        id="smtputf8-and-literals",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        C: MAIL FROM: <a@example.org> RET=hdrs ENVID=QQ+2BID AUTH=<>
        S: 250 2.1.0 Sender OK
        E: MailFrom(address='a@example.org', params={'RET': 'HDRS', 'ENVID': 'QQ+2BID', 'AUTH': '<>'})
        C: RCPT TO:<@relay.example,@b.example:user@c.example>
        S: 250 2.1.5 Recipient OK
        E: RcptTo(address='user@c.example', params={}, source_route=True)
        C: RCPT TO:<b@example.org> notify=success,delay orcpt=rfc822;b+40example.org
        S: 250 2.1.5 Recipient OK
        E: RcptTo(address='b@example.org', params={'NOTIFY': 'SUCCESS,DELAY', 'ORCPT': 'rfc822;b+40example.org'}, source_route=False)
        C: RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS
        S: 501 5.5.4 NOTIFY=NEVER cannot be combined with other values
        C: RCPT TO:<b@example.org> FOO=bar
        S: 555 5.5.4 Unsupported parameter FOO
        C: RCPT TO:<b@example.org> NOTIFY=NEVER NOTIFY=NEVER
        S: 555 5.5.4 Duplicate parameter NOTIFY
        C: RCPT TO:b@example.org
        S: 501 5.1.3 Bad address syntax
        C: RCPT <b@example.org>
        S: 501 5.5.4 Syntax: RCPT TO:<address>
        """,
        id="params-and-paths",
    ),
    pytest.param(
        {"max_command_line": 512},
        """
        S: 220 mx.example.org ESMTP
        # an overlong line is refused at once and its rest dropped; the next line is a command
        R: b"NOOP " + b"x" * 600 + b"\\r\\nQUIT\\r\\n" + b"y" * 400 + b"\\r\\n"
        S: 500 5.5.2 Line too long
        S: 221 2.0.0 Bye
        """,
        id="line-too-long",
    ),
    pytest.param(
        {"max_command_line": 512},
        """
        S: 220 mx.example.org ESMTP
        R: b"NOOP " + b"x" * 1000
        S: 500 5.5.2 Line too long
        R: b"QUIT tail of the long line\\r\\nNOOP\\r\\n"
        S: 250 2.0.0 OK
        # exactly the limit (CRLF included) is fine
        R: b"NOOP " + b"z" * 505 + b"\\r\\n"
        S: 250 2.0.0 OK
        R: b"NOOP " + b"z" * 506 + b"\\r\\n"
        S: 500 5.5.2 Line too long
        """,
        id="line-too-long-across-packets",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        S* 250
        -- eof
        E: Closed(reason='eof')
        """,
        id="eof",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: QUIT
        S: 221 2.0.0 Bye
        E: Closed(reason='quit')
        -- eof
        C: NOOP
        """,
        id="quit-then-eof",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        A: MailFrom 421 4.3.2 Shutting down
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: NOOP
        S* 250
        S: 421 4.3.2 Shutting down
        E: Closed(reason='service-unavailable')
        """,
        id="adapter-421-closes",
    ),
]


@pytest.mark.parametrize(("cfg", "script"), TRANSCRIPTS)
def test_transcript(cfg: dict[str, object], script: str) -> None:
    run(script, config(**cfg))
