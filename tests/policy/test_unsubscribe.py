"""Unsubscribe tokens, fields and rules (policy/unsubscribe.py): pure."""

from __future__ import annotations

import base64
import re

import pytest

from postoffice.policy import unsubscribe as u
from postoffice.policy.unsubscribe import UnsubscribeToken

KEY = u.derive_key(b"i" * 32)
MESSAGE_ID = "01J9ZQ3V8K7M2N4P6R8T0W2Y4A"
TOKEN = UnsubscribeToken("acme", "Ann@Example.net", "news", MESSAGE_ID)


def test_round_trip() -> None:
    text = u.encode(TOKEN, KEY)
    assert re.fullmatch(r"[a-z2-7]+", text)  # URL path segment and dot-atom alike
    assert u.decode(text, KEY) == TOKEN
    assert u.decode(text.upper(), KEY) == TOKEN  # a relay that folds case
    every = UnsubscribeToken("t", "b@x.example", "", MESSAGE_ID, every_category=True)
    assert u.decode(u.encode(every, KEY), KEY) == every
    assert every.scope == "" and TOKEN.scope == "news"
    wide = UnsubscribeToken("tenant-ü", "ü@bücher.example", "a.b:c", MESSAGE_ID)
    assert u.decode(u.encode(wide, KEY), KEY) == wide


def test_tokens_differ_per_recipient_and_are_unguessable() -> None:
    other = UnsubscribeToken("acme", "bob@example.net", "news", MESSAGE_ID)
    assert u.encode(TOKEN, KEY) != u.encode(other, KEY)
    assert u.encode(TOKEN, KEY) != u.encode(TOKEN, u.derive_key(b"j" * 32))
    assert u.derive_key(b"i" * 32) != b"i" * 32  # not the install key itself


def test_tampering_is_refused() -> None:
    text = u.encode(TOKEN, KEY)
    for i in range(len(text)):
        flipped = text[:i] + ("a" if text[i] != "a" else "b") + text[i + 1:]
        assert u.decode(flipped, KEY) is None, i
    assert u.decode(text[:-1], KEY) is None
    assert u.decode(text + "a", KEY) is None
    assert u.decode(text, u.derive_key(b"j" * 32)) is None
    assert u.decode(text, [u.derive_key(b"j" * 32), KEY]) == TOKEN  # a retired key
    # Another tenant in the payload, the MAC kept: does not verify.
    raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    forged = raw.replace(b"\x04acme", b"\x04acmf")
    assert forged != raw
    assert u.decode(base64.b32encode(forged).decode().rstrip("=").lower(), KEY) is None
    for junk in ("", "!!", "a" * 5000, "0189", text + "="):
        assert u.decode(junk, KEY) is None


def test_bad_fields_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        u.encode(UnsubscribeToken("t", "a@b", "", "not-an-id"), KEY)
    with pytest.raises(ValueError):
        u.encode(UnsubscribeToken("t" * 300, "a@b", "", MESSAGE_ID), KEY)
    with pytest.raises(ValueError):
        u.encode(UnsubscribeToken("t", "", "", MESSAGE_ID), KEY)
    with pytest.raises(ValueError):
        u.derive_key(b"")


def test_fields_and_addresses() -> None:
    text = u.encode(TOKEN, KEY)
    link = u.url("https", "mail.example.com", text)
    assert link == f"https://mail.example.com/u/{text}"
    mailto = u.mailto_address(text, "news.example")
    assert mailto == f"unsubscribe+{text}@news.example"
    assert u.mailto_text(mailto) == text and u.mailto_text(f"<{mailto}>") == text
    assert u.mailto_text(f"Unsubscribe+{text}@x") == text
    for other in ("bounce+abc@x", "unsubscribe@x", "unsubscribe+@x", "unsubscribe+abc"):
        assert u.mailto_text(other) is None
    fields = u.header_fields(link, mailto)
    assert fields == (f"List-Unsubscribe: <{link}>,\r\n <mailto:{mailto}?subject=unsubscribe>"
                      "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n").encode()
    assert u.header_fields(link, None) == (
        f"List-Unsubscribe: <{link}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    ).encode()


def test_which_messages_get_fields() -> None:
    assert u.wanted(lane="bulk", asked=False, source="api", own=False)
    assert u.wanted(lane="bulk", asked=False, source="submission", own=False)
    assert not u.wanted(lane="transactional", asked=False, source="api", own=False)
    assert u.wanted(lane="transactional", asked=True, source="api", own=False)
    assert not u.wanted(lane="bulk", asked=True, source="api", own=True)  # the sender's own
    assert not u.wanted(lane="bulk", asked=True, source="smtp", own=False)  # forwarded mail
    assert not u.wanted(lane="bulk", asked=True, source="local", own=False)  # DSNs
    assert u.has_list_unsubscribe([("Subject", "x"), ("list-UNSUBSCRIBE", "<mailto:x@y>")])
    assert not u.has_list_unsubscribe([("List-Unsubscribe-Post", u.ONE_CLICK)])


def test_one_click_bodies() -> None:
    assert u.is_one_click(b"List-Unsubscribe=One-Click")
    assert u.is_one_click(b"a=b&List-Unsubscribe=One-Click", "application/x-www-form-urlencoded")
    assert not u.is_one_click(b"")
    assert not u.is_one_click(b"List-Unsubscribe=Other")
    assert not u.is_one_click(b"\xff\xfe")
    multipart = (b"--XX\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                 b"One-Click\r\n--XX--\r\n")
    assert u.is_one_click(multipart, "multipart/form-data; boundary=XX")
    assert not u.is_one_click(multipart.replace(b"One-Click", b"No"), "multipart/form-data")
