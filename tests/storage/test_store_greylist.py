"""The Store contract for greylisting: triplets and client networks (see conftest.BACKENDS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postoffice.storage import Store
from postoffice.storage.interfaces import GreylistEntry, GreylistNetwork

if TYPE_CHECKING:
    from conftest import Backend

T0 = 1_700_000_000.0
NET = "192.0.2.0/24"


def entry(sender: str = "alice@remote.example", recipient: str = "bob@example.org",
          expires_at: float = T0 + 300, passed: bool = False) -> GreylistEntry:
    return GreylistEntry(NET, sender, recipient, T0, expires_at, passed)


def test_an_unknown_triplet_is_none(store: Store) -> None:
    assert store.get_greylist(NET, "alice@remote.example", "bob@example.org") is None
    assert store.get_greylist_network(NET) is None


def test_put_and_get_a_triplet(store: Store) -> None:
    first = entry()
    store.put_greylist(first)
    assert store.get_greylist(NET, "alice@remote.example", "bob@example.org") == first
    # each part of the triplet is part of the key
    assert store.get_greylist(NET, "alice@remote.example", "carol@example.org") is None
    assert store.get_greylist(NET, "", "bob@example.org") is None
    assert store.get_greylist("192.0.3.0/24", "alice@remote.example", "bob@example.org") is None


def test_put_replaces_the_entry_of_the_same_triplet(store: Store) -> None:
    store.put_greylist(entry())
    passed = entry(expires_at=T0 + 36 * 86400, passed=True)
    store.put_greylist(passed)
    assert store.get_greylist(NET, "alice@remote.example", "bob@example.org") == passed


def test_the_null_sender_is_a_sender_like_others(store: Store) -> None:
    store.put_greylist(entry(sender=""))
    assert store.get_greylist(NET, "", "bob@example.org") == entry(sender="")


def test_put_and_replace_a_network(store: Store) -> None:
    store.put_greylist_network(GreylistNetwork(NET, 1, T0 + 100))
    store.put_greylist_network(GreylistNetwork(NET, 2, T0 + 200))
    assert store.get_greylist_network(NET) == GreylistNetwork(NET, 2, T0 + 200)
    assert store.get_greylist_network("2001:db8::/64") is None


def test_expired_rows_are_returned_until_deleted(store: Store) -> None:
    store.put_greylist(entry(expires_at=T0 + 10))
    store.put_greylist(entry(recipient="carol@example.org", expires_at=T0 + 20))
    store.put_greylist_network(GreylistNetwork(NET, 3, T0 + 10))
    store.put_greylist_network(GreylistNetwork("198.51.100.0/24", 1, T0 + 30))
    assert store.get_greylist(NET, "alice@remote.example", "bob@example.org") is not None
    assert store.delete_expired_greylist(T0 + 10) == 2  # expires_at <= now
    assert store.get_greylist(NET, "alice@remote.example", "bob@example.org") is None
    assert store.get_greylist(NET, "alice@remote.example", "carol@example.org") is not None
    assert store.get_greylist_network(NET) is None
    assert store.get_greylist_network("198.51.100.0/24") is not None
    assert store.delete_expired_greylist(T0 + 10) == 0
    assert store.delete_expired_greylist(T0 + 100) == 2


def test_another_store_sees_the_entries(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    first.put_greylist(entry())
    first.put_greylist_network(GreylistNetwork(NET, 1, T0))
    assert second.get_greylist(NET, "alice@remote.example", "bob@example.org") == entry()
    assert second.get_greylist_network(NET) == GreylistNetwork(NET, 1, T0)
