"""One mail transaction of the client core: its commands (MAIL and RCPT with their ESMTP
parameters), what the replies said, and the per-recipient outcomes they add up to.

The flow (what to send when) is ClientConnection's; this module holds the data and the pure
decisions: which parameters the peer may see, what can be refused before sending anything
(bad addresses, SMTPUTF8 missing, SIZE over the peer's limit), and who gets which verdict.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from postoffice.message.envelope import Envelope, Recipient
from postoffice.proto.smtp import grammar
from postoffice.proto.smtp.client_content import ContentTraits, DotEncoder, LineEnds
from postoffice.proto.smtp.client_events import Extensions
from postoffice.proto.smtp.client_replies import describe
from postoffice.proto.smtp.client_results import (
    RecipientOutcome,
    SessionFailure,
    Stage,
    TransactionResult,
    kind_of,
)
from postoffice.proto.smtp.reply import Reply


class Awaiting(Enum):
    """What an awaited reply answers."""

    GREETING = "greeting"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    AUTH = "auth"
    RSET = "rset"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    DISCARD = "discard"
    """The "." after a 354 that came although no RCPT was accepted (RFC 2920 3.1)."""
    BDAT = "bdat"
    FINAL = "final"
    QUIT = "quit"


TRANSACTION_REPLIES = frozenset(
    {Awaiting.RSET, Awaiting.MAIL, Awaiting.RCPT, Awaiting.DATA, Awaiting.DISCARD,
     Awaiting.BDAT, Awaiting.FINAL}
)

Command = tuple[bytes, Awaiting, int]
"""A command line (without CRLF), what its reply answers, and the recipient index (RCPT)."""

_NOTIFY = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})


@dataclass
class Transaction:
    """The state of one message on its way out."""

    envelope: Envelope
    bdat: bool
    """Content goes in BDAT chunks (else DATA)."""
    outcomes: list[RecipientOutcome | None]
    """Per recipient, once decided (a refused RCPT, a bad address)."""
    pending: deque[Command] = field(default_factory=deque)
    """Commands not yet sent (without PIPELINING)."""
    outstanding: int = 0
    """Sent commands still awaiting their reply."""
    mail: Reply | None = None
    data: Reply | None = None
    accepted: list[int] = field(default_factory=list)
    decided: Reply | None = None
    """The reply that decides every accepted recipient."""
    decided_stage: Stage = "final"
    encoder: DotEncoder | None = None
    lines: LineEnds | None = None
    held: bytes | None = None
    """BDAT: the latest chunk, held back so that the last one can carry LAST."""
    ended: bool = False
    """end_content() was called."""

    @classmethod
    def start(cls, envelope: Envelope, bdat: bool) -> Transaction:
        if not envelope.recipients:
            raise ValueError("an envelope needs at least one recipient")
        return cls(envelope, bdat, [None] * len(envelope.recipients))

    @property
    def mail_refused(self) -> bool:
        return self.mail is not None and not self.mail.positive

    def local_verdict(self, ext: Extensions, traits: ContentTraits) -> SessionFailure | None:
        """A refusal of the whole message before sending anything, or None; recipients with
        unusable addresses are failed on the way."""
        envelope = self.envelope
        if not valid_path(envelope.mail_from, sender=True):
            return _local(553, "5.1.7", f"bad sender address {envelope.mail_from!r}")
        for i, rcpt in enumerate(envelope.recipients):
            if not valid_path(rcpt.address, sender=False):
                reply = Reply(553, "5.1.3", f"bad recipient address {rcpt.address!r}")
                self.outcomes[i] = RecipientOutcome(
                    rcpt.address, "failed", reply, reply.text, "local", remote=False
                )
        if all(o is not None for o in self.outcomes):
            return _local(553, "5.1.3", "no valid recipient address")
        if needs_smtputf8(envelope, traits) and not ext.smtputf8:
            return _local(554, "5.6.7", "peer lacks SMTPUTF8, which the message needs (RFC 6531)")
        if ext.size and traits.size is not None and traits.size > ext.size:
            why = f"message size {traits.size} exceeds the peer's limit {ext.size}"
            return _local(552, "5.3.4", why)
        return None

    def envelope_commands(self, ext: Extensions, traits: ContentTraits) -> list[Command]:
        """MAIL and an RCPT per recipient not decided yet."""
        commands = [(mail_command(self.envelope, ext, traits).encode(), Awaiting.MAIL, 0)]
        for i, rcpt in enumerate(self.envelope.recipients):
            if self.outcomes[i] is None:
                commands.append((rcpt_command(rcpt, ext).encode(), Awaiting.RCPT, i))
        return commands

    def record(self, what: Awaiting, index: int, reply: Reply) -> None:
        """Note the reply to MAIL, RCPT, DATA, a BDAT chunk or the end of the content."""
        if what is Awaiting.MAIL:
            self.mail = reply
        elif what is Awaiting.RCPT and self.mail is not None and self.mail.positive:
            if reply.positive:
                self.accepted.append(index)
            else:
                address = self.envelope.recipients[index].address
                self.outcomes[index] = RecipientOutcome(
                    address, kind_of(reply), reply, describe("rcpt", reply), "rcpt"
                )
        elif what is Awaiting.DATA:
            self.data = reply
        elif what in (Awaiting.BDAT, Awaiting.FINAL) and self.decided is None:
            if what is Awaiting.FINAL or not reply.positive:
                self.decided = reply
                self.decided_stage = "final" if what is Awaiting.FINAL else "content"

    def result(
        self, failure: SessionFailure | None, *, stage: Stage = "mail", remote: bool = True,
        reason: str = "",
    ) -> TransactionResult:
        """Everyone's outcome: their own verdict, else the refused MAIL's, else the reply to
        the content (accepted recipients), else `failure` (the session broke)."""
        mail = self.mail
        outcomes = []
        for i, rcpt in enumerate(self.envelope.recipients):
            outcome = self.outcomes[i]
            if outcome is None:
                if mail is not None and not mail.positive:
                    why = reason or describe("mail", mail)
                    outcome = RecipientOutcome(rcpt.address, kind_of(mail), mail, why, stage, remote)
                elif self.decided is not None and i in self.accepted:
                    d, st = self.decided, self.decided_stage
                    outcome = RecipientOutcome(rcpt.address, kind_of(d), d, describe(st, d), st)
                elif failure is not None:
                    outcome = failure.outcome(rcpt.address)
                else:  # cannot happen: the paths above decide everyone
                    lost = _local(451, "4.5.0", "transaction ended without a verdict")
                    outcome = lost.outcome(rcpt.address)
            outcomes.append(outcome)
        if self.decided is not None:
            final = self.decided
        elif mail is not None and not mail.positive:
            final = mail
        elif failure is not None:
            final = failure.reply
        else:
            final = next(o.reply for o in outcomes if not o.reply.positive)
        return TransactionResult(tuple(outcomes), final)


def _local(code: int, status: str, reason: str) -> SessionFailure:
    return SessionFailure.local(code, status, reason, "local")


def needs_smtputf8(envelope: Envelope, traits: ContentTraits) -> bool:
    """Non-ASCII in an address or in the header section (RFC 6531/6532)."""
    addresses = [envelope.mail_from, *(r.address for r in envelope.recipients)]
    return traits.utf8_headers or not all(a.isascii() for a in addresses)


def mail_command(envelope: Envelope, ext: Extensions, traits: ContentTraits) -> str:
    """MAIL FROM with the parameters the peer offers and the message needs."""
    params = []
    if ext.esmtp:
        if ext.size is not None and traits.size is not None:
            params.append(f"SIZE={traits.size}")
        if traits.eight_bit and ext.eightbitmime:
            params.append("BODY=8BITMIME")
        if needs_smtputf8(envelope, traits):
            params.append("SMTPUTF8")
        if ext.dsn and envelope.ret and envelope.ret.upper() in ("FULL", "HDRS"):
            params.append(f"RET={envelope.ret.upper()}")
        if ext.dsn and envelope.envid:
            params.append(f"ENVID={grammar.xtext_encode(envelope.envid)}")
    return " ".join([f"MAIL FROM:<{envelope.mail_from}>", *params])


def rcpt_command(rcpt: Recipient, ext: Extensions) -> str:
    """RCPT TO, with NOTIFY and ORCPT when the peer offers DSN."""
    params = []
    if ext.dsn:
        notify = [n.upper() for n in rcpt.notify]
        if notify and all(n in _NOTIFY for n in notify):
            params.append("NOTIFY=" + ",".join(notify))
        orcpt = _orcpt(rcpt.orcpt)
        if orcpt:
            params.append(f"ORCPT={orcpt}")
    return " ".join([f"RCPT TO:<{rcpt.address}>", *params])


def _orcpt(value: str | None) -> str | None:
    """ORCPT as stored ("rfc822;" + xtext), re-encoded when its address is not valid xtext;
    None when unusable."""
    addr_type, semi, address = (value or "").partition(";")
    if not semi or not address or not addr_type.isascii() or not addr_type.isalnum():
        return None
    try:
        grammar.xtext_decode(address)
    except ValueError:
        address = grammar.xtext_encode(address)
    return f"{addr_type};{address}"


def valid_path(address: str, *, sender: bool) -> bool:
    """The address makes a valid MAIL/RCPT path: no CR/LF, no "<" tricks, never a second
    command smuggled into ours."""
    if sender and address == "":
        return True
    try:
        _, rest = grammar.parse_path(f"<{address}>", postmaster_ok=not sender)
    except ValueError:
        return False
    return rest == ""
