"""BDAT (RFC 3030) transcripts: chunks, LAST, refusals that keep the stream in sync."""

from __future__ import annotations

import pytest
from smtp_transcript import config, run

BDAT_TRANSCRIPTS = [
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 5\\r\\nhello"
        R: b"BDAT 9 LAST\\r\\n\\r\\nworld\\r\\n"
        R: b"NOOP\\r\\n"
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 5 octets received
        S: 250 2.0.0 Message accepted
        S: 250 2.0.0 OK
        """,
        id="bdat",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        C: BDAT 0 LAST
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 Message accepted
        E: DataEnd(size=0)
        """,
        id="bdat-0-last",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        # BDAT without RCPT: refused, but its octets (a QUIT here) are skipped, not run
        R: b"BDAT 6\\r\\nQUIT\\r\\n"
        C: RCPT TO:<b@example.org>
        R: b"BDAT 6\\r\\nab\\r\\n.\\r"
        R: b"BDAT 3 LAST\\r\\n\\ncd"
        C: DATA
        S* 250
        S: 250 2.1.0 Sender OK
        S: 503 5.5.1 Need RCPT command
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 6 octets received
        S: 250 2.0.0 Message accepted
        S: 503 5.5.1 Need MAIL command
        """,
        id="bdat-sequence-cr-across-chunks",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 3\\r\\nabc"
        C: DATA
        C: RCPT TO:<c@example.org>
        C: BDAT x
        C: BDAT 1 FIRST
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 3 octets received
        S: 503 5.5.1 DATA not allowed after BDAT
        S: 503 5.5.1 RCPT not allowed after BDAT
        S: 501 5.5.4 Syntax: BDAT <size> [LAST]
        S: 501 5.5.4 Syntax: BDAT <size> [LAST]
        """,
        id="bdat-then-data",
    ),
    pytest.param(
        {"max_message_size": 10},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 6\\r\\n123456"
        R: b"BDAT 6\\r\\n7890ab"
        R: b"BDAT 4 LAST\\r\\nQUIT"
        C: NOOP
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 6 octets received
        S: 552 5.3.4 Message size exceeds fixed limit
        S: 503 5.5.1 Need MAIL command
        S: 250 2.0.0 OK
        """,
        id="bdat-too-large",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 7\\r\\nab\\ncdef"
        R: b"BDAT 2 LAST\\r\\n\\r\\n"
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 550 5.6.11 Bare CR or LF not allowed, use CRLF
        S: 503 5.5.1 Need MAIL command
        E: DataRejected(reason='bare-newline')
        """,
        id="bdat-bare-lf",
    ),
    pytest.param(
        {"chunking": False},
        """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 6 LAST\\r\\nQUIT\\r\\n"
        C: NOOP
        S: 250-mx.example.org
        S: 250-PIPELINING
        S: 250-SIZE
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250 DSN
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 502 5.5.1 Command not implemented
        S: 250 2.0.0 OK
        """,
        id="bdat-disabled",
    ),
    pytest.param(
        {},
        """
        S: 220 mx.example.org ESMTP
        A: BdatChunkEnd 451 4.3.0 Spool trouble
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 2\\r\\nab"
        R: b"BDAT 2 LAST\\r\\ncd"
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 451 4.3.0 Spool trouble
        S: 503 5.5.1 Need MAIL command
        """,
        id="bdat-chunk-refused-by-adapter",
    ),
]


@pytest.mark.parametrize(("cfg", "script"), BDAT_TRANSCRIPTS)
def test_bdat_transcript(cfg: dict[str, object], script: str) -> None:
    run(script, config(**cfg))


def test_bdat_content_is_binary_safe_and_not_unstuffed() -> None:
    script = """
        S: 220 mx.example.org ESMTP
        C: EHLO c
        C: MAIL FROM:<a@example.org>
        C: RCPT TO:<b@example.org>
        R: b"BDAT 10\\r\\n..x\\r\\n.\\r\\n\\x00\\r"
        R: b"BDAT 3 LAST\\r\\n\\n\\xff\\xfe"
        S* 250
        S: 250 2.1.0 Sender OK
        S: 250 2.1.5 Recipient OK
        S: 250 2.0.0 10 octets received
        S: 250 2.0.0 Message accepted
        E: DataChunk(data=b'..x\\r\\n.\\r\\n\\x00')
        E: BdatChunkEnd(size=10)
        E: DataChunk(data=b'\\r\\n\\xff\\xfe')
        E: DataEnd(size=13)
    """
    driver = run(script, config())
    assert driver.messages == [b"..x\r\n.\r\n\x00\r\n\xff\xfe"]
