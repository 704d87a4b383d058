"""Webhook rules: URLs, event subscriptions, public addresses, the backoff and the signature."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from postoffice.policy import webhooks as policy


@pytest.mark.parametrize("url", ["https://hooks.example/x?a=1", "http://127.0.0.1:8080/h",
                                 "https://[2001:db8::1]/h"])
def test_good_urls(url: str) -> None:
    assert policy.check_url(url) == url


@pytest.mark.parametrize("url, why", [
    ("ftp://h.example/", "http"), ("https://u:p@h.example/", "user name"),
    ("https://u@h.example/", "user name"), ("https:///x", "no host"),
    ("https://h.example/a b", "spaces"), ("https://h.example/\r\nX: y", "spaces"),
    ("https://h.example:99999/", "not a URL"), ("https://h.example/#frag", "fragment"),
    ("https://h.example/" + "a" * 2000, "2000"), ("https://bücher.example/", "non-ASCII"),
])
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        policy.check_url(url)


def test_events() -> None:
    assert policy.check_events(["*"]) == ("*",)
    assert policy.check_events(["bounced", "delivered", "bounced"]) == ("bounced", "delivered")
    for bad, where in ((["delivered", "nope"], "1:"), (["bounced", "*"], "1:"), ([], "at least")):
        with pytest.raises(ValueError, match=where):
            policy.check_events(bad)
    assert policy.subscribed(("*",), "opened") and policy.subscribed(("opened",), "opened")
    assert not policy.subscribed(("bounced",), "delivered")


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.1.2.3", False),
    ("192.168.0.1", False), ("172.16.0.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False), ("fd00::1", False),
    ("fe80::1%eth0", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert policy.public_address(address) is public


def test_backoff() -> None:
    backoff = policy.Backoff(first=30, longest=3600, retry_for=86400)
    assert backoff.next_attempt(0, 1, 0) == 30
    assert backoff.next_attempt(0, 2, 100) == 160
    assert backoff.next_attempt(0, 40, 1000) == 4600
    assert backoff.next_attempt(0, 40, 86400 - 3600) == 86400
    assert backoff.next_attempt(0, 40, 86400 - 3599) is None


def test_signature_and_body() -> None:
    body = policy.body(7, 3, {"type": "bounced", "tenant": "acme", "recipient": "ä@x.example"})
    assert body == ('{"id":7,"webhook_id":3,"event":{"type":"bounced","at":"","message_id":"",'
                    '"recipient":"ä@x.example","detail":"","category":"","ip":"","mx":""}}'
                    ).encode()
    header = policy.signature("whsec_k", 1700000000, body)
    mac = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert policy.verify("whsec_k", header, body, now=1700000100)
    assert not policy.verify("whsec_k", header, body, now=1700000400)
    assert not policy.verify("whsec_k", "v1=00", body, now=1700000000)
    assert policy.new_secret() != policy.new_secret()


def test_webhook_signatures_that_are_malformed_are_not_valid() -> None:
    from postoffice.policy.webhooks import signature, verify

    body = b'{"id":1}'
    good = signature("whsec_x", 1_700_000_000, body)
    assert verify("whsec_x", good, body, now=1_700_000_010)
    for header in ("t=\u00b2,v1=00", "t=1700000000,v1=\u00e9\u00e9", "t=" + "9" * 5000 + ",v1=0",
                   "", "v1=abc", "t=1700000000"):
        assert not verify("whsec_x", header, body, now=1_700_000_010), header
