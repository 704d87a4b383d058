"""The DKIM verifier on the public vectors in ../shared/conformance, with dkimpy as the oracle.

* Every DKIM-Signature of the vector messages (dkimpy-testdata, mimekit-testdata/dkim,
  stalwart-mail-auth/dkim, and the DKIM signatures inside stalwart-mail-auth/arc) gets the result
  written in EXPECTED below, and passes exactly when dkimpy's verifier says it does.
* Clocks: each file is verified 60 s after its latest ``t=`` (or at 2023-11-14 when it has none),
  dkimpy at the same time. stalwart's own test uses one fixed time, 1667843664, which is 5 h 19 min
  before dkim/004.txt's ``t=``: stalwart ignores ``t=`` in the future, this verifier (as RFC 6376
  6.1.1 allows) does not, beyond its clock skew.
* dkimpy's keys and records (EXPECTED.md): messages dkimpy signs with each key verify here, and the
  broken records it serves in its tests (badversion, badk, test_bad, a key for another service)
  make verification fail cleanly.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

# The vector inventory and key records are read by the signing-side conformance test (one place);
# importing it also skips this module when dkimpy, the oracle, is missing.
from test_dkim_conformance import (
    DKIMPY,
    DKIMPY_KEYS,
    STALWART,
    _dkimpy_record,
    crlf,
    dkim,  # dkimpy, the oracle
    known_records,
    load_vector,
    vector_files,
)

from postoffice.auth.dkim import DkimStatus, verify
from postoffice.auth.dkim.canonical import split_message
from postoffice.auth.dkim.tags import parse_tag_list
from postoffice.auth.dns import run_sync

STALWART_ARC = STALWART.parent / "arc"
pytestmark = pytest.mark.skipif(not DKIMPY.is_dir(), reason="conformance data not found")

PASS, FAIL, NEUTRAL, PERMERROR = DkimStatus.PASS, DkimStatus.FAIL, DkimStatus.NEUTRAL, DkimStatus.PERMERROR

# Results per signature, top to bottom. Files without a DKIM-Signature are listed with [].
EXPECTED: dict[str, list[DkimStatus]] = {
    "dkimpy-testdata/ed25519test.msg": [],
    "dkimpy-testdata/ed25519test2.msg": [PASS],  # signed by Exim
    "dkimpy-testdata/message.mbox": [PERMERROR],  # the kitterman.com key is not in the vectors
    "dkimpy-testdata/rfc6376.msg": [],
    "dkimpy-testdata/rfc6376.signed.msg": [PASS, PASS],  # Ed25519 and RSA (RFC 8463 A.3)
    "dkimpy-testdata/rfc6376.signed.no_t.msg": [FAIL],  # b= copied from the t= variant
    "dkimpy-testdata/rfc6376.signed.rsa.msg": [PASS],  # with test.txt; see the broken-key test
    "dkimpy-testdata/rfc6376.w1258.msg": [],
    "dkimpy-testdata/test.message": [],
    "dkimpy-testdata/test.message.baddomain": [NEUTRAL],  # d=legitimate.com(.attacker.com
    "dkimpy-testdata/test2.message": [PASS],
    "dkimpy-testdata/test_extra.message": [],
    "dkimpy-testdata/test_nofrom.message": [],
    "dkim/gmail.msg": [PASS],
    "dkim/multipart-no-end-boundary.msg": [PASS],
    "dkim/related.msg": [PASS],
    "dkim/rfc8463-example.msg": [PASS, PASS],
    "dkim/001.txt": [PASS, PASS],
    "dkim/002.txt": [PASS],  # i= in a subdomain of d=; p= a bare PKCS#1 key
    "dkim/003.txt": [PASS, PASS],
    "dkim/004.txt": [PASS],
    "dkim/005.txt": [PASS],  # x= a day after t=
    "dkim/006.txt": [PASS],
    "arc/001.txt": [PASS, PASS, FAIL],  # the list rewrote the body: the author's bh= fails (ARC's case)
    "arc/002.txt": [PASS],  # key record t=s
}


def vectors() -> list[Path]:
    if not DKIMPY.is_dir():
        return []
    return [*vector_files(), *sorted(STALWART_ARC.glob("*.txt"))]


def label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def message_and_records(path: Path) -> tuple[bytes, dict[tuple[str, str], str]]:
    if path.parent != STALWART_ARC:
        message, records = load_vector(path)
    else:  # the same layout as stalwart's DKIM files: DNS lines, a blank line, the message
        zone, message = crlf(path.read_bytes()).split(b"\r\n\r\n", 1)
        records = {}
        for line in zone.decode().splitlines():
            name, record = line.split(" ", 1)
            selector, _, domain = name.partition("._domainkey.")
            records[(selector, domain)] = record
    return message, {**known_records(), **records}


def clock(message: bytes) -> int:
    fields, _ = split_message(message)
    times = [int(parse_tag_list(f.value).get("t") or 0) for f in fields if f.lname == b"dkim-signature"]
    return max(times) + 60 if any(times) else 1_700_000_000


def zone_of(records: dict[tuple[str, str], str]) -> dict[str, list[object]]:
    # a name that is no DNS name (the baddomain vector's) is left out: it is never asked for
    return {f"{s}._domainkey.{d}": [{"TXT": r}] for (s, d), r in records.items() if "(" not in d}


def dkimpy_verdicts(message: bytes, records: dict[tuple[str, str], str], now: int, count: int,
                    monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    monkeypatch.setattr(dkim, "time", types.SimpleNamespace(time=lambda: now))

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        selector, _, domain = name.decode().rstrip(".").partition("._domainkey.")
        record = records.get((selector, domain))
        return record.encode() if record else None

    verdicts = []
    for index in range(count):
        try:
            verdicts.append(bool(dkim.DKIM(message).verify(idx=index, dnsfunc=dns)))
        except dkim.DKIMException:
            verdicts.append(False)
    return verdicts


@pytest.mark.parametrize("path", vectors(), ids=label)
def test_vector(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message, records = message_and_records(path)
    now = clock(message)
    results = run_sync(verify(message, now=now), zone_of(records))
    assert [r.status for r in results] == EXPECTED[label(path)], [r.reason for r in results]
    assert [r.passed for r in results] == dkimpy_verdicts(message, records, now, len(results), monkeypatch)


def test_inventory() -> None:
    assert sorted(label(p) for p in vectors()) == sorted(EXPECTED)
    assert sum(len(v) for v in EXPECTED.values()) == 25


@pytest.mark.parametrize(("key_file", "record_file"), DKIMPY_KEYS, ids=str)
@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"simple", b"relaxed"), (b"relaxed", b"simple"),
                                   (b"relaxed", b"relaxed")], ids=lambda c: b"/".join(c).decode())
def test_dkimpy_signs_we_verify(key_file: str, record_file: str | None, canon: tuple[bytes, bytes]) -> None:
    private = (DKIMPY / key_file).read_bytes()
    algorithm = b"rsa-sha256" if b"-----BEGIN" in private else b"ed25519-sha256"
    message = crlf((DKIMPY / "test.message").read_bytes())
    header = dkim.sign(message, b"test", b"example.com", private, canonicalize=canon, signature_algorithm=algorithm)
    zone = {"test._domainkey.example.com": [{"TXT": _dkimpy_record(record_file)}]}
    now = int(parse_tag_list(header.split(b":", 1)[1])["t"])
    (result,) = run_sync(verify(header + message, now=now), zone)
    assert result.passed, result.reason
    (altered,) = run_sync(verify(header + message.replace(b"test message", b"best message"), now=now), zone)
    assert altered.status is FAIL and altered.reason == "body hash did not verify"


@pytest.mark.parametrize(("record_file", "status", "reason"), [
    ("test.txt", PASS, "verified"),
    ("test2.txt", PASS, "verified"),  # no k=: rsa
    ("badversion.txt", PERMERROR, "v=DKIM1:"),
    ("badk.txt", PERMERROR, "unknown key type k=ed25519-sha256"),
    ("test_bad.txt", PERMERROR, "not a valid rsa key"),
    ("test_tlsrpt.txt", PERMERROR, "s= does not include email"),
])
def test_dkimpy_key_records(record_file: str, status: DkimStatus, reason: str) -> None:
    message = crlf((DKIMPY / "rfc6376.signed.rsa.msg").read_bytes())
    zone = {"test._domainkey.football.example.com": [{"TXT": (DKIMPY / record_file).read_text().strip()}]}
    (result,) = run_sync(verify(message, now=clock(message)), zone)
    assert result.status is status and reason in result.reason, result.reason
