"""Greylisting decisions (policy/greylist.py), with explicit times."""

from __future__ import annotations

import pytest

from postoffice.policy.greylist import (
    DAY,
    Entry,
    NetworkEntry,
    Settings,
    Step,
    check,
    client_network,
    decide,
    exempt,
    greylisted_domain,
    normalise_sender,
    triplet,
)

T0 = 1_700_000_000.0
DELAY = 300.0
REMEMBER = 36 * DAY
SETTINGS = Settings(delay=DELAY, retry_window=DAY, remember=REMEMBER, allowlist_after=5)


def test_first_sighting_is_deferred_and_recorded() -> None:
    verdict, entry = decide(None, T0, DELAY, DAY, REMEMBER)
    assert verdict == "defer"
    assert entry == Entry(T0, T0 + DELAY + DAY, passed=False)


def test_an_early_retry_is_deferred_without_resetting_the_timer() -> None:
    _, first = decide(None, T0, DELAY, DAY, REMEMBER)
    verdict, entry = decide(first, T0 + DELAY - 1, DELAY, DAY, REMEMBER)
    assert verdict == "defer" and entry is first
    verdict, _ = decide(entry, T0 + DELAY, DELAY, DAY, REMEMBER)
    assert verdict == "pass"  # the delay counts from the first attempt


def test_a_retry_after_the_delay_passes_and_is_remembered() -> None:
    _, first = decide(None, T0, DELAY, DAY, REMEMBER)
    verdict, entry = decide(first, T0 + 600, DELAY, DAY, REMEMBER)
    assert verdict == "pass"
    assert entry == Entry(T0, T0 + 600 + REMEMBER, passed=True)
    # a month later it still passes, without a new delay
    verdict, later = decide(entry, T0 + 30 * DAY, DELAY, DAY, REMEMBER)
    assert verdict == "pass" and later.passed


def test_a_retry_after_the_window_starts_over() -> None:
    _, first = decide(None, T0, DELAY, DAY, REMEMBER)
    late = T0 + DELAY + DAY
    verdict, entry = decide(first, late, DELAY, DAY, REMEMBER)
    assert verdict == "defer"
    assert entry == Entry(late, late + DELAY + DAY, passed=False)


def test_a_pass_refreshes_the_memory_at_most_once_a_day() -> None:
    passed = Entry(T0, T0 + REMEMBER, passed=True)
    verdict, same = decide(passed, T0 + 3600, DELAY, DAY, REMEMBER)
    assert verdict == "pass" and same is passed  # nothing to write
    verdict, refreshed = decide(passed, T0 + 2 * DAY, DELAY, DAY, REMEMBER)
    assert verdict == "pass" and refreshed == Entry(T0, T0 + 2 * DAY + REMEMBER, passed=True)


def test_a_forgotten_triplet_is_greylisted_again() -> None:
    passed = Entry(T0, T0 + REMEMBER, passed=True)
    verdict, entry = decide(passed, T0 + REMEMBER, DELAY, DAY, REMEMBER)
    assert verdict == "defer" and not entry.passed and entry.first_seen == T0 + REMEMBER


def test_a_first_pass_counts_for_the_network() -> None:
    waiting = Entry(T0, T0 + DELAY + DAY, passed=False)
    step = check(waiting, None, T0 + DELAY, SETTINGS)
    assert step.verdict == "pass"
    assert step.network == NetworkEntry(1, T0 + DELAY + REMEMBER)
    step = check(waiting, NetworkEntry(3, T0 + DAY), T0 + DELAY, SETTINGS)
    assert step.network == NetworkEntry(4, T0 + DELAY + REMEMBER)
    # an expired count starts again
    step = check(waiting, NetworkEntry(3, T0), T0 + DELAY, SETTINGS)
    assert step.network == NetworkEntry(1, T0 + DELAY + REMEMBER)


def test_later_passes_and_deferrals_do_not_count() -> None:
    passed = Entry(T0, T0 + REMEMBER, passed=True)
    assert check(passed, NetworkEntry(1, T0 + DAY), T0 + 60, SETTINGS) == Step("pass")
    step = check(None, NetworkEntry(1, T0 + DAY), T0, SETTINGS)
    assert step.verdict == "defer" and step.entry is not None and step.network is None


