"""DKIM keys: generation, PEM, DNS records, selector names, and the 0600 key file writer."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keyfile import write_private_key
from postoffice.auth.dkim.keys import (
    SelectorName,
    generate_key,
    key_algorithm,
    load_private_key,
    parse_selector,
    private_key_pem,
    public_key_from_record,
    public_key_record,
    record_name,
    selector_name,
    txt_strings,
    zone_file_value,
)
from postoffice.auth.dkim.sign import sign
from postoffice.auth.dkim.tags import parse_tag_list


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    key = generate_key("rsa-sha256")
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def test_generate_rsa_2048(rsa_key: rsa.RSAPrivateKey) -> None:
    assert rsa_key.key_size == 2048
    assert rsa_key.public_key().public_numbers().e == 65537
    assert key_algorithm(rsa_key) == key_algorithm(rsa_key.public_key()) == "rsa-sha256"


def test_generate_ed25519() -> None:
    key = generate_key("ed25519-sha256")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert key_algorithm(key) == "ed25519-sha256"
    with pytest.raises(DkimError):
        generate_key("rsa-sha1")  # type: ignore[arg-type]
    with pytest.raises(DkimError):
        generate_key("rsa-sha256", rsa_bits=512)


def test_pem_is_pkcs8_and_loads_back(rsa_key: rsa.RSAPrivateKey) -> None:
    for key in (rsa_key, generate_key("ed25519-sha256")):
        pem = private_key_pem(key)
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
        loaded = load_private_key(pem)
        assert type(loaded) is type(key)
        assert public_key_record(loaded) == public_key_record(key)


def test_load_traditional_and_raw_seed(rsa_key: rsa.RSAPrivateKey) -> None:
    pkcs1 = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert public_key_record(load_private_key(pkcs1)) == public_key_record(rsa_key)
    # RFC 8032 7.1 TEST 1 seed as dkimpy stores it: base64 of the 32 raw octets
    seed = load_private_key(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n")
    assert public_key_record(seed) == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


# A 512-bit RSA key (cryptography refuses to generate one): too short for DKIM (RFC 8301).
RSA_512 = b"""-----BEGIN PRIVATE KEY-----
MIIBUwIBADANBgkqhkiG9w0BAQEFAASCAT0wggE5AgEAAkEA7SDMfqfX6SrtxMWD
98ZvklxyVNX2Vc8yzJwVTMKsVF5nmlAHCnJS1T4BHhyuScP5aFZFypRPw23vy/xL
cH1HqQIDAQABAkApIOI3KZd6WrbIxVVhWWqqoRw3eLD0Ky7tbDkJik5nh27C8te9
t28mi5JjBX3F+VdqWuBI0D/8risNo7OS5zmdAiEA/Q9LfuVZSsPJ5riV3tNGFITJ
3e1/YLmEKLmapW2gVtsCIQDv4h3aUArBiCWvc7H9CRpi1cJDKStY0q/4qwlcLDG4
ywIgfeUKDgtTrNpSq7HQ/ZXmG3ckZoAtCpXApfIQeZRcXFkCIHfUepkt1tGqkzi8
ELOYMoggw/QMwsySIrmTpw9WPFhVAiBFqYeI91xHPoOS10Ty3nXbkvrag0OGKTto
9JGU4YSvQA==
-----END PRIVATE KEY-----
"""


def test_load_refuses_unusable_keys() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for pem in (RSA_512, ec_pem):
        with pytest.raises(DkimError):
            load_private_key(pem)
    for junk in (b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", b"not a key", b"AAAA"):
        with pytest.raises(DkimError):
            load_private_key(junk)


def test_sign_refuses_short_rsa_key() -> None:
    short = serialization.load_pem_private_key(RSA_512, None)
    assert isinstance(short, rsa.RSAPrivateKey)
    message = b"From: a@example.org\r\n\r\nbody\r\n"
    with pytest.raises(DkimError, match="too short"):
        sign(message, domain="example.org", selector="s1", private_key=short, timestamp=None)


def test_public_key_record(rsa_key: rsa.RSAPrivateKey) -> None:
    record = public_key_record(rsa_key)
    tags = parse_tag_list(record)
    assert list(tags) == ["v", "k", "p"] and tags["v"] == "DKIM1" and tags["k"] == "rsa"
    spki = rsa_key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(tags["p"]) == spki
    assert len(record) > 255  # a 2048-bit key needs two TXT strings
    assert "t=y;" in public_key_record(rsa_key, testing=True)
    ed = generate_key("ed25519-sha256")
    ed_tags = parse_tag_list(public_key_record(ed.public_key()))
    assert ed_tags["k"] == "ed25519" and len(base64.b64decode(ed_tags["p"])) == 32  # RFC 8463 4.2


def test_public_key_from_record_round_trip(rsa_key: rsa.RSAPrivateKey) -> None:
    back = public_key_from_record(public_key_record(rsa_key))
    assert isinstance(back, rsa.RSAPublicKey)
    assert back.public_numbers() == rsa_key.public_key().public_numbers()
    # a bare PKCS#1 RSAPublicKey in p=, as some publish it
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    bare = public_key_from_record("k=rsa; p=" + base64.b64encode(pkcs1).decode())
    assert isinstance(bare, rsa.RSAPublicKey) and bare.public_numbers() == back.public_numbers()
    ed = generate_key("ed25519-sha256")
    ed_back = public_key_from_record(public_key_record(ed).encode())
    assert isinstance(ed_back, ed25519.Ed25519PublicKey)
    for bad in ("v=DKIM1; p=", "v=DKIM2; p=AAAA", "k=dsa; p=AAAA", "k=rsa; p=!!!", "k=ed25519; p=AAAA"):
        with pytest.raises(DkimError):
            public_key_from_record(bad)


def test_txt_strings_and_zone_file(rsa_key: rsa.RSAPrivateKey) -> None:
    record = public_key_record(rsa_key)
    strings = txt_strings(record)
    assert "".join(strings) == record
    assert all(len(s.encode()) <= 255 for s in strings) and len(strings) == 2
    assert len(strings[0]) == 255
    assert txt_strings("short") == ["short"] and txt_strings("") == [""]
    assert txt_strings("x" * 510) == ["x" * 255, "x" * 255]
    rendered = zone_file_value(record)
    assert rendered == " ".join(f'"{s}"' for s in strings)
    assert zone_file_value('a"b\\c') == '"a\\"b\\\\c"'
    assert record_name("po2026m11r", "example.org.") == "po2026m11r._domainkey.example.org"


def test_selector_names() -> None:
    when = dt.date(2026, 11, 3)
    assert selector_name("rsa-sha256", when) == "po2026m11r"
    assert selector_name("ed25519-sha256", when) == "po2026m11e"
    assert selector_name("rsa-sha256", dt.datetime(2027, 1, 31, 23, 59), serial=2) == "po2027m01r2"
    assert parse_selector("po2026m11r") == SelectorName("rsa-sha256", 2026, 11)
    assert parse_selector("po2026m11e") == SelectorName("ed25519-sha256", 2026, 11)
    assert parse_selector("po2027m01r12") == SelectorName("rsa-sha256", 2027, 1, 12)
    for foreign in ("google", "s1", "po2026m13r", "po2026m00e", "po2026m11x", "po2026m11r1", "po2026m11r0",
                    "xpo2026m11r", "po2026m11rr"):
        assert parse_selector(foreign) is None, foreign
    # names sort by date within an algorithm
    names = [selector_name("rsa-sha256", dt.date(y, m, 1)) for y, m in ((2025, 12), (2026, 1), (2026, 10))]
    assert names == sorted(names)
    with pytest.raises(DkimError):
        selector_name("rsa-sha256", when, serial=0)


def test_write_private_key_is_0600_and_atomic(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "example.org.po2026m11r.pem"
    pem = private_key_pem(rsa_key)
    old_umask = os.umask(0)  # even with a permissive umask the file is 0600
    try:
        write_private_key(path, pem)
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # replacing: a world-readable file at the path is replaced by a 0600 one, no temp file left
    path.write_bytes(b"old")
    path.chmod(0o644)
    pem2 = private_key_pem(generate_key("ed25519-sha256"))
    write_private_key(str(path), pem2)
    assert path.read_bytes() == pem2 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert isinstance(load_private_key(path.read_bytes()), ed25519.Ed25519PrivateKey)


def test_write_private_key_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    (target / "x").write_text("")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        write_private_key(target, b"pem")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way"]
    with pytest.raises(FileNotFoundError):
        write_private_key(tmp_path / "missing" / "key.pem", b"pem")
