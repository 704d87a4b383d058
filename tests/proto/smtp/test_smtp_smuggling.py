"""SMTP smuggling (2023-2025 research): every published end-of-data sequence, from
`<conformance>/smtp-smuggling/eod-sequences.json` (read in place, never copied here).

What "not vulnerable" means for a receiver
------------------------------------------
Smuggling needs two servers that disagree on where a message ends: the sender's outbound
server sees one message whose body contains, say, "\\n.\\n" followed by "MAIL FROM:<ceo@...>";
a receiver that ends DATA at "\\n.\\n" runs the rest as a second, spoofed transaction. So:

1. The core ends DATA at the first CRLF "." CRLF of the stream and nowhere else. Checked by
   comparing with an independent reference decoder: the first transaction's content (or its
   refusal) is exactly what precedes that point.
2. With bare_newline="reject", content with a bare CR or LF is refused (550 5.6.11) as one
   transaction; with "normalize", exactly one message is accepted and its body still carries
   the smuggled text. Either way no second transaction starts inside the message.
3. When the injected bytes do contain a genuine CRLF.CRLF (`\\x00\\r\\n.\\r\\n`, or `\\r\\n.` right
   after the template's own CRLF), the first message rightly ends there, and what follows
   is parsed as ordinary commands of the SAME session, exactly as if the client had sent
   them to a fresh session after EHLO. That is no vulnerability: every outbound server
   agrees on that boundary, so the "smuggled" transaction is simply the client's own second
   transaction, subject to the same authentication and policy checks as the first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from smtp_transcript import Driver, config, reference_data
from test_smtp_split import normalise

from postoffice.proto.smtp import events as ev


def conformance_dir() -> Path:
    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


DATA_FILE = conformance_dir() / "smtp-smuggling" / "eod-sequences.json"
pytestmark = pytest.mark.skipif(not DATA_FILE.exists(), reason=f"{DATA_FILE} not found")


def load() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text()) if DATA_FILE.exists() else {"sequences": []}


DATA = load()
SEQUENCES = DATA["sequences"]
SENDER, RECEIVER, SMUGGLED = "alice@sender.example", "bob@receiver.example", "ceo@sender.example"


def template() -> bytes:
    (key,) = [k for k in DATA if k.startswith("message_template")]
    text: str = DATA[key]
    values = {
        "sender_address": SENDER,
        "receiver_address": RECEIVER,
        "sender_address_smuggled": SMUGGLED,
        "mail_date": "Mon, 1 Jan 2024 00:00:00 +0000",
        "message_id": "<1@sender.example>",
        "message_id2": "<2@sender.example>",
    }
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    assert set(re.findall(r"\{(\w+)\}", text)) == {"eod_sequence_string", "inject"}
    return text.encode()


def payload(sequence: dict[str, Any], wrapped: bool) -> bytes:
    """The bytes a smuggling client writes after the 354 (the template ends with CRLF.CRLF)."""
    text = template().replace(b"{eod_sequence_string}", sequence["repr"].encode())
    if not wrapped:  # "also worth sending each sequence without the surrounding CRLFs"
        assert text.count(b"\r\n{inject}\r\n") == 1
        text = text.replace(b"\r\n{inject}\r\n", b"{inject}")
    return text.replace(b"{inject}", bytes.fromhex(sequence["bytes_hex"]))


def test_data_file_is_as_documented() -> None:
    assert "vulnerable" in DATA["_about"] and "_fix_eols" in DATA["template_note"]
    assert len(SEQUENCES) >= 20
    for sequence in SEQUENCES:
        raw = bytes.fromhex(sequence["bytes_hex"])
        assert (b"\r\n.\r\n" in raw) == sequence["contains_rfc5321_terminator"], sequence["repr"]
    assert template().endswith(b"\r\n.\r\n")


HEAD = f"EHLO attacker.example\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<{RECEIVER}>\r\nDATA\r\n"
CASES = [
    pytest.param(
        seq, wrapped, policy, id=f"{seq['bytes_hex']}-{'crlf' if wrapped else 'bare'}-{policy}"
    )
    for seq in SEQUENCES
    for wrapped in (True, False)
    for policy in ("reject", "normalize")
]


@pytest.mark.parametrize(("sequence", "wrapped", "policy"), CASES)
def test_eod_sequence(sequence: dict[str, Any], wrapped: bool, policy: str) -> None:
    body = payload(sequence, wrapped)
    stream = body + b"QUIT\r\n"
    expected = reference_data(stream, normalize=policy == "normalize")
    assert expected is not None
    content, error, rest = expected
    cfg = config(bare_newline=policy)

    # Whole, and byte by byte: the verdict must not depend on packet boundaries.
    for pieces in ([stream], [bytes([b]) for b in stream]):
        driver = Driver(cfg)
        driver.feed(HEAD.encode())
        start = len(driver.events)
        driver.feed_pieces(pieces)
        events = normalise(driver.events[start:])
        first_end = next(
            i for i, e in enumerate(events) if isinstance(e, ev.DataEnd | ev.DataRejected)
        )
        # (1) the first transaction ends exactly where the reference says
        if error is None:
            assert events[:first_end] == ([ev.DataChunk(content)] if content else [])
            assert events[first_end] == ev.DataEnd(len(content))
            assert driver.messages[0] == content
        else:
            assert events[first_end] == ev.DataRejected(error)
            assert error == "bare-newline" and policy == "reject"

        if rest == b"QUIT\r\n":
            # (2) no genuine terminator inside: one transaction, smuggled text stays content
            assert events[first_end + 1 :] == [ev.Closed("quit")]
            assert not any(isinstance(e, ev.MailFrom) for e in events)
            if error is None:
                assert f"MAIL FROM:<{SMUGGLED}>".lower().encode() in content.lower()
                assert b"SMUGGLED EMAIL" in content
            assert len(driver.messages) == (0 if error else 1)
        else:
            # (3) a genuine CRLF.CRLF inside: the rest is the same client's next commands,
            # handled exactly as a fresh session would handle them after EHLO.
            assert b"SMUGGLED EMAIL" not in content
            fresh = Driver(cfg)
            fresh.feed(b"EHLO attacker.example\r\n")
            fresh_start, fresh_out = len(fresh.events), len(fresh.output)
            fresh.feed(rest)
            assert events[first_end + 1 :] == normalise(fresh.events[fresh_start:])
            out_after = driver.output.split(b"\r\n354 End data with <CR><LF>.<CR><LF>\r\n", 1)[1]
            assert out_after.split(b"\r\n", 1)[1] == fresh.output[fresh_out:]


def test_known_sequences_behave_as_published() -> None:
    """Spot checks that the generic test above really covers both outcomes."""
    by_hex = {s["bytes_hex"]: s for s in SEQUENCES}
    lf_dot_lf = payload(by_hex["0a2e0a"], wrapped=True)
    rejected = Driver(config())
    rejected.feed(HEAD.encode() + lf_dot_lf + b"QUIT\r\n")
    assert rejected.lines[-2:] == [
        "550 5.6.11 Bare CR or LF not allowed, use CRLF",
        "221 2.0.0 Bye",
    ]
    normalized = Driver(config(bare_newline="normalize"))
    normalized.feed(HEAD.encode() + lf_dot_lf + b"QUIT\r\n")
    assert len(normalized.messages) == 1 and b"SMUGGLED EMAIL" in normalized.messages[0]
    # "\r\n." directly after the template's CRLF is a real end of data: two transactions
    genuine = Driver(config())
    genuine.feed(HEAD.encode() + payload(by_hex["0d0a2e"], wrapped=True) + b"QUIT\r\n")
    smuggled = [e for e in genuine.events if isinstance(e, ev.MailFrom)][1:]
    assert smuggled == [ev.MailFrom(SMUGGLED, {})]
    assert len(genuine.messages) == 2