def test_a_network_with_enough_passed_triplets_is_not_greylisted() -> None:
    four, five = NetworkEntry(4, T0 + DAY), NetworkEntry(5, T0 + DAY)
    assert check(None, four, T0, SETTINGS).verdict == "defer"
    step = check(None, five, T0, SETTINGS)
    assert step.verdict == "pass" and step.entry is None  # no triplet recorded
    assert step.network == NetworkEntry(5, T0 + REMEMBER)  # seen: remembered longer
    assert check(None, NetworkEntry(5, T0 + REMEMBER), T0 + 60, SETTINGS) == Step("pass")
    # forgotten, or the allowlist is off
    assert check(None, NetworkEntry(5, T0), T0, SETTINGS).verdict == "defer"
    off = Settings(delay=DELAY, allowlist_after=0)
    assert check(None, five, T0, off).verdict == "defer"


def test_a_proper_mta_gets_through_greylisting_by_retrying() -> None:
    """Five senders' first messages, each retried; the sixth passes at once."""
    network = None
    for n in range(5):
        entry = None
        for at in (T0, T0 + 60, T0 + 360):  # first try, early retry, retry after the delay
            step = check(entry, network, at + n, SETTINGS)
            entry = step.entry or entry
            network = step.network or network
        assert step.verdict == "pass"
    assert network == NetworkEntry(5, T0 + 364 + REMEMBER)
    assert check(None, network, T0 + 400, SETTINGS).verdict == "pass"


@pytest.mark.parametrize(("ip", "network"), [
    ("192.0.2.77", "192.0.2.0/24"),
    ("192.0.2.1", "192.0.2.0/24"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    ("not an address", "not an address"),
])
def test_client_networks(ip: str, network: str) -> None:
    assert client_network(ip) == network


@pytest.mark.parametrize(("sender", "normalised"), [
    ("Alice@Example.COM", "alice@example.com"),
    ("", ""),
    ("bounce+abc123@x.example", "bounce@x.example"),
    ("alice+shop@x.example", "alice@x.example"),
    ("notification+zj4o0cwdw2cs@facebookmail.example", "notification@facebookmail.example"),
    ("bounces+1234567-abcd-alice=example.com@sendgrid.example", "bounces@sendgrid.example"),
    ("news-12345@x.example", "news@x.example"),
    ("prvs=1a2b3c4d5e=alice@x.example", "prvs=alice@x.example"),
    ("list-3f9c2e1ab7=bob@x.example", "list=bob@x.example"),
    ("msg-k7mq2x4z9w=alice@x.example", "msg=alice@x.example"),
    ("0100018c2fa1b2c3-8c3d1e2f-1234-4567-89ab-cdef01234567-000000@ses.example", "#@ses.example"),
    ("SRS0=Ab+c=2Q=example.com=Alice@fwd.example", "srs0=example.com=alice@fwd.example"),
    ("SRS1=xYz9=fwd1.example==Ab+c=2Q=example.com=alice@fwd2.example",
     "srs1=fwd1.example==example.com=alice@fwd2.example"),
    # names stay names
    ("newsletter@x.example", "newsletter@x.example"),
    ("jean-pierre@x.example", "jean-pierre@x.example"),
    ("no-reply@x.example", "no-reply@x.example"),
    ("12345@qq.example", "12345@qq.example"),
    ("john1987@x.example", "john1987@x.example"),
])
def test_sender_normalisation(sender: str, normalised: str) -> None:
    assert normalise_sender(sender) == normalised


def test_per_message_return_paths_make_one_triplet() -> None:
    first = triplet("192.0.2.7", "bounce+8c3d1e2f@lists.example", "Bob@Example.ORG")
    second = triplet("192.0.2.200", "bounce+77aa0912@lists.example", "bob@example.org")
    assert first == second
    assert first.recipient == "bob@example.org" and first.network == "192.0.2.0/24"
    assert triplet("192.0.3.7", "bounce@lists.example", "bob@example.org") != first


def test_domains_and_exemptions() -> None:
    assert greylisted_domain("Example.ORG.", ("example.org",))
    assert not greylisted_domain("example.net", ("example.org",))
    assert greylisted_domain("anything.example", ("*",))
    assert not greylisted_domain("example.org", ())
    assert exempt("Postmaster@example.org") and exempt("abuse@example.org")
    assert not exempt("bob@example.org")
