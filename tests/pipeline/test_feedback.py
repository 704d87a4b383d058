"""The feedback service over a real store: which message and recipient a report is about,
and which reports are not believed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import FeedbackSettings
from postoffice.message.envelope import Recipient
from postoffice.pipeline.feedback import Feedback
from postoffice.policy.verp import VerpToken
from postoffice.storage import Store, open_store
from postoffice.storage.interfaces import Acceptance, StoredMessage
from postoffice.storage.suppressions import SuppressionQuery

DSN = (b"From: MAILER-DAEMON@far.example\r\nSubject: failure\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
       b"--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n\r\n"
       b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; far.example\r\n"
       b"\r\nFinal-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n"
       b"Diagnostic-Code: smtp; %s\r\n\r\n"
       b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: shop@example.test\r\n"
       b"Message-ID: <m1@example.test>\r\n\r\n--B--\r\n")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(tmp_path / "data")
    s.add_domain("example.test")
    yield s
    s.close()


def accept(store: Store, recipients: tuple[str, ...]) -> str:
    writer = store.blobs.writer()
    writer.write(b"Subject: x\r\n\r\nx\r\n")
    pending = writer.finish()
    message = StoredMessage(
        id="01J0000000000000000000000A", blob=pending.digest, size=pending.size,
        received_at=time.time(), source="api", mail_from="shop@example.test",
        client_ip="127.0.0.1", helo="h", auth_identity=None, header_id="<m1@example.test>")
    store.accept([(pending, Acceptance(message, (), tuple(Recipient(r) for r in recipients),
                                       "transactional", "default"))])
    return message.id


def service(store: Store) -> Feedback:
    async def call(method: str, *args: object) -> object:
        return getattr(store, method)(*args)
    return Feedback(FeedbackSettings(), call=call, clock=SYSTEM_CLOCK)


def dsn(rcpt: str, action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "550 5.1.1 user unknown") -> bytes:
    return DSN % (rcpt.encode(), action.encode(), status.encode(), diagnostic.encode())


def reasons(store: Store) -> dict[str, str]:
    return {s.address: s.reason for s in store.list_suppressions("default", SuppressionQuery())}


def test_a_bounce_to_the_sender_is_matched_by_message_id(store: Store) -> None:
    accept(store, ("ann@far.example", "bob@far.example"))
    count = asyncio.run(service(store).received(
        dsn("bob@far.example"), tokens=(), local=("shop@example.test",), to_complaints=False))
    assert count == 1 and reasons(store) == {"bob@far.example": "hard_bounce"}


def test_a_bounce_found_by_message_id_alone_must_go_to_the_sender(store: Store) -> None:
    accept(store, ("ann@far.example", "bob@far.example"))
    count = asyncio.run(service(store).received(
        dsn("bob@far.example"), tokens=(), local=("ann@example.test",), to_complaints=False))
    assert count == 0 and reasons(store) == {}


def test_a_return_path_names_the_recipient_a_report_does_not(store: Store) -> None:
    message_id = accept(store, ("ann@far.example",))
    (item,) = [i.id for i in store.list_queue()]
    count = asyncio.run(service(store).received(
        dsn("forwarded@elsewhere.example", status="5.2.2", diagnostic="552 5.2.2 mailbox full"),
        tokens=(VerpToken(item, message_id),), local=(), to_complaints=False))
    assert count == 1 and reasons(store) == {}  # soft: counted, not yet suppressed
    (event,) = [e for e in store.message_events("default", message_id) if e.type == "bounced"]
    assert (event.recipient, event.reason, event.bounce) == ("ann@far.example",
                                                             "mailbox_full", "soft")


def test_a_delay_notice_is_a_deferred_event(store: Store) -> None:
    message_id = accept(store, ("ann@far.example",))
    (item,) = [i.id for i in store.list_queue()]
    asyncio.run(service(store).received(
        dsn("ann@far.example", "delayed", "4.4.1", "connection timed out"),
        tokens=(VerpToken(item, message_id),), local=(), to_complaints=False))
    kinds = [e.type for e in store.message_events("default", message_id)]
    assert kinds[-1] == "deferred" and reasons(store) == {}


def test_anything_else_is_ignored(store: Store) -> None:
    accept(store, ("ann@far.example",))
    count = asyncio.run(service(store).received(
        b"From: ann@far.example\r\nSubject: thanks\r\n\r\nhi\r\n", tokens=(),
        local=("shop@example.test",), to_complaints=True))
    assert count == 0


def test_the_default_complaints_address() -> None:
    async def call(method: str, *args: object) -> object:
        assert method == "list_domains"
        return [type("D", (), {"name": "example.test"})()]
    feedback = Feedback(FeedbackSettings(), call=call, clock=SYSTEM_CLOCK)
    assert asyncio.run(feedback.is_complaints_address("FBL@example.test"))
    assert not asyncio.run(feedback.is_complaints_address("fbl@other.example"))
    configured = Feedback(FeedbackSettings(complaints_address="abuse-reports@example.test"),
                          call=call, clock=SYSTEM_CLOCK)
    assert asyncio.run(configured.complaints_address()) == "abuse-reports@example.test"
