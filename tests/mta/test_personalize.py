"""Per-recipient content: which messages get it, and the tracking rewrite for one recipient."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from postoffice.config import Config, ServerSettings, TrackingSettings, UnsubscribeSettings
from postoffice.mta.personalize import (
    Personalizer,
    TrackingLinks,
    _hostname,
    needs_per_recipient_content,
)
from postoffice.policy.tracking import decode, tracking_secret
from postoffice.storage.interfaces import QueueItem, StoredMessage

MESSAGE = StoredMessage("01J9ZQ3V5W6X7Y8Z9A0B1C2D3E", "b" * 64, 10, 0.0, "api",
                        "shop@example.test", "127.0.0.1", "mail", None)
CONTENT = (b"From: shop@example.test\r\nContent-Type: text/html\r\n\r\n"
           b'<a href="https://shop.example/">a</a><a href="https://mail.example.test/u/x">u</a>'
           b'<a href="https://shop.example/unsubscribe?id=1">u</a></body>\r\n')


def item(item_id: int) -> QueueItem:
    return QueueItem(item_id, MESSAGE.id, "ann@far.example", (), None, "bulk", "queued", 0, 0.0,
                     0.0, None, MESSAGE.mail_from, 10)


def links() -> TrackingLinks:
    config = Config(data_dir=Path("/nonexistent"),
                    server=ServerSettings(hostname="mail.example.test"),
                    tracking=TrackingSettings(host="t.example.test:8443"),
                    unsubscribe=UnsubscribeSettings(host="u.example.test"))
    return TrackingLinks.from_config(config, b"k" * 32)


def test_only_tracked_messages_need_content_per_recipient() -> None:
    assert not needs_per_recipient_content(MESSAGE)
    assert needs_per_recipient_content(dataclasses.replace(MESSAGE, track_opens=True))
    assert needs_per_recipient_content(dataclasses.replace(MESSAGE, track_clicks=True))


def test_untracked_content_is_the_same_object() -> None:
    assert Personalizer(links()).content(MESSAGE, item(1), CONTENT) is CONTENT
    tracked = dataclasses.replace(MESSAGE, track_opens=True, track_clicks=True)
    assert Personalizer(None).content(tracked, item(1), CONTENT) is CONTENT


def test_links_and_pixel_per_recipient() -> None:
    tracking = links()
    assert tracking.base == "https://t.example.test:8443"
    assert tracking.own_hosts == {"t.example.test", "u.example.test", "mail.example.test"}
    message = dataclasses.replace(MESSAGE, track_opens=True, track_clicks=True)
    one = Personalizer(tracking).content(message, item(1), CONTENT)
    two = Personalizer(tracking).content(message, item(2), CONTENT)
    assert one != two
    head, _, html = one.partition(b"\r\n\r\n")
    assert head + b"\r\n\r\n" == CONTENT[:len(head) + 4]
    # our own links and unsubscribe links stay; the shop's is rewritten
    assert b'"https://mail.example.test/u/x"' in html
    assert b'"https://shop.example/unsubscribe?id=1"' in html
    click = html.split(b'href="https://t.example.test:8443/t/c/')[1].split(b'"')[0].decode()
    assert decode(click, b"k" * 32) is None  # signed with the derived secret, not the key
    token = decode(click, tracking_secret(b"k" * 32))
    assert token is not None and (token.item, token.url) == (1, "https://shop.example/")
    assert html.endswith(b'width="1" height="1" alt=""></body>\r\n')
    opens_only = Personalizer(tracking).content(
        dataclasses.replace(MESSAGE, track_opens=True), item(1), CONTENT)
    assert b'href="https://shop.example/"' in opens_only and b"/t/o/" in opens_only
    clicks_only = Personalizer(tracking).content(
        dataclasses.replace(MESSAGE, track_clicks=True), item(1), CONTENT)
    assert b"/t/c/" in clicks_only and b"/t/o/" not in clicks_only


def test_hostname() -> None:
    assert _hostname("Mail.Example:8025") == "mail.example"
    assert _hostname("[::1]:8025") == "::1"
    assert _hostname("mail.example") == "mail.example"
