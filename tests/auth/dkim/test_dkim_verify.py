"""DKIM verification: round trips with our signer and with dkimpy's, and every way a signature can
fail, each against a zone of key records (run_sync, no network)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.auth.dkim import (
    DkimError,
    DkimResult,
    DkimStatus,
    SigningKey,
    VerifyPolicy,
    generate_key,
    sign,
    sign_many,
    verify,
)
from postoffice.auth.dkim.canonical import (
    body_hash,
    header_hash_input,
    parse_canonicalization,
    split_message,
)
from postoffice.auth.dkim.keys import (
    PrivateKey,
    parse_key_record,
    public_key_record,
    record_name,
)
from postoffice.auth.dkim.signature import parse_signature
from postoffice.auth.dkim.tags import parse_tag_list
from postoffice.auth.dkim.verify import DEFAULT_POLICY
from postoffice.auth.dns import DnsQuery, RRType, ZoneData, run_sync
from postoffice.testing.peers import peers_required

try:
    import dkim
    import nacl.signing  # noqa: F401 - dkimpy needs PyNaCl for Ed25519
except ImportError:  # pragma: no cover - dkimpy and pynacl are test dependencies
    if peers_required():
        raise
    pytest.skip("needs dkimpy and pynacl (PyPI), the DKIM test oracle", allow_module_level=True)

T = 1_700_000_000
NOW = T + 60
CANONS = [("relaxed", "relaxed"), ("simple", "simple"), ("relaxed", "simple"), ("simple", "relaxed")]
MESSAGE = (
    b"From: Joe SixPack <joe@example.org>\r\n"
    b"To: Suzie Q <suzie@example.net>\r\n"
    b"Subject: Is dinner ready?\r\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
    b"Message-ID: <20030712040037.46341.5F8J@example.org>\r\n"
    b"\r\n"
    b"Hi.\r\n\r\nWe lost  the game.\tAre you hungry yet?  \r\n\r\nJoe.\r\n\r\n"
)
# A throwaway 512-bit key: cryptography will not generate one, RFC 8301 says verifiers refuse it.
RSA_512_PEM = b"""-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEA6UbbVjeXhSUqNIB9
eVGYiMQnzAJZHOp4Rk2wMdjsJ05tXIyNcSI+J6W0y+0RYOtqWoNykeYeI4jQkHpY
U2uu+QIDAQABAkBcw2WDQnYJZz8CQ7ohnTXn5QDiWmivW/naEximqdk2w3HUoQCe
Svct1JjC4Wi7sKXZj/VrNDC+Iwqe8BrnFM9lAiEA9GxDrZyaSopRM8skVS7rRbBt
q5HYSUs7fOf+6DR7rx8CIQD0U3DVEizWcSNc6IT1oUrpUikKZ591ottNczvaxLwW
5wIhANZd1YWAYXmakdlBAt6KxeFa+PSOdwjhKI1F0zTIQum1AiEAtEchOUa46N4A
TtyOxsNlh/WErNW69kzdbi952blSY78CIQDBjZGjz37yF53kwVY0NsjZsVFXYZ7z
85tsjpd996FuGg==
-----END PRIVATE KEY-----
"""


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    key = generate_key("rsa-sha256", rsa_bits=1024)  # the smallest allowed: quick, and enough
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    key = generate_key("ed25519-sha256")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def zone_for(key: PrivateKey, selector: str = "s1", domain: str = "example.org", record: str | None = None) -> dict[str, list[object]]:
    return {record_name(selector, domain): [{"TXT": record if record is not None else public_key_record(key)}]}


def check(message: bytes, zone: Mapping[str, object], *, now: int = NOW, policy: VerifyPolicy = DEFAULT_POLICY) -> list[DkimResult]:
    return run_sync(verify(message, now=now, policy=policy), zone)  # type: ignore[arg-type]


def one(message: bytes, zone: Mapping[str, object], **kwargs: object) -> DkimResult:
    (result,) = check(message, zone, **kwargs)  # type: ignore[arg-type]
    return result


def crafted(message: bytes, key: PrivateKey, tags: str, *, bh: str | None = None) -> bytes:
    """A DKIM-Signature with exactly ``tags`` (a tag list without bh= and b=) plus bh= (computed
    unless given) and b=, signed with ``key`` as ``a=`` says; the field is prepended. Tags that
    do not parse are signed as if they were relaxed/relaxed over From."""
    try:
        parsed = parse_tag_list(tags)
        header_canon, body_canon = parse_canonicalization(parsed.get("c"))
    except DkimError:
        parsed, header_canon, body_canon = {}, "relaxed", "relaxed"
    algorithm = parsed.get("a", "rsa-sha256")
    hash_name = "sha1" if algorithm == "rsa-sha1" else "sha256"
    fields, body = split_message(message)
    if bh is None:
        length = int(parsed["l"]) if parsed.get("l", "").isdigit() else None
        bh = base64.b64encode(body_hash(body, body_canon, length=length, algorithm=hash_name).digest).decode()
    field = f"DKIM-Signature: {tags}; bh={bh}; b=".encode()
    data = header_hash_input(fields, parsed.get("h", "from").split(":"), field, header_canon)
    if isinstance(key, rsa.RSAPrivateKey):
        digest = hashes.SHA1() if hash_name == "sha1" else hashes.SHA256()
        raw = key.sign(data, padding.PKCS1v15(), digest)
    else:
        raw = key.sign(hashlib.sha256(data).digest())
    return field + base64.b64encode(raw) + b"\r\n" + message


BASE_TAGS = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1; h=from:to:subject"


# --- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("canon", CANONS, ids="/".join)
@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_round_trip_with_our_signer(algorithm: str, canon: tuple[str, str], rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    key = rsa_key if algorithm == "rsa-sha256" else ed_key
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=key, timestamp=T,
                  canonicalization=canon, identity="joe@mail.example.org")  # type: ignore[arg-type]
    result = one(header + MESSAGE, zone_for(key))
    assert result.status is DkimStatus.PASS and result.passed, result.reason
    assert (result.domain, result.selector, result.algorithm) == ("example.org", "s1", algorithm)
    assert result.identity == "joe@mail.example.org"
    assert result.key_bits == (1024 if algorithm == "rsa-sha256" else None)
    assert len(result.header_b) == 8 and result.header_b == parse_tag_list(header.split(b":", 1)[1])["b"][:8]
    # relaxed canonicalisation forgives what it should; simple does not
    refolded = MESSAGE.replace(b"Subject: Is dinner ready?", b"Subject:  Is dinner\r\n  ready?")
    assert one(header + refolded, zone_for(key)).passed is (canon[0] == "relaxed")
    respaced = MESSAGE.replace(b"lost  the", b"lost the")
    assert one(header + respaced, zone_for(key)).passed is (canon[1] == "relaxed")


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
@pytest.mark.parametrize("canon", CANONS, ids="/".join)
def test_dkimpy_signatures_verify(algorithm: str, canon: tuple[str, str], rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    """The oracle the other way round: what dkimpy signs, we verify (and reject once altered)."""
    key = rsa_key if algorithm == "rsa-sha256" else ed_key
    if isinstance(key, rsa.RSAPrivateKey):
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    else:
        private = base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption()))
    header = bytes(dkim.sign(MESSAGE, b"s1", b"example.org", private, signature_algorithm=algorithm.encode(),
                             canonicalize=(canon[0].encode(), canon[1].encode()), include_headers=[b"from", b"to", b"subject"]))
    assert one(header + MESSAGE, zone_for(key), now=NOW + 10**9).passed  # dkimpy puts t= now
    assert not one(header + MESSAGE.replace(b"Joe.", b"Jim."), zone_for(key), now=NOW + 10**9).passed


def test_unsigned_message_asks_nothing() -> None:
    flow = verify(MESSAGE, now=NOW)
    with pytest.raises(StopIteration) as stop:
        next(flow)
    assert stop.value.value == []


def test_lf_message_is_refused() -> None:
    with pytest.raises(DkimError, match="LF"):
        check(MESSAGE.replace(b"\r\n", b"\n"), {})


def test_several_signatures_each_get_a_result_and_keys_come_in_one_batch(rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    keys = [SigningKey("example.org", "rsa", rsa_key), SigningKey("example.org", "ed", ed_key),
            SigningKey("example.net", "gone", rsa_key), SigningKey("example.org", "rsa", rsa_key)]
    headers = sign_many(MESSAGE, keys, timestamp=T)
    zone = {**zone_for(rsa_key, "rsa"), **zone_for(ed_key, "ed")}
    flow = verify(headers + MESSAGE, now=NOW)
    batch = next(flow)
    assert batch == (DnsQuery("rsa._domainkey.example.org", RRType.TXT), DnsQuery("ed._domainkey.example.org", RRType.TXT),
                     DnsQuery("gone._domainkey.example.net", RRType.TXT))  # one query per distinct name
    results = check(headers + MESSAGE, zone)
    assert [(r.selector, r.status) for r in results] == [
        ("rsa", DkimStatus.PASS), ("ed", DkimStatus.PASS), ("gone", DkimStatus.PERMERROR), ("rsa", DkimStatus.PASS)]
    assert len({r.header_b for r in results}) == 3  # the same key and message: the same b=


def test_header_b_grows_until_unique(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    b = parse_tag_list(header.split(b":", 1)[1])["b"].replace("\r\n ", "")
    at = header.index(b" b=") + 3 + 20  # b= starts a line: its first 73 characters are unfolded
    twin = header[:at] + (b"A" if b[20] != "A" else b"B") + header[at + 1 :]  # the same first 20
    first, second = check(header + twin + MESSAGE, zone_for(rsa_key))
    assert first.passed and not second.passed
    assert first.header_b == b[:21] and second.header_b.startswith(b[:20]) and len(second.header_b) == 21


def test_max_signatures(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    results = check(header * 3 + MESSAGE, zone_for(rsa_key), policy=VerifyPolicy(max_signatures=2))
    assert [r.status for r in results] == [DkimStatus.PASS, DkimStatus.PASS, DkimStatus.POLICY]
    assert results[2].domain == "example.org" and "more than 2" in results[2].reason


# --- failures: what was signed no longer matches -----------------------------------------------

def test_body_hash_mismatch_and_signature_mismatch_are_told_apart(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    body = one(header + MESSAGE.replace(b"Joe.", b"Jim."), zone_for(rsa_key))
    assert (body.status, body.reason) == (DkimStatus.FAIL, "body hash did not verify")
    subject = one(header + MESSAGE.replace(b"dinner", b"supper"), zone_for(rsa_key))
    assert (subject.status, subject.reason) == (DkimStatus.FAIL, "signature did not verify")
    added_from = one(header + b"From: mallory@example.com\r\n" + MESSAGE, zone_for(rsa_key))
    assert added_from.status is DkimStatus.FAIL  # From is oversigned
    other_key = generate_key("rsa-sha256", rsa_bits=1024)
    assert one(header + MESSAGE, zone_for(other_key)).reason == "signature did not verify"


# --- neutral: the signature field itself is malformed ------------------------------------------

@pytest.mark.parametrize(("tags", "reason"), [
    ("a=rsa-sha256; d=example.org; s=s1; h=from", "v= is missing"),
    ("v=1; d=example.org; s=s1; h=from", "a= is missing"),
    ("v=1; a=rsa-sha256; s=s1; h=from", "d= is missing"),
    ("v=1; a=rsa-sha256; d=example.org; h=from", "s= is missing"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1", "h= is missing"),
    ("v=2; a=rsa-sha256; d=example.org; s=s1; h=from", "unsupported version v=2"),
    ("v=1; a=rsa-sha512; d=example.org; s=s1; h=from", "unsupported algorithm a=rsa-sha512"),
    ("v=1; a=RSA-SHA256; d=example.org; s=s1; h=from", "unsupported algorithm"),  # values are case-sensitive
    ("v=1; a=rsa-sha256; c=fancy/simple; d=example.org; s=s1; h=from", "unknown canonicalization"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=to:subject", "h= does not include From"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; i=joe@example.com", "not within d=example.org"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; i=joe@notexample.org", "not within d="),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; i=joe", "invalid identity"),
    ("v=1; a=rsa-sha256; d=legitimate.com(.attacker.com; s=s1; h=from", "invalid d="),
    ("v=1; a=rsa-sha256; d=example.org; s=s 1; h=from", "invalid s="),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; q=http/well-known", "unsupported query method"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; t=200; x=100", "x= is not later than t="),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; t=soon", "invalid t=soon"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; l=-5", "invalid l=-5"),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from; d=example.net", "duplicated DKIM tag d="),
    ("v=1; a=rsa-sha256; d=example.org; s=s1; h=from;; t=1", "malformed DKIM tag"),
])
def test_malformed_signature_is_neutral(tags: str, reason: str, rsa_key: PrivateKey) -> None:
    result = one(crafted(MESSAGE, rsa_key, tags), zone_for(rsa_key))
    assert result.status is DkimStatus.NEUTRAL
    assert reason in result.reason


@pytest.mark.parametrize(("bh", "b", "reason"), [
    ("", None, "bh= is empty"), ("not*base64", None, "bh= is not base64"), (None, "", "b= is empty"),
    (None, "AAA", "b= is not base64"),
])
def test_malformed_hashes_are_neutral(bh: str | None, b: str | None, reason: str, rsa_key: PrivateKey) -> None:
    message = crafted(MESSAGE, rsa_key, BASE_TAGS, bh=bh)
    if b is not None:
        start = message.index(b"; b=") + 4
        message = message[:start] + b.encode() + message[message.index(b"\r\n", start):]
    result = one(message, zone_for(rsa_key))
    assert (result.status, result.reason) == (DkimStatus.NEUTRAL, reason)


def test_well_formed_variants_pass(rsa_key: PrivateKey) -> None:
    for tags in (
        BASE_TAGS + "; i=@example.org",
        BASE_TAGS + "; i=joe=40home@Sub.Example.org",  # DKIM-Quoted-Printable, case-insensitive domain
        BASE_TAGS + "; q=dns/txt; z=From:joe@example.org; future=ignored",
        "v=1; a=rsa-sha256; d=example.org; s=s1; h=From : To",  # c= absent: simple/simple
        BASE_TAGS.replace("h=from:to:subject", "h=from:x-absent:from"),  # absent fields sign nothing
    ):
        result = one(crafted(MESSAGE, rsa_key, tags), zone_for(rsa_key))
        assert result.passed, (tags, result.reason)
    assert one(crafted(MESSAGE, rsa_key, BASE_TAGS + "; i=joe=40home@Sub.Example.org"), zone_for(rsa_key)).identity \
        == "joe@home@Sub.Example.org"


# --- algorithms, keys and policy ----------------------------------------------------------------

def test_rsa_sha1_is_refused_unless_the_policy_allows_it(rsa_key: PrivateKey) -> None:
    message = crafted(MESSAGE, rsa_key, BASE_TAGS.replace("rsa-sha256", "rsa-sha1"))
    refused = one(message, zone_for(rsa_key))
    assert refused.status is DkimStatus.POLICY and "rsa-sha1" in refused.reason
    assert one(message, zone_for(rsa_key), policy=VerifyPolicy(allow_sha1=True)).passed
    tampered = message.replace(b"Joe.", b"Jim.")
    assert one(tampered, zone_for(rsa_key), policy=VerifyPolicy(allow_sha1=True)).status is DkimStatus.FAIL


def test_rsa_keys_under_1024_bits_fail(rsa_key: PrivateKey) -> None:
    short = serialization.load_pem_private_key(RSA_512_PEM, None)
    assert isinstance(short, rsa.RSAPrivateKey) and short.key_size == 512
    result = one(crafted(MESSAGE, short, BASE_TAGS), zone_for(short))  # type: ignore[arg-type]
    assert result.status is DkimStatus.FAIL and "512 bits" in result.reason and result.key_bits == 512


def test_body_length_limit(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T, body_length=True)
    assert one(header + MESSAGE, zone_for(rsa_key)).passed  # l= covers the whole body
    appended = header + MESSAGE + b"Click here: http://mallory.example/\r\n"
    refused = one(appended, zone_for(rsa_key))
    assert refused.status is DkimStatus.POLICY and "unsigned" in refused.reason
    assert one(appended, zone_for(rsa_key), policy=VerifyPolicy(allow_partial_body=True)).passed
    truncated = one(header + MESSAGE.replace(b"\r\n\r\nJoe.\r\n", b"\r\n"), zone_for(rsa_key))
    assert truncated.status is DkimStatus.FAIL and "longer than the body" in truncated.reason


def test_expiry_and_future_timestamps_with_clock_skew(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T, expiry=T + 3600)
    zone = zone_for(rsa_key)
    assert one(header + MESSAGE, zone, now=T + 3600 + 299).passed  # within the default 300 s
    expired = one(header + MESSAGE, zone, now=T + 3600 + 301)
    assert expired.status is DkimStatus.FAIL and "expired" in expired.reason
    assert one(header + MESSAGE, zone, now=T - 299).passed
    future = one(header + MESSAGE, zone, now=T - 301)
    assert future.status is DkimStatus.FAIL and "future" in future.reason
    assert one(header + MESSAGE, zone, now=T - 301, policy=VerifyPolicy(clock_skew=600)).passed


@pytest.mark.parametrize(("zone", "status", "reason"), [
    ({}, DkimStatus.PERMERROR, "no key record at s1._domainkey.example.org (nxdomain)"),
    ({"s1._domainkey.example.org": [{"A": "192.0.2.1"}]}, DkimStatus.PERMERROR, "(nodata)"),
    ({"s1._domainkey.example.org": ["TIMEOUT"]}, DkimStatus.TEMPERROR, "timeout"),
    ({"s1._domainkey.example.org": ["SERVFAIL"]}, DkimStatus.TEMPERROR, "servfail"),
    ({"s1._domainkey.example.org": [{"TXT": "v=spf1 -all"}]}, DkimStatus.PERMERROR, "key record has v=spf1"),
    ({"s1._domainkey.example.org": [{"TXT": "hello world"}]}, DkimStatus.PERMERROR, "malformed DKIM tag"),
])
def test_key_lookup_failures(zone: ZoneData, status: DkimStatus, reason: str, rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    result = one(header + MESSAGE, zone)
    assert result.status is status and reason in result.reason


@pytest.mark.parametrize(("record", "status", "reason"), [
    ("v=DKIM1; k=rsa; p=", DkimStatus.PERMERROR, "revoked"),
    ("v=DKIM2; k=rsa; p={p}", DkimStatus.PERMERROR, "v=DKIM2"),
    ("k=rsa; v=DKIM1; p={p}", DkimStatus.PERMERROR, "v= after other tags"),
    ("v=DKIM1; k=ed25519; p={p}", DkimStatus.PERMERROR, "not a valid ed25519 key"),
    ("v=DKIM1; k=ed25519-sha256; p={p}", DkimStatus.PERMERROR, "unknown key type"),
    ("v=DKIM1; k=rsa; p={p}AAAA", DkimStatus.PERMERROR, "not a valid rsa key"),
    ("v=DKIM1; k=rsa; p=!!{p}", DkimStatus.PERMERROR, "not base64"),
    ("v=DKIM1; k=rsa", DkimStatus.PERMERROR, "no p="),
    ("v=DKIM1; h=sha1; k=rsa; p={p}", DkimStatus.PERMERROR, "h= does not allow sha256"),
    ("v=DKIM1; s=tlsrpt; p={p}", DkimStatus.PERMERROR, "s= does not include email"),
    ("v=DKIM1; h=sha1:sha256; s=tlsrpt:email; n=notes; p={p}", DkimStatus.PASS, "verified"),
    ("v=DKIM1; s=*; t=x:q; p={p}", DkimStatus.PASS, "verified"),  # unknown flags are ignored
    ("p={p}", DkimStatus.PASS, "verified"),  # v= and k= are optional
])
def test_key_records(record: str, status: DkimStatus, reason: str, rsa_key: PrivateKey) -> None:
    p = parse_tag_list(public_key_record(rsa_key))["p"]
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    result = one(header + MESSAGE, zone_for(rsa_key, record=record.format(p=p)))
    assert result.status is status and reason in result.reason, result.reason


def test_key_type_must_match_the_algorithm(rsa_key: PrivateKey, ed_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=ed_key, timestamp=T)
    result = one(header + MESSAGE, zone_for(rsa_key))
    assert result.status is DkimStatus.PERMERROR and "k=rsa does not match a=ed25519-sha256" in result.reason


def test_first_dkim_record_among_several_txt_records_counts(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    zone = {"s1._domainkey.example.org": [{"TXT": "google-site-verification=abc"}, {"TXT": public_key_record(rsa_key)}]}
    assert one(header + MESSAGE, zone).passed


def test_testing_flag_is_reported_not_acted_on(rsa_key: PrivateKey) -> None:
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T)
    zone = zone_for(rsa_key, record=public_key_record(rsa_key, testing=True))
    passed = one(header + MESSAGE, zone)
    assert passed.passed and passed.testing and "t=y" in passed.reason
    failed = one(header + MESSAGE.replace(b"Joe.", b"Jim."), zone)
    assert failed.status is DkimStatus.FAIL and failed.testing


def test_strict_flag_wants_identity_in_d_itself(rsa_key: PrivateKey) -> None:
    strict = public_key_record(rsa_key).replace("k=rsa;", "k=rsa; t=s;")
    for identity, status in (("joe@example.org", DkimStatus.PASS), ("joe@mail.example.org", DkimStatus.PERMERROR),
                             (None, DkimStatus.PASS)):
        header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T, identity=identity)
        result = one(header + MESSAGE, zone_for(rsa_key, record=strict))
        assert result.status is status, (identity, result.reason)
    # without t=s a subdomain identity is fine
    header = sign(MESSAGE, domain="example.org", selector="s1", private_key=rsa_key, timestamp=T,
                  identity="joe@mail.example.org")
    assert one(header + MESSAGE, zone_for(rsa_key)).passed


def test_parse_key_record() -> None:
    key = generate_key("ed25519-sha256")
    record = parse_key_record(public_key_record(key, testing=True) + "; h=sha256; s=email")
    assert record.key_type == "ed25519" and record.testing and not record.strict and record.bits is None
    assert record.allows_hash("sha256") and not record.allows_hash("sha1") and record.for_email
    revoked = parse_key_record("v=DKIM1; p=")
    assert revoked.revoked and revoked.key_type == "rsa" and revoked.services == frozenset({"*"})
    with pytest.raises(DkimError, match="duplicated"):
        parse_key_record("v=DKIM1; p=; p=")


# --- robustness: whatever a field holds, the verifier gives a result --------------------------

TAG_TEXT = st.lists(
    st.sampled_from(["v=1", "a=rsa-sha256", "a=ed25519-sha256", "d=example.org", "s=s1", "h=from", "bh=AAAA",
                     "b=AAAA", "c=relaxed", "i=@example.org", "l=5", "t=1", "x=2", "q=dns/txt", ";", "=", " ",
                     "\r\n ", "\u0661", "\xff", "d=\u00fc.example", "i=\u00e9@\u00fc.example", "s=a..b"]),
    max_size=12,
).map(";".join)


@settings(max_examples=300, deadline=None)
@given(TAG_TEXT)
def test_any_signature_field_gets_a_result(value: str) -> None:
    try:
        parse_signature(value, "dkim")
    except DkimError:
        pass
    message = b"DKIM-Signature: " + value.encode("utf-8") + b"\r\n" + MESSAGE
    (result,) = check(message, {"s1._domainkey.example.org": [{"TXT": "v=DKIM1; p="}]})
    assert result.status is not DkimStatus.PASS


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_key_record_is_read_or_refused(record: str) -> None:
    try:
        parse_key_record(record)
    except DkimError:
        pass
