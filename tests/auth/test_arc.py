"""ARC sealing and validation: chains of several hops, what breaks them, dkimpy as the oracle for
our seals, and stalwart-mail-auth's real-world chains (Gmail, and an Ed25519 seal)."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.auth.arc import ArcResult, ArcStatus, seal, validate
from postoffice.auth.dkim import DkimError, SigningKey, generate_key
from postoffice.auth.dkim.canonical import (
    canonicalize_header,
    signature_field_for_hash,
    split_message,
)
from postoffice.auth.dkim.keys import PrivateKey, public_key_record, record_name
from postoffice.auth.dkim.tags import parse_tag_list, remove_whitespace
from postoffice.auth.dns import DnsQuery, RRType, ZoneData, run_sync
from postoffice.testing.peers import peers_required

try:
    import dkim
except ImportError:  # pragma: no cover - dkimpy is a test dependency
    if peers_required():
        raise
    dkim = None

T = 1_700_000_000
MESSAGE = (
    b"From: Joe SixPack <joe@example.org>\r\nTo: list@lists.example.net\r\n"
    b"Subject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@example.org>\r\n\r\n"
    b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    key = generate_key("rsa-sha256", rsa_bits=1024)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    key = generate_key("ed25519-sha256")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def hop(message: bytes, key: SigningKey, zone: ZoneData, *, at: int = T, authres: str | None = None) -> tuple[bytes, ArcResult]:
    """What one ARC hop does: validate, then seal; the sealed message and the validation."""
    chain = run_sync(validate(message, now=at), zone)
    authres = authres or f"mx.{key.domain}; arc={chain.status}; spf=pass smtp.mailfrom=example.org"
    return seal(message, authres=authres, key=key, timestamp=at, chain=chain) + message, chain


def zone_of(*keys: SigningKey) -> dict[str, list[object]]:
    return {record_name(k.selector, k.domain): [{"TXT": public_key_record(k.private_key)}] for k in keys}


def check(message: bytes, zone: ZoneData, at: int = T + 60) -> ArcResult:
    return run_sync(validate(message, now=at), zone)


def test_no_arc_fields_is_none() -> None:
    result = check(MESSAGE, {})
    assert (result.status, result.instances, result.oldest_pass) == (ArcStatus.NONE, 0, None)


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_three_hops_pass(algorithm: str, rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    private = rsa_key if algorithm == "rsa-sha256" else ed_key
    keys = [SigningKey(f"hop{n}.example", "arc", private) for n in (1, 2, 3)]
    zone = zone_of(*keys)
    message = MESSAGE
    statuses = []
    for key in keys:
        message, chain = hop(message, key, zone)
        statuses.append(chain.status)
    assert statuses == [ArcStatus.NONE, ArcStatus.PASS, ArcStatus.PASS]
    result = check(message, zone)
    assert result.status is ArcStatus.PASS, result.reason
    assert (result.instances, result.oldest_pass) == (3, 0)
    assert result.sealers == ("hop1.example", "hop2.example", "hop3.example")
    fields, _ = split_message(message)
    assert [f.lname for f in fields[:3]] == [b"arc-seal", b"arc-message-signature", b"arc-authentication-results"]
    seal_tags = parse_tag_list(fields[0].value)
    assert (seal_tags["i"], seal_tags["cv"], seal_tags["a"]) == ("3", "pass", algorithm)
    assert fields[2].value.startswith(b" i=3; mx.hop3.example; arc=pass;")
    assert all(len(line) <= 998 for line in message.split(b"\r\n"))


def list_rewrite(message: bytes) -> bytes:
    """What a mailing list does: tag the subject, add a footer (breaking earlier AMSes)."""
    return message.replace(b"Subject: Is dinner", b"Subject: [list] Is dinner") + b"-- \r\nList footer\r\n"


def test_a_list_that_rewrites_keeps_the_chain_and_moves_oldest_pass(rsa_key: PrivateKey) -> None:
    keys = [SigningKey(domain, "arc", rsa_key) for domain in ("origin.example", "lists.example.net", "mx.example")]
    zone = zone_of(*keys)
    first, _ = hop(MESSAGE, keys[0], zone)
    # the list validates what it received, then rewrites, then seals with what it found
    on_receipt = check(first, zone)
    assert on_receipt.status is ArcStatus.PASS
    rewritten = list_rewrite(first)
    second = seal(rewritten, authres="lists.example.net; arc=pass", key=keys[1], timestamp=T, chain=on_receipt) + rewritten
    third, chain = hop(second, keys[2], zone)
    assert (chain.status, chain.oldest_pass) == (ArcStatus.PASS, 2)  # AMS(1) no longer verifies
    result = check(third, zone)
    assert (result.status, result.instances, result.oldest_pass) == (ArcStatus.PASS, 3, 2)
    # a list that seals before it rewrites breaks its own AMS: the next hop finds a failed chain
    careless = list_rewrite(hop(first, keys[1], zone)[0])
    result = check(careless, zone)
    assert result.status is ArcStatus.FAIL and "ARC-Message-Signature i=2" in result.reason


def test_seal_over_a_failed_chain_covers_only_its_own_set(rsa_key: rsa.RSAPrivateKey) -> None:
    keys = [SigningKey("hop1.example", "arc", rsa_key), SigningKey("hop2.example", "arc", rsa_key)]
    zone = zone_of(*keys)
    one, _ = hop(MESSAGE, keys[0], zone)
    broken = one.replace(b"hungry", b"thirsty")
    two, chain = hop(broken, keys[1], zone)
    assert chain.status is ArcStatus.FAIL and "body hash" in chain.reason
    fields, _ = split_message(two)
    new_seal, new_ams, new_aar = fields[:3]
    assert parse_tag_list(new_seal.value)["cv"] == "fail"
    # the seal signs its own set alone (RFC 8617 5.1.2)
    own_set = (canonicalize_header(new_aar, "relaxed") + canonicalize_header(new_ams, "relaxed")
               + signature_field_for_hash(new_seal.raw, "relaxed"))
    b = base64.b64decode(remove_whitespace(parse_tag_list(new_seal.value)["b"]))
    rsa_key.public_key().verify(b, own_set, padding.PKCS1v15(), hashes.SHA256())
    result = check(two, zone)
    assert result.status is ArcStatus.FAIL and "already failed" in result.reason
    # nothing more is added once a seal says cv=fail
    assert seal(two, authres="mx.hop3.example; arc=fail", key=keys[0], timestamp=T, chain=result) == b""


def without_field(message: bytes, name: bytes, marker: bytes) -> bytes:
    """``message`` without its ``name`` field whose value contains ``marker``."""
    fields, body = split_message(message)
    kept = [f.raw for f in fields if not (f.lname == name and marker in f.value)]
    assert len(kept) == len(fields) - 1
    return b"".join(kept) + b"\r\n" + body


@pytest.mark.parametrize(("change", "reason"), [
    (lambda m: m.replace(b"hungry", b"thirsty"), "ARC-Message-Signature i=2: body hash did not verify"),
    (lambda m: m.replace(b"Subject: Is", b"Subject: Was"), "ARC-Message-Signature i=2: signature did not verify"),
    (lambda m: m.replace(b"arc=none; spf=pass", b"arc=none; spf=fail"), "ARC-Seal i=2: signature did not verify"),
    (lambda m: m.replace(b"i=1; mx.hop1.example", b"i=1; mx.evil.example"), "ARC-Seal i=2: signature did not verify"),
    (lambda m: without_field(m, b"arc-seal", b"i=1;"), "i=1 has 0 ARC-Seal fields"),
    (lambda m: without_field(m, b"arc-authentication-results", b"i=2;"), "i=2 has 0 ARC-Authentication-Results"),
])
def test_tampering_fails(change: object, reason: str, rsa_key: PrivateKey) -> None:
    keys = [SigningKey("hop1.example", "arc", rsa_key), SigningKey("hop2.example", "arc", rsa_key)]
    zone = zone_of(*keys)
    message = hop(hop(MESSAGE, keys[0], zone)[0], keys[1], zone)[0]
    assert check(message, zone).status is ArcStatus.PASS
    result = check(change(message), zone)  # type: ignore[operator]
    assert result.status is ArcStatus.FAIL and reason in result.reason, result.reason


def test_dns_failures_fail_the_chain(rsa_key: PrivateKey) -> None:
    key = SigningKey("hop1.example", "arc", rsa_key)
    message, _ = hop(MESSAGE, key, zone_of(key))
    for zone, reason in (({}, "no key record"), ({"arc._domainkey.hop1.example": ["TIMEOUT"]}, "timeout"),
                         ({"arc._domainkey.hop1.example": [{"TXT": "v=DKIM1; p="}]}, "revoked")):
        result = check(message, zone)
        assert result.status is ArcStatus.FAIL and reason in result.reason  # RFC 8617 5.2.1


def test_keys_are_asked_for_in_one_batch(rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    keys = [SigningKey("a.example", "rsa", rsa_key), SigningKey("b.example", "ed", ed_key), SigningKey("a.example", "rsa", rsa_key)]
    zone = zone_of(*keys)
    message = MESSAGE
    for key in keys:
        message, _ = hop(message, key, zone)
    assert next(validate(message, now=T)) == (DnsQuery("rsa._domainkey.a.example", RRType.TXT),
                                               DnsQuery("ed._domainkey.b.example", RRType.TXT))


def test_seal_timestamps_are_judged(rsa_key: PrivateKey) -> None:
    key = SigningKey("hop1.example", "arc", rsa_key)
    message, _ = hop(MESSAGE, key, zone_of(key), at=T + 3600)
    result = check(message, zone_of(key), at=T)
    assert result.status is ArcStatus.FAIL and "future" in result.reason


def test_fifty_sets_at_most(ed_key: PrivateKey) -> None:
    key = SigningKey("hop.example", "arc", ed_key)
    zone = zone_of(key)
    message = MESSAGE
    for _ in range(50):
        message, chain = hop(message, key, zone)
        assert chain.status is not ArcStatus.FAIL
    result = check(message, zone)
    assert (result.status, result.instances) == (ArcStatus.PASS, 50)
    assert seal(message, authres="mx.hop.example; arc=pass", key=key, timestamp=T, chain=result) == b""
    over = message.replace(b"ARC-Seal: a=", b"ARC-Authentication-Results: i=51; x.example; arc=pass\r\nARC-Seal: a=", 1)
    assert check(over, zone).status is ArcStatus.FAIL


def test_seal_refuses_what_does_not_fit(rsa_key: PrivateKey) -> None:
    key = SigningKey("hop1.example", "arc", rsa_key)
    sealed, _ = hop(MESSAGE, key, zone_of(key))
    with pytest.raises(DkimError, match="said none"):
        seal(sealed, authres="mx.example; arc=none", key=key, timestamp=T, chain=ArcResult(ArcStatus.NONE, ""))
    with pytest.raises(DkimError, match="said pass"):
        seal(MESSAGE, authres="mx.example; arc=pass", key=key, timestamp=T, chain=ArcResult(ArcStatus.PASS, ""))
    none = ArcResult(ArcStatus.NONE, "")
    with pytest.raises(DkimError, match="must not sign"):
        seal(MESSAGE, authres="mx.example", key=key, timestamp=T, chain=none, headers=["From", "Authentication-Results"])
    with pytest.raises(DkimError, match="must not sign"):
        seal(MESSAGE, authres="mx.example", key=key, timestamp=T, chain=none, headers=["arc-seal"])
    with pytest.raises(DkimError, match="invalid header field name"):
        seal(MESSAGE, authres="mx.example", key=key, timestamp=T, chain=none, headers=["From", "Bad Name"])
    with pytest.raises(DkimError, match="empty"):
        seal(MESSAGE, authres=" \r\n ", key=key, timestamp=T, chain=none)
    for domain in ("bad domain", "bücher.example"):
        with pytest.raises(DkimError, match="invalid ARC signing domain"):
            seal(MESSAGE, authres="mx.example", key=SigningKey(domain, "arc", rsa_key), timestamp=T, chain=none)


def test_aar_payload_is_normalised_and_folded(rsa_key: PrivateKey) -> None:
    key = SigningKey("hop1.example", "arc", rsa_key)
    authres = "mx.hop1.example;\r\n  arc=none;\tspf=pass smtp.mailfrom=example.org; " + "dkim=pass header.d=example.org; " * 4
    out = seal(MESSAGE, authres=authres.strip(), key=key, timestamp=None, chain=ArcResult(ArcStatus.NONE, ""))
    aar = split_message(out + b"\r\n")[0][2]
    assert aar.raw.startswith(b"ARC-Authentication-Results: i=1; mx.hop1.example; arc=none; spf=pass")
    assert all(len(line) <= 78 for line in aar.raw.split(b"\r\n"))
    assert "t" not in parse_tag_list(split_message(out + b"\r\n")[0][0].value)  # no timestamp given
    assert check(out + MESSAGE, zone_of(key)).status is ArcStatus.PASS


@pytest.mark.skipif(dkim is None, reason="needs dkimpy, the ARC oracle")
def test_dkimpy_validates_our_chains(rsa_key: PrivateKey) -> None:
    """dkimpy's arc_verify accepts our RSA seals, hop after hop (its ARC code knows no Ed25519)."""
    keys = [SigningKey("hop1.example", "arc", rsa_key), SigningKey("hop2.example", "arc", rsa_key)]
    zone = zone_of(*keys)
    records = {name: entries[0]["TXT"] for name, entries in zone.items()}  # type: ignore[index]

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        record = records.get(name.decode().rstrip("."))
        return record.encode() if isinstance(record, str) else None

    message = MESSAGE
    for key in keys:
        message, _ = hop(message, key, zone)
        cv, _, reason = dkim.arc_verify(message, dnsfunc=dns)
        assert cv == b"pass", reason
    cv, _, _ = dkim.arc_verify(message.replace(b"hungry", b"thirsty"), dnsfunc=dns)
    assert cv == b"fail"


