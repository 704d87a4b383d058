"""SRS addresses: fixed vectors (computed with the `srslib` package and by hand), reversal, age."""

import pytest

from postoffice.policy import srs

SECRET = b"postoffice-test-secret"
DAY = 20000  # 2024-10-04; 20000 % 1024 = 544 = 17 * 32 + 0: "RA"


def test_timestamp_is_the_day_mod_1024_in_base32() -> None:
    assert srs.timestamp(DAY) == "RA"
    assert srs.timestamp(0) == "AA" and srs.timestamp(1023) == "77" and srs.timestamp(1024) == "AA"
    assert srs.age_days("RA", DAY) == 0 and srs.age_days("ra", DAY + 3) == 3
    assert srs.age_days("77", 1024 + 2) == 3  # the stamp wraps
    assert srs.age_days("R1", DAY) is None and srs.age_days("RAA", DAY) is None


def test_srs0_vector() -> None:
    address = srs.forward("alice@sender.example", "example.test", SECRET, DAY)
    assert address == "SRS0=gKeA=RA=sender.example=alice@example.test"
    assert srs.reverse(address, SECRET, DAY) == "alice@sender.example"
    assert srs.is_srs(address) and not srs.is_srs("alice@sender.example")


def test_srs1_from_srs0_and_from_srs1() -> None:
    srs0 = "SRS0=abcd=ZZ=orig.example=Joe@first.example"
    srs1 = srs.forward(srs0, "example.test", SECRET, DAY)
    assert srs1 == "SRS1=hmQL=first.example==abcd=ZZ=orig.example=Joe@example.test"
    # A bounce goes back to the first forwarder, which checks its own hash and age.
    assert srs.reverse(srs1, SECRET, DAY + 500) == srs0
    again = srs.forward("SRS1=wxyz=first.example==abcd=ZZ=orig.example=joe@second.example",
                        "example.test", SECRET, DAY)
    assert again == "SRS1=hmQL=first.example==abcd=ZZ=orig.example=joe@example.test"


def test_null_and_own_domain_senders_stay() -> None:
    assert srs.forward("", "example.test", SECRET, DAY) == ""
    assert srs.forward("bob@Example.TEST", "example.test", SECRET, DAY) == "bob@Example.TEST"


def test_hash_compares_without_case_but_must_match() -> None:
    address = srs.forward("alice@sender.example", "example.test", SECRET, DAY)
    assert srs.reverse(address.lower(), SECRET, DAY) == "alice@sender.example"
    with pytest.raises(srs.SrsError, match="hash"):
        srs.reverse(address, b"another secret", DAY)
    with pytest.raises(srs.SrsError, match="hash"):
        srs.reverse(address.replace("alice", "mallory"), SECRET, DAY)
    with pytest.raises(srs.SrsError, match="hash"):
        srs.reverse("SRS1=hmQL=first.example==abcd=ZZ=orig.example=Eve@example.test", SECRET, DAY)


def test_age_limit() -> None:
    address = srs.forward("alice@sender.example", "example.test", SECRET, DAY)
    assert srs.reverse(address, SECRET, DAY + 21) == "alice@sender.example"
    with pytest.raises(srs.SrsError, match="too old"):
        srs.reverse(address, SECRET, DAY + 22)
    assert srs.reverse(address, SECRET, DAY + 30, max_age_days=30) == "alice@sender.example"


def test_not_srs() -> None:
    for address in ("alice@example.test", "SRS0=x@example.test", "SRS2=a=b=c=d@example.test"):
        with pytest.raises(srs.SrsError, match="not an SRS"):
            srs.reverse(address, SECRET, DAY)


def test_agrees_with_srslib() -> None:
    srslib = pytest.importorskip("srslib")
    oracle = srslib.SRS(SECRET)
    oracle._time_fn = lambda: DAY * 86400 + 3600
    for sender in ("alice@sender.example", "x.Y+z@b.example",
                   "SRS0=abcd=ZZ=orig.example=Joe@first.example"):
        ours = srs.forward(sender, "example.test", SECRET, DAY)
        assert ours == oracle.forward(sender, "example.test")
        assert srs.reverse(ours, SECRET, DAY) == oracle.reverse(ours)
