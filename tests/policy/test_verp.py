"""VERP return paths: encode, decode, and refusing what was not made with our secret."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postoffice.policy.verp import MAX_LOCAL_PART, VerpToken, decode, encode

SECRET = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"
MESSAGE_ID = "01HF7Q3R2M8X4K9Z5V6T7W8Y9A"
DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


def test_lengths() -> None:
    def local(token: VerpToken) -> int:
        return len(encode(token=token, domain="x.example", secret=SECRET).split("@")[0])

    assert local(VerpToken(item=1)) == 7 + 20
    assert local(VerpToken(item=2**64 - 1)) == 7 + 34
    assert local(VerpToken(item=0, message_id=MESSAGE_ID)) == 7 + 45
    assert local(VerpToken(item=2**32 - 1, message_id=MESSAGE_ID)) == 7 + 52


def test_item_token_round_trip() -> None:
    address = encode(token=VerpToken(item=42), domain="bounces.example.org", secret=SECRET)
    local, domain = address.split("@")
    assert domain == "bounces.example.org"
    assert local.startswith("bounce+")
    assert re.fullmatch(r"bounce\+[a-z2-7]+", local)
    assert decode(address, SECRET) == VerpToken(item=42)


def test_message_and_recipient_token_round_trip() -> None:
    token = VerpToken(item=3, message_id=MESSAGE_ID)
    address = encode(token=token, domain="example.org", secret=SECRET)
    assert decode(address, SECRET) == token
    assert len(address.split("@")[0]) <= MAX_LOCAL_PART


def test_deterministic_and_distinct() -> None:
    a = encode(token=VerpToken(item=1), domain="example.org", secret=SECRET)
    assert a == encode(token=VerpToken(item=1), domain="example.org", secret=SECRET)
    assert a != encode(token=VerpToken(item=2), domain="example.org", secret=SECRET)
    assert a != encode(token=VerpToken(item=1), domain="example.org", secret=OTHER)


def test_upper_cased_by_a_relay() -> None:
    address = encode(token=VerpToken(item=7, message_id=MESSAGE_ID), domain="example.org",
                     secret=SECRET)
    assert decode(address.upper(), SECRET) == VerpToken(item=7, message_id=MESSAGE_ID)
    assert decode(address.swapcase(), SECRET) == VerpToken(item=7, message_id=MESSAGE_ID)
    assert decode(f"<{address}>", SECRET) == VerpToken(item=7, message_id=MESSAGE_ID)


def test_message_id_comes_back_upper_case() -> None:
    token = VerpToken(item=0, message_id=MESSAGE_ID.lower())
    got = decode(encode(token=token, domain="example.org", secret=SECRET), SECRET)
    assert got == VerpToken(item=0, message_id=MESSAGE_ID)


def test_wrong_secret() -> None:
    address = encode(token=VerpToken(item=42), domain="example.org", secret=SECRET)
    assert decode(address, OTHER) is None


def test_rotated_secrets() -> None:
    old = encode(token=VerpToken(item=42), domain="example.org", secret=OTHER)
    assert decode(old, [SECRET, OTHER]) == VerpToken(item=42)
    assert decode(old, (SECRET,)) is None


def test_every_single_character_change_is_refused() -> None:
    address = encode(token=VerpToken(item=99, message_id=MESSAGE_ID), domain="example.org",
                     secret=SECRET)
    local, domain = address.split("@")
    start = len("bounce+")
    for i in range(start, len(local)):
        for c in "abcdefghijklmnopqrstuvwxyz234567":
            if c != local[i]:
                forged = f"{local[:i]}{c}{local[i + 1:]}@{domain}"
                assert decode(forged, SECRET) is None, forged


def test_forged_payload_with_recomputed_base32_is_refused() -> None:
    address = encode(token=VerpToken(item=5), domain="example.org", secret=SECRET)
    token = address.split("+")[1].split("@")[0]
    raw = bytearray(base64.b32decode(token.upper() + "=" * (-len(token) % 8)))
    raw[1] ^= 1  # item 5 -> 4, MAC unchanged
    forged = base64.b32encode(bytes(raw)).decode().rstrip("=").lower()
    assert decode(f"bounce+{forged}@example.org", SECRET) is None


@pytest.mark.parametrize(
    "address",
    ["", "bounce@example.org", "bounce+@example.org", "bounce+abc", "other+aaaa@example.org",
     "bounce+a!b@example.org", "bounce+aaaaaaaa@example.org", "bounce+a1@example.org",
     "bounce+aaaaaaaaaaaaaaaaaaaaaaaaaa=@example.org", "bounce+" + "a" * 200 + "@example.org"],
)
def test_malformed(address: str) -> None:
    assert decode(address, SECRET) is None


def test_truncated_token_is_refused() -> None:
    address = encode(token=VerpToken(item=5), domain="example.org", secret=SECRET)
    local, domain = address.split("@")
    for cut in range(1, len(local) - len("bounce+")):
        assert decode(f"{local[:-cut]}@{domain}", SECRET) is None


def test_custom_prefix() -> None:
    address = encode("rp.Bulk", token=VerpToken(item=5), domain="example.org", secret=SECRET)
    assert address.startswith("rp.bulk+")
    assert decode(address, SECRET, prefix="rp.bulk") == VerpToken(item=5)
    assert decode(address, SECRET) is None  # not our default prefix


@pytest.mark.parametrize("prefix", ["", "a+b", "a..b", ".a", "a b", "bounce\r\n"])
def test_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        encode(prefix, token=VerpToken(item=1), domain="example.org", secret=SECRET)


def test_local_part_length_limit() -> None:
    token = VerpToken(item=2**32 - 1, message_id=MESSAGE_ID)
    longest = encode(token=token, domain="example.org", secret=SECRET)
    assert len(longest.split("@")[0]) <= MAX_LOCAL_PART
    prefix = "p" * (MAX_LOCAL_PART - len(longest.split("@")[0]) + len("bounce"))
    assert len(encode(prefix, token=token, domain="example.org", secret=SECRET).split("@")[0]) == 64
    with pytest.raises(ValueError, match="64"):
        encode(prefix + "p", token=token, domain="example.org", secret=SECRET)


@pytest.mark.parametrize(
    "token",
    [VerpToken(item=-1), VerpToken(item=2**64), VerpToken(item=1, message_id="short"),
     VerpToken(item=2**32, message_id=MESSAGE_ID),  # a recipient index is 32 bits
     VerpToken(item=1, message_id="01HF7Q3R2M8X4K9Z5V6T7W8YIU"),  # I and U are not Crockford
     VerpToken(item=1, message_id="Z" * 26)],  # more than 128 bits
)
def test_bad_tokens(token: VerpToken) -> None:
    with pytest.raises(ValueError):
        encode(token=token, domain="example.org", secret=SECRET)


def test_bad_secret_and_domain() -> None:
    with pytest.raises(ValueError):
        encode(token=VerpToken(item=1), domain="example.org", secret=b"")
    with pytest.raises(ValueError):
        encode(token=VerpToken(item=1), domain="", secret=SECRET)
    with pytest.raises(ValueError):
        decode("bounce+aaaa@example.org", b"")


crockford_ids = st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=25, max_size=25).map(
    lambda s: "0" + s) | st.text(alphabet="01234567", min_size=1, max_size=1).flatmap(
    lambda first: st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=25,
                          max_size=25).map(lambda rest: first + rest))


@given(item=st.integers(0, 2**64 - 1), message_id=st.none() | crockford_ids,
       secret=st.binary(min_size=1, max_size=64))
def test_round_trip_property(item: int, message_id: str | None, secret: bytes) -> None:
    token = VerpToken(item=item if message_id is None else item >> 32, message_id=message_id)
    address = encode(token=token, domain="example.org", secret=secret)
    local = address.split("@")[0]
    assert DOT_ATOM.match(local) and len(local) <= MAX_LOCAL_PART
    assert decode(address, secret) == token
    assert decode(address.upper(), secret) == token


@given(st.text(max_size=80))
def test_decode_never_raises(address: str) -> None:
    assert decode(address, SECRET) is None or "+" in address
