"""What an outbound SMTP transaction achieved, per recipient (used by the client core and the
delivery engine).

Every recipient of a transaction gets exactly one `RecipientOutcome`: "delivered" after the
peer's final 2xx, "deferred" after a 4xx (or a temporary local failure: connection, timeout,
TLS, protocol), "failed" after a 5xx (or a permanent local verdict such as "5.6.7 peer lacks
SMTPUTF8"). The reply that decided it is kept; replies we synthesise locally say so with
`remote=False`, so a DSN can tell "the peer said" from "we could not reach the peer".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from postoffice.proto.smtp.reply import Reply

Kind = Literal["delivered", "deferred", "failed"]

Stage = Literal[
    "connect",
    "greeting",
    "ehlo",
    "starttls",
    "tls",
    "auth",
    "rset",
    "mail",
    "rcpt",
    "data",
    "content",
    "final",
    "idle",
    "quit",
    "local",
]
"""Where in the session a reply or failure happened ("local": decided before sending anything)."""


def kind_of(reply: Reply) -> Kind:
    """2xx/3xx: delivered, 4xx: deferred, 5xx: failed."""
    if reply.code < 400:
        return "delivered"
    return "deferred" if reply.code < 500 else "failed"


@dataclass(frozen=True)
class RecipientOutcome:
    """The fate of one recipient in one transaction."""

    address: str
    """The forward path as given in the envelope."""
    kind: Kind
    """delivered, deferred (retry later) or failed (bounce)."""
    reply: Reply
    """The reply that decided it: the peer's, or one synthesised locally (`remote=False`)."""
    reason: str
    """One human-readable line, e.g. "recipient refused: 550 5.1.1 No such user"."""
    stage: Stage = "final"
    """Where it was decided: "rcpt" for a refused RCPT, "final" for the reply to the content..."""
    remote: bool = True
    """True when `reply` came from the peer, False when we made it up (timeouts, TLS ...)."""

    @property
    def status(self) -> str:
        """The enhanced status code; "4.0.0"/"5.0.0"/"2.0.0" when the peer gave none."""
        return self.reply.status or f"{self.reply.code // 100}.0.0"


@dataclass(frozen=True)
class TransactionResult:
    """The outcome of one message sent over one session: one `RecipientOutcome` per recipient,
    in envelope order."""

    outcomes: tuple[RecipientOutcome, ...]
    reply: Reply
    """The reply that ended the transaction: the final reply to the content, or the refusal of
    MAIL/DATA, or the failure that cut the session."""

    @property
    def delivered(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.kind == "delivered")

    @property
    def deferred(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.kind == "deferred")

    @property
    def failed(self) -> tuple[RecipientOutcome, ...]:
        return tuple(o for o in self.outcomes if o.kind == "failed")

    @property
    def all_delivered(self) -> bool:
        return all(o.kind == "delivered" for o in self.outcomes)

    def outcome(self, address: str) -> RecipientOutcome:
        """The outcome of the first recipient with this address; KeyError if none."""
        for o in self.outcomes:
            if o.address == address:
                return o
        raise KeyError(address)


@dataclass(frozen=True)
class SessionFailure:
    """Why a session cannot be used (any more): every recipient not yet decided gets this."""

    reply: Reply
    """The peer's reply (421, a refused greeting ...) or a synthesised one (`remote=False`)."""
    reason: str
    """One human-readable line: "connection refused by 192.0.2.1:25", "TLS required but ..."."""
    stage: Stage
    kind: Kind
    """deferred or failed (a failed session never makes a recipient delivered)."""
    remote: bool = True

    def outcome(self, address: str) -> RecipientOutcome:
        return RecipientOutcome(address, self.kind, self.reply, self.reason, self.stage, self.remote)

    @classmethod
    def local(cls, code: int, status: str, reason: str, stage: Stage) -> SessionFailure:
        """A failure we noticed ourselves (timeout, connection lost, TLS ...)."""
        kind: Kind = "deferred" if code < 500 else "failed"
        return cls(Reply(code, status, reason), reason, stage, kind, remote=False)
