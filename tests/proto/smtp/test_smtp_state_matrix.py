"""Every command in every command state: the first reply line and the state afterwards."""

from __future__ import annotations

import base64

import pytest
from smtp_transcript import Driver, config

from postoffice.proto.smtp.server import State

PLAIN_OK = base64.b64encode(b"\0user\0secret").decode()

PREFIX = {
    "initial": b"",
    "ready": b"EHLO c\r\n",
    "helo": b"HELO c\r\n",
    "mail": b"EHLO c\r\nMAIL FROM:<a@example.org>\r\n",
    "rcpt": b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n",
    "chunked": b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 2\r\nab",
}
COLUMNS = ("initial", "ready", "helo", "mail", "rcpt", "chunked")
IN, RD, M, RC, D, T, C = (State.INITIAL, State.READY, State.MAIL, State.RCPT, State.DATA,
                          State.TLS, State.CLOSED)  # fmt: skip
SAME = None  # the state does not change

S503 = ("503 5.5.1", SAME)
MATRIX: dict[str, tuple[tuple[str, State | None], ...]] = {
    # command:               initial      ready                 helo                  mail                  rcpt                  chunked
    "EHLO x": (("250-", RD), ("250-", RD), ("250-", RD), ("250-", RD), ("250-", RD), ("250-", RD)),
    "HELO x": (
        ("250 mx", RD),
        ("250 mx", RD),
        ("250 mx", RD),
        ("250 mx", RD),
        ("250 mx", RD),
        ("250 mx", RD),
    ),
    "MAIL FROM:<m@example.org>": (S503, ("250 2.1.0", M), ("250 2.1.0", M), S503, S503, S503),
    "RCPT TO:<r@example.org>": (S503, S503, S503, ("250 2.1.5", RC), ("250 2.1.5", RC), S503),
    "DATA": (S503, S503, S503, ("554 5.5.1", SAME), ("354", D), S503),
    "BDAT 0 LAST": (S503, S503, S503, S503, ("250 2.0.0", RD), ("250 2.0.0", RD)),
    "RSET": (
        ("250 2.0.0", IN),
        ("250 2.0.0", RD),
        ("250 2.0.0", RD),
        ("250 2.0.0", RD),
        ("250 2.0.0", RD),
        ("250 2.0.0", RD),
    ),
    "NOOP": (("250 2.0.0", SAME),) * 6,
    "HELP": (("214 2.0.0", SAME),) * 6,
    "QUIT": (("221 2.0.0", C),) * 6,
    "VRFY x": (("252 2.5.2", SAME),) * 6,  # RFC 5321 4.1.4: allowed before EHLO too
    "STARTTLS": (S503, ("220 2.0.0", T), ("220 2.0.0", T), S503, S503, S503),
    f"AUTH PLAIN {PLAIN_OK}": (S503, ("235 2.7.0", RD), ("235 2.7.0", RD), S503, S503, S503),
    "EXPN x": (("502 5.5.1", SAME),) * 6,
    "XYZZY": (("500 5.5.1", SAME),) * 6,
}


@pytest.mark.parametrize(
    ("column", "command", "expected"),
    [
        pytest.param(column, command, row[i], id=f"{column}-{command.split()[0]}")
        for command, row in MATRIX.items()
        for i, column in enumerate(COLUMNS)
    ],
)
def test_command_in_state(column: str, command: str, expected: tuple[str, State | None]) -> None:
    driver = Driver(config(tls_available=True, auth_requires_tls=False))
    driver.feed(PREFIX[column])
    before_state, before = driver.conn.state, len(driver.output)
    assert before_state is not State.CLOSED
    driver.feed(command.encode() + b"\r\n")
    first = driver.output[before:].split(b"\r\n")[0].decode()
    reply, state = expected
    assert first.startswith(reply), (first, reply)
    assert driver.conn.state is (before_state if state is None else state)


def test_every_state_and_command_is_covered() -> None:
    assert all(len(row) == len(COLUMNS) for row in MATRIX.values())
