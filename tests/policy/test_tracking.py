"""Tracking tokens: round trip, one spelling, and nothing altered or forged decodes."""

from __future__ import annotations

import base64

import pytest

from postoffice.policy import tracking
from postoffice.policy.tracking import TrackingToken, decode, encode, trackable

SECRET = b"k" * 32
MESSAGE = "01J9ZQ3V5W6X7Y8Z9A0B1C2D3E"


@pytest.mark.parametrize("token", [
    TrackingToken(MESSAGE, 1),
    TrackingToken(MESSAGE, (1 << 64) - 1),
    TrackingToken(MESSAGE, 42, "https://shop.example/order?id=1&x=%20y#top"),
    TrackingToken(MESSAGE, 42, "http://b\u00fccher.example/\u00e4"),
])
def test_round_trip(token: TrackingToken) -> None:
    text = encode(token, SECRET)
    assert all(c.isalnum() or c in "-_" for c in text)  # safe as a URL path segment
    assert decode(text, SECRET) == token
    assert decode(text, [b"old" * 11, SECRET]) == token  # after a rotation


def test_another_secret_or_any_changed_character_does_not_decode() -> None:
    text = encode(TrackingToken(MESSAGE, 7, "https://shop.example/"), SECRET)
    assert decode(text, b"other-secret") is None
    for i in range(len(text)):
        for c in "AQg_-":
            if text[i] != c:
                assert decode(text[:i] + c + text[i + 1:], SECRET) is None


def test_a_signed_url_cannot_be_swapped() -> None:
    """Re-encoding another URL with the old MAC (an open redirect attempt) is refused."""
    text = encode(TrackingToken(MESSAGE, 7, "https://shop.example/"), SECRET)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    forged_payload = raw[:-tracking.MAC_SIZE].replace(b"shop.example", b"evil.example")
    forged = base64.urlsafe_b64encode(forged_payload + raw[-tracking.MAC_SIZE:]).decode()
    assert decode(forged.rstrip("="), SECRET) is None
    assert decode(forged, SECRET) is None  # padding is not a second spelling


def test_truncated_extended_and_malformed_tokens() -> None:
    text = encode(TrackingToken(MESSAGE, 7), SECRET)
    for bad in (text[:-1], text + "A", "", "!!!", text.replace(text[3], "="), "A" * 10_000):
        assert decode(bad, SECRET) is None


def test_fields_are_checked_when_encoding() -> None:
    with pytest.raises(ValueError):
        encode(TrackingToken("not-an-id", 1), SECRET)
    with pytest.raises(ValueError):
        encode(TrackingToken(MESSAGE, -1), SECRET)
    with pytest.raises(ValueError):
        encode(TrackingToken(MESSAGE, 1, "javascript:alert(1)"), SECRET)
    with pytest.raises(ValueError):
        encode(TrackingToken(MESSAGE, 1), b"")


@pytest.mark.parametrize(("url", "ok"), [
    ("https://a.example/", True), ("HTTP://A.EXAMPLE/x", True),
    ("mailto:a@b.example", False), ("#top", False), ("ftp://a.example/", False),
    ("https://a.example/\r\nSet-Cookie: x", False), ("https://a.example/ x", False),
    ("https://a.example/" + "x" * tracking.MAX_URL, False),
])
def test_trackable(url: str, ok: bool) -> None:
    assert trackable(url) is ok


def test_the_secret_is_derived_apart_from_the_install_key() -> None:
    key = b"i" * 32
    assert tracking.tracking_secret(key) != key
    assert tracking.tracking_secret(key) == tracking.tracking_secret(key)
    assert len(tracking.tracking_secret(key)) == 32
