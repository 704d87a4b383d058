#!/usr/bin/env python3
"""DKIM speed: signs and verifies per second, postoffice next to dkimpy, RSA-2048 and Ed25519.

The same 10 KB message (realistic headers, a text body with some runs of whitespace) is signed
relaxed/relaxed over the same header fields by both. Each figure is the best of ``--rounds``
timed runs of ``--seconds`` each, on one core.

* ``postoffice sign``: :func:`postoffice.auth.dkim.sign` (the header field only).
* ``postoffice verify``: :func:`postoffice.auth.dkim.verify`, the verifier itself (every check:
  tags, times, key record flags, body hash, signature), run by ``run_sync`` on an in-memory zone.
  The key record is parsed per verification, as a verifier without a key cache would.
* ``dkimpy sign`` / ``dkimpy verify``: ``dkim.sign`` and ``dkim.verify`` with a dict DNS.

Run ``.venv/bin/python bench/dkim_speed.py`` (needs dkimpy and pynacl: ``pip install dkimpy pynacl``);
``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import time
from collections.abc import Callable
from importlib import metadata

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import postoffice
from postoffice.auth.dkim import generate_key, sign
from postoffice.auth.dkim import verify as dkim_verify
from postoffice.auth.dkim.keys import PrivateKey, public_key_record, record_name
from postoffice.auth.dns import Zone, run_sync

DOMAIN, TIMESTAMP = "example.org", 1_700_000_000
NOW = int(time.time())  # dkimpy signs with t= now: verify at the real time
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]


def message_of(size: int) -> bytes:
    header = (
        b"Received: from client.example.net (client.example.net [192.0.2.1])\r\n"
        b"\tby mx.example.org with ESMTPS id 4Xy1; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"From: Newsletter <news@example.org>\r\nTo: Reader <reader@example.net>\r\n"
        b"Subject: Our monthly news, with a rather long subject line that folds\r\n over two lines\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <abc.123@example.org>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    line = b"Lorem ipsum dolor sit amet,  consectetur adipiscing elit, sed do eiusmod tempor. \r\n"
    body = line * ((size - len(header)) // len(line) + 1)
    return header + body[: size - len(header) - 2] + b"\r\n"


def verify(message: bytes, zone: Zone) -> bool:
    """The first DKIM signature of ``message`` passes (the verifier proper, DNS from ``zone``)."""
    return run_sync(dkim_verify(message, now=NOW), zone)[0].passed


def rate(operation: Callable[[], object], seconds: float, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while (now := time.perf_counter()) < deadline or count == 0:
            operation()
            count += 1
        best = max(best, count / (now - start))
    return best


def dkimpy_private(key: PrivateKey) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return base64.b64encode(raw)


def bench(size: int, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    message = message_of(size)
    results: dict[str, dict[str, float]] = {}
    for algorithm in ("rsa-sha256", "ed25519-sha256"):
        key = generate_key(algorithm)  # type: ignore[arg-type]
        records = {record_name("s1", DOMAIN): public_key_record(key)}
        zone = Zone.from_data({name: [{"TXT": value}] for name, value in records.items()})

        def dns(name: bytes, timeout: int = 5, records: dict[str, str] = records) -> bytes:
            return records[name.decode().rstrip(".")].encode()

        def ours_sign(key: PrivateKey = key) -> bytes:
            return sign(message, domain=DOMAIN, selector="s1", private_key=key, timestamp=TIMESTAMP, headers=HEADERS)

        private = dkimpy_private(key)

        def theirs_sign(private: bytes = private, algorithm: str = algorithm) -> bytes:
            return bytes(dkim.sign(message, b"s1", DOMAIN.encode(), private, canonicalize=(b"relaxed", b"relaxed"),
                                   signature_algorithm=algorithm.encode(),
                                   include_headers=[h.lower().encode() for h in ["From", *HEADERS]]))

        ours_signed, theirs_signed = ours_sign() + message, theirs_sign() + message
        # both verifiers accept both signers' output before anything is timed
        for signed in (ours_signed, theirs_signed):
            assert verify(signed, zone), algorithm
            assert dkim.verify(signed, dnsfunc=dns), algorithm
        results[algorithm] = {
            "postoffice sign": rate(ours_sign, seconds, rounds),
            "dkimpy sign": rate(theirs_sign, seconds, rounds),
            "postoffice verify": rate(lambda s=ours_signed, z=zone: verify(s, z), seconds, rounds),
            "dkimpy verify": rate(lambda s=ours_signed, d=dns: dkim.verify(s, dnsfunc=d), seconds, rounds),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=10_240, help="message size in octets (default 10 KB)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per figure (the best counts)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = bench(args.size, args.seconds, args.rounds)
    if args.json:
        print(json.dumps({"size": args.size, "results": results}, indent=2))
        return
    print(f"DKIM, {args.size} octet message, relaxed/relaxed; postoffice {postoffice.__version__}, "
          f"dkimpy {metadata.version('dkimpy')}, Python {platform.python_version()}, one core")
    print(f"{'algorithm':<16}{'operation':<10}{'postoffice/s':>14}{'dkimpy/s':>12}{'ratio':>8}")
    for algorithm, figures in results.items():
        for operation in ("sign", "verify"):
            ours, theirs = figures[f"postoffice {operation}"], figures[f"dkimpy {operation}"]
            print(f"{algorithm:<16}{operation:<10}{ours:>14,.0f}{theirs:>12,.0f}{ours / theirs:>7.1f}x")


if __name__ == "__main__":
    main()
