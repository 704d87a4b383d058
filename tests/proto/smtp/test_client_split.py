"""Property: however the server's replies are cut into packets (inside a line, between CR and
LF, inside a multi-line reply ...), the client core emits the same events, writes the same
bytes and reaches the same per-recipient outcomes.

The server's bytes are fed only when the core asks for them (NEED_DATA), as a real socket
would deliver them. The TLS handshake is a hard boundary (bytes before it are discarded by
design), so a scenario is a list of segments and cuts fall inside segments.
"""

from __future__ import annotations

from collections import deque

from client_transcript import ClientDriver, Message, cconfig, envelope
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.message.envelope import Recipient
from postoffice.proto.smtp.client import ClientConfig
from postoffice.proto.smtp.client_events import UpgradeTls

MSG = b"Subject: split\r\n\r\n.leading dot\r\nbare\nlf\r\n" * 3


def lines(*replies: str) -> bytes:
    return "".join(r + "\r\n" for r in replies).encode()


Scenario = tuple[ClientConfig, list[Message], list[bytes], int]

SCENARIOS: list[Scenario] = [
    (  # PIPELINING, DATA, mixed RCPT verdicts, two messages, multi-line replies
        cconfig(),
        [
            (envelope("a@x.net", "b@x.net", "c@x.net", ret="HDRS"), MSG),
            (envelope(Recipient("d@x.net", notify=("DELAY",))), MSG),
        ],
        [
            lines(
                "220-mx.example.org ESMTP",
                "220 second greeting line",
                "250-mx.example.org",
                "250-PIPELINING",
                "250-SIZE 100000",
                "250-DSN",
                "250 ENHANCEDSTATUSCODES",
                "250 2.1.0 ok",
                "250 2.1.5 ok",
                "450 4.2.1 busy",
                "550-5.1.1 no such",
                "550 5.1.1 user here",
                "354 go",
                "250 2.0.0 queued",
                "250 2.1.0 ok",
                "250 2.1.5 ok",
                "354 go",
                "451 4.3.0 try later",
                "221 2.0.0 bye",
            )
        ],
        1 << 16,
    ),
    (  # CHUNKING without PIPELINING: one BDAT per reply; a refused chunk; RSET
        cconfig(),
        [(envelope("a@x.net"), MSG), (envelope("b@x.net"), MSG)],
        [
            lines(
                "220 mx",
                "250-mx",
                "250 CHUNKING",
                "250 ok",
                "250 ok",
                "250 2.0.0 chunk ok",
                "552 5.3.4 too big",
                "250 reset",
                "250 ok",
                "250 ok",
                "250 chunk",
                "250 chunk",
                "250 chunk",
                "250 2.0.0 queued",
                "221 bye",
            )
        ],
        40,
    ),
    (  # CHUNKING with PIPELINING: BDAT chunks in flight
        cconfig(bdat_window=3),
        [(envelope("a@x.net", "b@x.net"), MSG)],
        [lines("220 mx", "250-mx", "250-PIPELINING", "250 CHUNKING", "250 ok", "250 ok",
               "250 ok", *["250 chunk"] * 4, "250 queued", "221 bye")],
        30,
    ),
    (  # STARTTLS, AUTH LOGIN, a 421 mid-transaction
        cconfig(tls="required", auth=("user", "secret"), auth_mechanisms=("LOGIN",)),
        [(envelope("a@x.net", "b@x.net"), MSG)],
        [
            lines("220 smarthost", "250-smarthost", "250 STARTTLS", "220 go ahead"),
            lines(
                "250-smarthost",
                "250-PIPELINING",
                "250 AUTH PLAIN LOGIN",
                "334 VXNlcm5hbWU6",
                "334 UGFzc3dvcmQ6",
                "235 2.7.0 ok",
                "250 ok",
                "250 ok",
                "421 4.3.2 shutting down",
            ),
        ],
        1 << 16,
    ),
]


def converse(scenario: Scenario, cuts: list[list[int]]) -> tuple[list[str], bytes, list[str]]:
    config, messages, segments, chunk = scenario
    pieces: deque[bytes] = deque()
    driver = ClientDriver(config, messages, chunk=chunk)
    driver.drive()
    for segment, points in zip(segments, cuts, strict=True):
        marks = sorted({p % (len(segment) + 1) for p in points})
        pieces.extend(segment[a:b] for a, b in zip([0, *marks], [*marks, len(segment)], strict=True))
        while pieces and driver.closed is None:
            piece = pieces.popleft()
            new = driver.feed(piece)
            if any(isinstance(e, UpgradeTls) for e in new):
                break  # the next segment starts after the handshake
    if driver.closed is None:
        driver.eof()
    outcomes = [f"{o.address}:{o.kind}:{o.reply.code}:{o.stage}" for r in driver.results
                for o in r.outcomes]
    return [repr(e) for e in driver.events], driver.output, outcomes


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, len(SCENARIOS) - 1),
    cuts=st.lists(st.lists(st.integers(0, 10_000), max_size=25), min_size=2, max_size=2),
)
def test_split_replies_give_the_same_session(index: int, cuts: list[list[int]]) -> None:
    scenario = SCENARIOS[index]
    cuts = cuts[: len(scenario[2])]
    whole = converse(scenario, [[] for _ in scenario[2]])
    assert converse(scenario, cuts) == whole


def test_byte_by_byte_gives_the_same_session() -> None:
    for scenario in SCENARIOS:
        whole = converse(scenario, [[] for _ in scenario[2]])
        every = converse(scenario, [list(range(len(s))) for s in scenario[2]])
        assert every == whole
        assert whole[2], "every scenario reaches outcomes"


def test_scenarios_reach_the_outcomes_they_are_meant_to() -> None:
    outcomes = [converse(s, [[] for _ in s[2]])[2] for s in SCENARIOS]
    assert outcomes[0] == [
        "a@x.net:delivered:250:final", "b@x.net:deferred:450:rcpt",
        "c@x.net:failed:550:rcpt", "d@x.net:deferred:451:final",
    ]
    assert outcomes[1] == ["a@x.net:failed:552:content", "b@x.net:delivered:250:final"]
    assert outcomes[2] == ["a@x.net:delivered:250:final", "b@x.net:delivered:250:final"]
    assert outcomes[3] == ["a@x.net:deferred:421:rcpt", "b@x.net:deferred:421:rcpt"]
