"""DKIM signing: every signature verifies with dkimpy (the oracle), for both algorithms and all
canonicalisations, on awkward messages; the message itself is never changed."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postoffice.auth.dkim import (
    DEFAULT_HEADERS,
    DkimError,
    SigningKey,
    generate_key,
    sign,
    sign_many,
)
from postoffice.auth.dkim.canonical import split_message
from postoffice.auth.dkim.keys import PrivateKey, load_private_key, public_key_record, record_name
from postoffice.auth.dkim.sign import signature_value
from postoffice.auth.dkim.tags import parse_tag_list, remove_whitespace
from postoffice.testing.peers import peers_required

try:
    import dkim
    import nacl.signing  # noqa: F401 - dkimpy needs PyNaCl for Ed25519
except ImportError:  # pragma: no cover - dkimpy and pynacl are test dependencies
    if peers_required():
        raise
    pytest.skip("needs dkimpy and pynacl (PyPI), the DKIM test oracle", allow_module_level=True)

T = 1_700_000_000  # t= (injected); dkimpy rejects t= in the future, so a fixed past time
CANONS = [("relaxed", "relaxed"), ("simple", "simple"), ("relaxed", "simple"), ("simple", "relaxed")]
ALGORITHMS = ["rsa-sha256", "ed25519-sha256"]

BASE = (
    b"From: Joe SixPack <joe@example.org>\r\n"
    b"To: Suzie Q <suzie@example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@example.org>\r\n"
    b"\r\n"
    b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
)


def _many_headers() -> bytes:
    fields = b"".join(b"X-Filler-%d: value %d\r\n" % (i, i) for i in range(150))
    return b"Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n" * 5 + fields + BASE


MESSAGES: dict[str, bytes] = {
    "plain": BASE,
    "folded headers": (
        b"From: \"A very long display name that goes on\"\r\n\t<joe@example.org>\r\n"
        b"To: a@example.net,\r\n b@example.net,\r\n\tc@example.net\r\n"
        b"Subject:   lots   of\t\tspace  \r\n   and a fold\t \r\n"
        b"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n\r\nbody\r\n"
    ),
    "trailing whitespace": BASE.replace(b"Hi.\r\n", b"Hi. \t \r\n  \r\n\t\r\n") + b" \r\n\t\r\n",
    "empty body": BASE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n",
    "no body at all": BASE.split(b"\r\n\r\n", 1)[0] + b"\r\n",
    "no trailing CRLF": BASE.rstrip(b"\r\n"),
    "8-bit body": BASE.replace(b"Joe.\r\n", "Grüße, Jörg — ½ € 日本語\r\n".encode() + bytes(range(128, 256)) + b"\r\n"),
    "8-bit headers": BASE.replace(b"Is dinner ready?", "Ça va? naïve 日本".encode()),
    "long lines": BASE + b"x" * 5000 + b"\r\n" + b"y " * 3000 + b"\r\n",
    "many headers": _many_headers(),
    "duplicate headers": BASE.replace(b"Subject:", b"Subject: first\r\nTo: second@example.net\r\nSubject:"),
    "all signed headers": (
        b"".join(f"{name}: v-{name}\r\n".encode() for name in DEFAULT_HEADERS if name != "From") + BASE
    ),
    "mime": (
        b"From: joe@example.org\r\nTo: x@example.net\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n"
        b"Content-Transfer-Encoding: 7bit\r\nList-Unsubscribe: <https://example.org/u/1>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nFeedback-ID: c1:cust:mailer\r\n\r\n"
        b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n"
    ),
    "dot lines and CRLF runs": BASE + b".\r\n..\r\n\r\n\r\n\r\n",
}


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    return {"rsa-sha256": generate_key("rsa-sha256"), "ed25519-sha256": generate_key("ed25519-sha256")}


def dnsfunc_for(records: dict[str, str]) -> Callable[..., bytes | None]:
    def dnsfunc(name: bytes | str, timeout: int = 5) -> bytes | None:
        key = (name.decode() if isinstance(name, bytes) else name).rstrip(".").lower()
        value = records.get(key)
        return value.encode() if value is not None else None

    return dnsfunc


def dkimpy_verify(message: bytes, records: dict[str, str], index: int = 0) -> bool:
    try:
        return bool(dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc_for(records)))
    except dkim.DKIMException:
        return False


def records_for(key: PrivateKey, selector: str = "s1", domain: str = "example.org") -> dict[str, str]:
    return {record_name(selector, domain): public_key_record(key)}


@pytest.mark.parametrize("name", list(MESSAGES))
@pytest.mark.parametrize("canon", CANONS, ids="/".join)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_dkimpy_verifies(keys: dict[str, PrivateKey], algorithm: str, canon: tuple[str, str], name: str) -> None:
    message = MESSAGES[name]
    key = keys[algorithm]
    header = sign(message, domain="example.org", selector="s1", private_key=key, timestamp=T,
                  canonicalization=canon)  # type: ignore[arg-type]
    signed = header + message
    if not message.endswith(b"\r\n"):
        signed += b"\r\n"  # what the receiver gets: SMTP ends the data with CRLF
    assert dkimpy_verify(signed, records_for(key))
    # and a changed body or signed header breaks it
    tampered = signed.replace(b"example.net", b"example.com", 1)
    assert not dkimpy_verify(tampered, records_for(key))


def test_signature_field_shape(keys: dict[str, PrivateKey]) -> None:
    header = sign(BASE, domain="example.org", selector="po2026m11r", private_key=keys["rsa-sha256"],
                  timestamp=T, identity="joe@example.org", expiry=T + 86400)
    assert header.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;")
    assert header.endswith(b"\r\n") and b"\r\n\r\n" not in header
    lines = header[:-2].split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:])  # folded, never a new field
    assert not any(line.endswith((b" ", b"\t")) for line in lines)
    fields, _ = split_message(header + BASE)
    assert fields[0].raw == header and fields[1].raw.startswith(b"From:")
    tags = parse_tag_list(fields[0].value)
    assert list(tags) == ["v", "a", "c", "d", "i", "s", "t", "x", "h", "bh", "b"]
    assert tags["i"] == "joe@example.org" and tags["t"] == str(T) and tags["x"] == str(T + 86400)
    # From over-signed; only the fields present; no trace fields
    assert remove_whitespace(tags["h"]) == "From:From:To:Subject:Date:Message-ID"
    assert len(base64.b64decode(remove_whitespace(tags["b"]))) == 256


def test_signing_never_changes_the_message(keys: dict[str, PrivateKey]) -> None:
    for message in MESSAGES.values():
        before = bytes(message)
        header = sign_many(message, [SigningKey("example.org", "r", keys["rsa-sha256"]),
                                     SigningKey("example.org", "e", keys["ed25519-sha256"])], timestamp=T)
        assert message == before
        signed = header + message
        assert signed.endswith(message) and signed[: len(header)] == header
        assert len(re.findall(rb"(?m)^DKIM-Signature:", header)) == 2


def test_deterministic(keys: dict[str, PrivateKey]) -> None:
    for key in keys.values():
        one = sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=T)
        two = sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=T)
        assert one == two  # RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic


def test_two_keys_rsa_and_ed25519(keys: dict[str, PrivateKey]) -> None:
    rsa_key, ed_key = keys["rsa-sha256"], keys["ed25519-sha256"]
    signers = [SigningKey("example.org", "po2026m11r", rsa_key), SigningKey("example.org", "po2026m11e", ed_key)]
    headers = sign_many(BASE, signers, timestamp=T)
    first, second = (h + b"\r\n" for h in re.split(rb"\r\n(?=DKIM-Signature:)", headers[:-2]))
    # each is computed over the original message: the same as signing with that key alone
    assert first == sign(BASE, domain="example.org", selector="po2026m11r", private_key=rsa_key, timestamp=T)
    assert second == sign(BASE, domain="example.org", selector="po2026m11e", private_key=ed_key, timestamp=T)
    records = {**records_for(rsa_key, "po2026m11r"), **records_for(ed_key, "po2026m11e")}
    signed = headers + BASE
    assert dkimpy_verify(signed, records, 0) and dkimpy_verify(signed, records, 1)
    # neither covers the other: any order verifies, and dropping one leaves the other valid
    assert dkimpy_verify(second + first + BASE, records, 0) and dkimpy_verify(second + first + BASE, records, 1)
    assert dkimpy_verify(second + BASE, records) and dkimpy_verify(first + BASE, records)
    for header in (first, second):
        assert "dkim-signature" not in parse_tag_list(header.partition(b":")[2])["h"].lower()


def test_added_from_breaks_the_signature(keys: dict[str, PrivateKey]) -> None:
    key = keys["ed25519-sha256"]
    signed = sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=T) + BASE
    assert dkimpy_verify(signed, records_for(key))
    for spoof in (b"From: evil@example.com\r\n" + signed, signed.replace(b"\r\nTo:", b"\r\nFrom: evil@example.com\r\nTo:")):
        assert not dkimpy_verify(spoof, records_for(key))


def test_headers_and_oversign_options(keys: dict[str, PrivateKey]) -> None:
    key = keys["rsa-sha256"]
    header = sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=None,
                  headers=["from", "subject", "X-Absent"], oversign=["Subject", "Reply-To"])
    tags = parse_tag_list(header.partition(b":")[2])
    assert "t" not in tags
    # present fields as often as they occur, oversigned names once more (Reply-To: asserted absent)
    assert tags["h"] == "from:subject:subject:Reply-To"
    assert dkimpy_verify(header + BASE, records_for(key))
    assert not dkimpy_verify(header + b"Reply-To: evil@example.com\r\n" + BASE, records_for(key))


def test_identity_and_body_length(keys: dict[str, PrivateKey]) -> None:
    key = keys["ed25519-sha256"]
    header = sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=T,
                  identity="odd;user=x@mail.EXAMPLE.org", body_length=True)
    tags = parse_tag_list(header.partition(b":")[2])
    assert tags["i"] == "odd=3Buser=3Dx@mail.EXAMPLE.org"
    assert tags["l"] == str(len(b"Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n"))
    assert dkimpy_verify(header + BASE, records_for(key))
    assert sign(BASE, domain="example.org", selector="s1", private_key=key, timestamp=T, identity="@example.org")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"domain": "exa mple.org"}, "signing domain"),
        ({"domain": "bücher.example"}, "signing domain"),
        ({"selector": "s_1;x"}, "selector"),
        ({"identity": "joe@example.com"}, "not within"),
        ({"identity": "joe@notexample.org"}, "not within"),
        ({"identity": "no-at-sign"}, "not within"),
        ({"timestamp": -1}, "t="),
        ({"expiry": T}, "later than"),
        ({"algorithm": "ed25519-sha256"}, "cannot sign"),
        ({"algorithm": "rsa-sha1"}, "unknown"),
        ({"canonicalization": ("relaxed", "nowsp")}, "canonicalization"),
        ({"headers": ["From", "Bad:Name"]}, "header field name"),
    ],
)
def test_refuses_bad_arguments(keys: dict[str, PrivateKey], kwargs: dict[str, object], error: str) -> None:
    args: dict[str, object] = {"domain": "example.org", "selector": "s1", "private_key": keys["rsa-sha256"],
                               "timestamp": T}
    args.update(kwargs)
    with pytest.raises(DkimError, match=error):
        sign(BASE, **args)  # type: ignore[arg-type]


def test_refuses_message_without_from_and_lf_messages(keys: dict[str, PrivateKey]) -> None:
    key = keys["ed25519-sha256"]
    with pytest.raises(DkimError, match="no From"):
        sign(BASE.replace(b"From:", b"Sender:"), domain="example.org", selector="s1", private_key=key, timestamp=T)
    with pytest.raises(DkimError, match="LF line endings"):
        sign(BASE.replace(b"\r\n", b"\n"), domain="example.org", selector="s1", private_key=key, timestamp=T)


def test_reproduces_dkimpy_signatures(keys: dict[str, PrivateKey]) -> None:
    """dkimpy signs; our canonicalisation and signing give exactly its b= for its header."""
    for algorithm, key in keys.items():
        if isinstance(key, rsa.RSAPrivateKey):
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        else:
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            pem = base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption()))
        for message in MESSAGES.values():
            if not message.endswith(b"\r\n"):
                continue
            for canon in CANONS:
                theirs = dkim.sign(message, b"s1", b"example.org", pem, canonicalize=tuple(c.encode() for c in canon),
                                   signature_algorithm=algorithm.encode(),
                                   include_headers=[b"from", b"to", b"subject", b"date", b"from"])
                b_value = remove_whitespace(parse_tag_list(theirs.partition(b":")[2])["b"])
                assert signature_value(message, theirs, key) == b_value


def test_signature_value_checks_the_algorithm(keys: dict[str, PrivateKey]) -> None:
    header = sign(BASE, domain="example.org", selector="s1", private_key=keys["rsa-sha256"], timestamp=T)
    with pytest.raises(DkimError, match="does not match"):
        signature_value(BASE, header, keys["ed25519-sha256"])
    b_value = remove_whitespace(parse_tag_list(header.partition(b":")[2])["b"])
    assert signature_value(BASE, header, keys["rsa-sha256"]) == b_value


def test_loaded_key_signs(keys: dict[str, PrivateKey]) -> None:
    from postoffice.auth.dkim.keys import private_key_pem

    for key in keys.values():
        loaded = load_private_key(private_key_pem(key))
        header = sign(BASE, domain="example.org", selector="s1", private_key=loaded, timestamp=T)
        assert dkimpy_verify(header + BASE, records_for(key))


# --- property: random header and body content -------------------------------------------------

_TEXT = st.lists(st.sampled_from([b"a", b"Z", b"0", b" ", b"\t", b"<", b">", b"@", b";", b"=", b":", b"\xc3\xa9"]),
                 max_size=15).map(b"".join)
_FIELD_NAMES = st.sampled_from([b"To", b"Cc", b"Subject", b"Date", b"Reply-To", b"X-Custom", b"Received",
                                b"Content-Type", b"List-Unsubscribe", b"sUbJeCt", b"Message-ID"])
_FIELD = st.tuples(_FIELD_NAMES, _TEXT, st.lists(_TEXT.map(lambda t: t + b"x"), max_size=2))
_BODY_LINE = st.lists(st.sampled_from([b"w", b"Q", b" ", b"\t", b".", b"\x80", b"\xff", b"\x00"]), max_size=20).map(
    b"".join)


def _build(fields: list[tuple[bytes, bytes, list[bytes]]], from_at: int, lines: list[bytes], crlf_end: bool) -> bytes:
    rendered = [name + b":" + first + b"".join(b"\r\n\t" + more for more in cont) + b"\r\n"
                for name, first, cont in fields]
    rendered.insert(min(from_at, len(rendered)), b"From: x <a@example.org>\r\n")
    body = b"\r\n".join(lines) + (b"\r\n" if crlf_end else b"")
    return b"".join(rendered) + b"\r\n" + body


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.lists(_FIELD, max_size=8),
    from_at=st.integers(0, 8),
    lines=st.lists(_BODY_LINE, max_size=10),
    crlf_end=st.booleans(),
    canon=st.sampled_from(CANONS),
    algorithm=st.sampled_from(ALGORITHMS),
)
def test_random_messages_verify_with_dkimpy(
    keys: dict[str, PrivateKey],
    fields: list[tuple[bytes, bytes, list[bytes]]],
    from_at: int,
    lines: list[bytes],
    crlf_end: bool,
    canon: tuple[str, str],
    algorithm: str,
) -> None:
    message = _build(fields, from_at, lines, crlf_end)
    key = keys[algorithm]
    header = sign(message, domain="example.org", selector="s1", private_key=key, timestamp=T,
                  canonicalization=canon, headers=[*DEFAULT_HEADERS, "X-Custom", "Received"])  # type: ignore[arg-type]
    signed = header + message + (b"" if message.endswith(b"\r\n") else b"\r\n")
    assert dkimpy_verify(signed, records_for(key))



def test_the_templates_hash_form_matches_the_general_canonicalisation() -> None:
    """The signer's shortcut for its own DKIM-Signature template equals the general path."""
    import random

    from postoffice.auth.dkim.canonical import signature_field_for_hash
    from postoffice.auth.dkim.sign import _render, _template_for_hash

    rng = random.Random(7)
    names = ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe-Post", "X-A"]
    for _ in range(300):
        tags = [("v", "1"), ("a", "rsa-sha256"), ("c", "relaxed/relaxed"),
                ("d", "x" * rng.randint(1, 60) + ".example"), ("s", "po2026m11r"),
                ("t", str(rng.randint(1, 10**10))),
                ("h", ":".join(rng.choice(names) for _ in range(rng.randint(1, 25)))),
                ("bh", "A" * 43 + "=")]
        template = _render(tags)
        for method in ("relaxed", "simple"):
            assert _template_for_hash(template, method) == signature_field_for_hash(template, method)