def _stalwart_arc() -> list[Path]:
    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
    return sorted((base / "stalwart-mail-auth" / "arc").glob("*.txt"))


@pytest.mark.parametrize("path", _stalwart_arc(), ids=lambda p: p.name)
def test_stalwart_chains(path: Path) -> None:
    """Real chains: Gmail's seal over a list message (001), an Ed25519 then an RSA hop (002).
    stalwart's test expects pass for both; the clock is 60 s after the newest ARC-Seal's t=."""
    data = re.sub(rb"(?<!\r)\n", b"\r\n", path.read_bytes())
    records, message = data.split(b"\r\n\r\n", 1)
    zone = {line.split(" ", 1)[0]: [{"TXT": line.split(" ", 1)[1]}] for line in records.decode().splitlines()}
    fields, _ = split_message(message)
    newest = max(int(parse_tag_list(f.value).get("t", "0")) for f in fields if f.lname in (b"arc-seal", b"arc-message-signature"))
    result = check(message, zone, at=newest + 60)
    assert result.status is ArcStatus.PASS, result.reason
    assert result.oldest_pass == 0


ARC_PIECES = st.lists(st.sampled_from(
    ["i=1", "i=2", "i=0", "i=51", "i=x", "a=rsa-sha256", "cv=none", "cv=pass", "cv=fail", "d=hop1.example",
     "s=arc", "b=AAAA", "bh=AAAA", "h=from", "t=1", ";", "=", " ", "\r\n ", "\u0662"]), max_size=8).map("; ".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"]),
                          ARC_PIECES), max_size=4))
def test_any_arc_fields_validate_and_seal_without_error(fields: list[tuple[str, str]]) -> None:
    key = SigningKey("hop9.example", "arc", generate_key("ed25519-sha256"))
    message = b"".join(f"{name}: {value}\r\n".encode() for name, value in fields) + MESSAGE
    chain = check(message, {})
    assert chain.status is (ArcStatus.NONE if not fields else ArcStatus.FAIL)
    out = seal(message, authres="mx.hop9.example; arc=" + chain.status, key=key, timestamp=T, chain=chain)
    assert out == b"" or out.startswith(b"ARC-Seal: ")
