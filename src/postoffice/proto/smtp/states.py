"""The states of an SMTP server session and its ONE transition table.

A command is a proposal; the reply commits it. The adapter's positive reply (2xx/3xx) to an
event moves the session along TRANSITIONS[state, type(event)][0], a negative one along [1].

Moves the core makes by itself, without asking the adapter:
  READY --AUTH--> AUTH (334 challenges) --"*", bad base64, overlong line--> READY
  INITIAL, READY, MAIL, RCPT --RSET--> READY (INITIAL stays INITIAL), emitting Reset
  MAIL, RCPT --EHLO/HELO--> READY, emitting Reset, then Hello as usual
  RCPT --BDAT n--> BDAT (reading exactly n octets)
  DATA, BDAT --content refused (bare CR/LF, size)--> READY, emitting DataRejected
  BDAT --negative reply to BdatChunkEnd--> READY, emitting Reset
  GREETING --greet(220)--> INITIAL;  TLS --tls_started()--> INITIAL, emitting Reset
  any --QUIT, too many errors, a 421 reply, a refusing banner, EOF--> CLOSED, emitting Closed
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from postoffice.proto.smtp.events import (
    AuthCredentials,
    BdatChunkEnd,
    DataEnd,
    DataStart,
    Event,
    Hello,
    MailFrom,
    RcptTo,
    StartTls,
    Verify,
)


class State(Enum):
    GREETING = "greeting"
    """Connected; the adapter has not sent the banner yet (early input waits)."""
    INITIAL = "initial"
    """Banner sent (or TLS just started): EHLO/HELO needed."""
    READY = "ready"
    """Greeted, no transaction."""
    AUTH = "auth"
    """A SASL exchange is in progress."""
    TLS = "tls"
    """220 to STARTTLS sent; input is discarded until tls_started()."""
    MAIL = "mail"
    """MAIL accepted, no recipient yet."""
    RCPT = "rcpt"
    """At least one RCPT accepted."""
    DATA = "data"
    """354 sent: content until CRLF.CRLF."""
    BDAT = "bdat"
    """Reading the octets of one BDAT chunk (or waiting for its reply)."""
    CLOSED = "closed"


TRANSITIONS: Final[dict[tuple[State, type[Event]], tuple[State, State]]] = {
    # (state, event awaiting its reply): (state after a positive reply, after a negative one)
    (State.INITIAL, Hello): (State.READY, State.INITIAL),
    (State.READY, Hello): (State.READY, State.READY),
    (State.READY, StartTls): (State.TLS, State.READY),
    (State.AUTH, AuthCredentials): (State.READY, State.READY),
    (State.READY, MailFrom): (State.MAIL, State.READY),
    (State.MAIL, RcptTo): (State.RCPT, State.MAIL),
    (State.RCPT, RcptTo): (State.RCPT, State.RCPT),
    (State.RCPT, DataStart): (State.DATA, State.RCPT),
    (State.DATA, DataEnd): (State.READY, State.READY),
    (State.BDAT, BdatChunkEnd): (State.RCPT, State.READY),
    (State.BDAT, DataEnd): (State.READY, State.READY),
    (State.READY, Verify): (State.READY, State.READY),
    (State.MAIL, Verify): (State.MAIL, State.MAIL),
    (State.RCPT, Verify): (State.RCPT, State.RCPT),
}

NEEDS_REPLY: Final = (
    Hello,
    StartTls,
    AuthCredentials,
    MailFrom,
    RcptTo,
    DataStart,
    BdatChunkEnd,
    DataEnd,
    Verify,
)
"""Events the adapter must answer with ServerConnection.send()."""
