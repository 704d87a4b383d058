"""The DKIM vectors in ../shared/conformance (read in place, never copied here).

* Body hashes: every DKIM-Signature of every vector message has its bh= reproduced by our
  canonicalisation (dkimpy-testdata, mimekit-testdata/dkim, stalwart-mail-auth/dkim).
* Header hashes: every signature whose public key the vectors give checks out against the header
  data our canonicalisation builds (crypto only, no policy; the verifier itself runs on these
  vectors in test_dkim_verify_conformance.py).
* Signing: where the vectors give the private key (RFC 8463's keys, dkimpy's test.private), our
  signer reproduces the published b= exactly (RSA PKCS#1 v1.5 and Ed25519 are deterministic).
* dkimpy's own round trips with its keys: sign with each key file, verify with dkimpy.

Most files have LF line endings; like the upstream tests we convert them to CRLF first.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from postoffice.auth.dkim import DkimError, sign
from postoffice.auth.dkim.canonical import (
    HeaderField,
    body_hash,
    header_hash_input,
    parse_canonicalization,
    split_message,
)
from postoffice.auth.dkim.keys import (
    PublicKey,
    load_private_key,
    public_key_from_record,
    public_key_record,
)
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


def _conformance() -> Path:
    env = os.environ.get("POSTOFFICE_CONFORMANCE")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "conformance"


CONFORMANCE = _conformance()
DKIMPY = CONFORMANCE / "dkimpy-testdata"
MIMEKIT = CONFORMANCE / "mimekit-testdata" / "dkim"
STALWART = CONFORMANCE / "stalwart-mail-auth" / "dkim"

pytestmark = pytest.mark.skipif(not DKIMPY.is_dir(), reason=f"conformance data not found at {CONFORMANCE}")

RFC8463_ED25519 = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def crlf(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def load_vector(path: Path) -> tuple[bytes, dict[tuple[str, str], str]]:
    """The message (CRLF) and the key records that come with it, by (selector, domain)."""
    data = crlf(path.read_bytes())
    records: dict[tuple[str, str], str] = {}
    if path.parent == STALWART:  # "<selector>._domainkey.<domain> <record>" lines, a blank line, the message
        zone, data = data.split(b"\r\n\r\n", 1)
        for line in zone.decode().splitlines():
            name, record = line.split(" ", 1)
            selector, _, domain = name.partition("._domainkey.")
            records[(selector, domain)] = record
    return data, records


def known_records() -> dict[tuple[str, str], str]:
    """Key records the dkimpy and MimeKit vectors are checked against (their EXPECTED files)."""
    if not DKIMPY.is_dir():
        return {}
    test_txt = (DKIMPY / "test.txt").read_text().strip()
    gmail = "".join(line for line in (MIMEKIT / "gmail.pub").read_text().splitlines() if "-----" not in line)
    return {
        ("brisbane", "football.example.com"): RFC8463_ED25519,
        ("test", "football.example.com"): test_txt,
        ("test", "legitimate.com(.attacker.com"): test_txt,
        ("sed", "test.ex"): (DKIMPY / "eximtest.dns").read_text().strip(),
        ("20120113", "gmail.com"): "k=rsa; p=" + gmail,
    }


def vector_files() -> list[Path]:
    if not DKIMPY.is_dir():
        return []
    files = [*DKIMPY.glob("*.msg"), *DKIMPY.glob("*.message*"), DKIMPY / "message.mbox",
             *MIMEKIT.glob("*.msg"), *STALWART.glob("*.txt")]
    return sorted(files)


def signatures() -> list[tuple[Path, int]]:
    """(file, index) of every top-level DKIM-Signature field in the vector messages."""
    found = []
    for path in vector_files():
        message, _ = load_vector(path)
        fields, _ = split_message(message)
        found += [(path, i) for i, f in enumerate(fields) if f.lname == b"dkim-signature"]
    return found


SIGNATURES = signatures()


def _id(param: object) -> str:
    if isinstance(param, Path):
        return f"{param.parent.name}/{param.name}"
    return str(param)


def signature_at(path: Path, index: int) -> tuple[bytes, list[HeaderField], bytes, HeaderField, dict[str, str]]:
    message, _ = load_vector(path)
    fields, body = split_message(message)
    field = fields[index]
    return message, fields, body, field, parse_tag_list(field.value)


@pytest.mark.parametrize(("path", "index"), SIGNATURES, ids=_id)
def test_body_hash(path: Path, index: int) -> None:
    _, _, body, _, tags = signature_at(path, index)
    _, body_canon = parse_canonicalization(tags.get("c"))
    length = int(tags["l"]) if "l" in tags else None
    expected = base64.b64decode(remove_whitespace(tags["bh"]))
    assert body_hash(body, body_canon, length=length).digest == expected


# Signatures with a published key whose b= must NOT check out, and why (from EXPECTED.md).
EXPECTED_BAD = {
    ("rfc6376.signed.no_t.msg", "test"): "b= copied from the t= variant; upstream expects verify() == False",
}


def _verify_b(public: PublicKey, algorithm: str, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(public, rsa.RSAPublicKey):
            digest = hashes.SHA256() if algorithm == "rsa-sha256" else hashes.SHA1()  # noqa: S303
            public.verify(signature, data, padding.PKCS1v15(), digest)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, hashlib.sha256(data).digest())
        return True
    except InvalidSignature:
        return False


def record_for(path: Path, tags: dict[str, str]) -> str | None:
    return {**known_records(), **load_vector(path)[1]}.get((tags["s"], tags["d"]))


# Every signature but one has its key in the vectors (message.mbox's kitterman.com key is not).
KEYED = [(p, i) for p, i in SIGNATURES if record_for(p, signature_at(p, i)[4]) is not None]


@pytest.mark.parametrize(("path", "index"), KEYED, ids=_id)
def test_header_hash(path: Path, index: int) -> None:
    _, fields, _, field, tags = signature_at(path, index)
    record = record_for(path, tags)
    assert record is not None
    header_canon, _ = parse_canonicalization(tags.get("c"))
    data = header_hash_input(fields, tags["h"].split(":"), field.raw, header_canon)
    ok = _verify_b(public_key_from_record(record), tags["a"], base64.b64decode(remove_whitespace(tags["b"])), data)
    assert ok is ((path.name, tags["s"]) not in EXPECTED_BAD)


# --- signing: reproduce the published signatures from their private keys ----------------------

PRIVATE_KEYS: dict[tuple[str, str], Callable[[], bytes]] = {
    ("brisbane", "football.example.com"): lambda: (DKIMPY / "rfc8032_7_1.key").read_bytes(),
    ("test", "football.example.com"): lambda: (DKIMPY / "test.private").read_bytes(),
    ("test", "legitimate.com(.attacker.com"): lambda: (DKIMPY / "test.private").read_bytes(),
}


def reproducible() -> list[tuple[Path, int]]:
    """The vector signatures whose private key we have."""
    found = []
    for path, index in SIGNATURES:
        tags = signature_at(path, index)[4]
        if (tags["s"], tags["d"]) in PRIVATE_KEYS:
            found.append((path, index))
    return found


REPRODUCIBLE = reproducible()


def test_reproducible_inventory() -> None:
    # RFC 8463's example in three copies (2 signatures each), dkimpy's RSA variants (3).
    assert len(REPRODUCIBLE) == 9


@pytest.mark.parametrize(("path", "index"), REPRODUCIBLE, ids=_id)
def test_reproduce_published_signature(path: Path, index: int) -> None:
    message, _, _, field, tags = signature_at(path, index)
    key = load_private_key(PRIVATE_KEYS[(tags["s"], tags["d"])]())
    published = remove_whitespace(tags["b"])
    if (path.name, tags["s"]) in EXPECTED_BAD:
        assert signature_value(message, field.raw, key) != published
    else:
        assert signature_value(message, field.raw, key) == published


def test_sign_rfc8463_example_with_our_signer() -> None:
    """Our own sign() on RFC 8463's message with its keys and inputs: same bh=, and dkimpy verifies
    both signatures (the b= differs only because our field is laid out differently)."""
    message, _ = load_vector(MIMEKIT / "rfc8463-example.msg")
    fields, body = split_message(message)
    original = b"".join(f.raw for f in fields if f.lname != b"dkim-signature") + b"\r\n" + body
    records = {"brisbane._domainkey.football.example.com": RFC8463_ED25519,
               "test._domainkey.football.example.com": (DKIMPY / "test.txt").read_text().strip()}
    for selector in ("brisbane", "test"):
        key = load_private_key(PRIVATE_KEYS[(selector, "football.example.com")]())
        header = sign(original, domain="football.example.com", selector=selector, private_key=key,
                      timestamp=1528637909, identity="@football.example.com",
                      headers=["from", "to", "subject", "date", "message-id"], oversign=["from", "subject", "date"])
        tags = parse_tag_list(header.partition(b":")[2])
        assert remove_whitespace(tags["h"]) == "from:from:to:subject:subject:date:date:message-id"
        assert tags["bh"] == "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        assert dkim.verify(header + original, dnsfunc=lambda name, timeout=5: records[name.decode().rstrip(".")].encode())


# --- dkimpy's keys and round trips (EXPECTED.md: "Keys and the DNS TXT answers") ----------------

DKIMPY_KEYS = [
    ("test.private", "test.txt"),
    ("1024_testkey.key", "1024_testkey_wo_markers.pub.txt"),
    ("1024_testkey.key", "1024_testkey_wo_markers.pub.rsa.txt"),  # bare RSAPublicKey in p=
    ("2048_testkey.key", "2048_testkey_wo_markers.pub.txt"),
    ("2048_testkey.key", "2048_testkey_wo_markers.pub.rsa.txt"),
    ("2048_testkey_PKCS8.key", "2048_testkey_PKCS8.key.pub.txt"),
    ("ed25519test.key", "ed25519test.dns"),
    ("rfc8032_7_1.key", None),
]


def _dkimpy_record(name: str | None) -> str:
    if name is None:
        return RFC8463_ED25519
    text = (DKIMPY / name).read_text().strip()
    return text if "p=" in text else "v=DKIM1; k=rsa; p=" + "".join(text.split())


@pytest.mark.parametrize(("key_file", "record_file"), DKIMPY_KEYS, ids=lambda v: str(v))
@pytest.mark.parametrize("canon", [("simple", "simple"), ("simple", "relaxed"), ("relaxed", "simple"),
                                   ("relaxed", "relaxed")], ids="/".join)
def test_dkimpy_round_trip(key_file: str, record_file: str | None, canon: tuple[str, str]) -> None:
    """test.message signed with each of dkimpy's keys verifies with dkimpy against the record it
    publishes; our reading of the record is the same public key; altered copies fail."""
    key = load_private_key((DKIMPY / key_file).read_bytes())
    record = _dkimpy_record(record_file)
    assert public_key_record(public_key_from_record(record)) == public_key_record(key)
    message = crlf((DKIMPY / "test.message").read_bytes())
    header = sign(message, domain="example.com", selector="test", private_key=key, timestamp=1_700_000_000,
                  canonicalization=canon)  # type: ignore[arg-type]

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == "test._domainkey.example.com"
        return record.encode()

    assert dkim.verify(header + message, dnsfunc=dns)
    assert not dkim.verify(header + message.replace(b"test message", b"best message"), dnsfunc=dns)
    assert not dkim.verify(header + message.replace(b"\r\nTo:", b"\r\nFrom: evil@example.org\r\nTo:"), dnsfunc=dns)


def test_dkimpy_refuses_and_so_do_we_without_from() -> None:
    key = load_private_key((DKIMPY / "test.private").read_bytes())
    message = crlf((DKIMPY / "test_nofrom.message").read_bytes())
    with pytest.raises(DkimError, match="no From"):
        sign(message, domain="example.com", selector="test", private_key=key, timestamp=None)


def test_mimekit_signing_key() -> None:
    key = load_private_key((MIMEKIT / "example.pem").read_bytes())
    spki = "".join(line for line in (MIMEKIT / "example.pub").read_text().splitlines() if "-----" not in line)
    assert public_key_record(key) == f"v=DKIM1; k=rsa; p={spki}"
    bind9 = (MIMEKIT / "example.bind9").read_text()
    assert "".join(re.findall(r'"([^"]*)"', bind9)) == f"v=DKIM1;t=s;p={spki}"


def test_vector_inventory() -> None:
    # 23 files, 17 of them signed, 21 signatures: a vector going missing must not silently shrink
    # the suite.
    assert len(vector_files()) == 23
    assert len({path for path, _ in SIGNATURES}) == 17
    assert len(SIGNATURES) == 21
    assert len(KEYED) == 20
