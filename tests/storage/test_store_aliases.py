"""The Store contract for aliases (see conftest.BACKENDS)."""

from __future__ import annotations

import pytest

from postoffice.storage import AlreadyExists, InUse, NotFound, Store


@pytest.fixture
def aliased(store: Store) -> Store:
    store.add_domain("example.test")
    store.add_user("bob@example.test", "x")
    return store


def test_add_get_list_remove(aliased: Store) -> None:
    alias = aliased.add_alias("Team@Example.TEST", ["Bob@example.test", "someone@Remote.Example",
                                                     "bob@example.test"])
    assert alias.address == "team@example.test"
    assert alias.targets == ("bob@example.test", "someone@remote.example")  # normalised, once each
    assert aliased.get_alias("TEAM@example.test") == alias
    assert aliased.get_alias("other@example.test") is None and aliased.get_alias("junk") is None
    aliased.add_alias("all@example.test", ["team@example.test"])
    assert [a.address for a in aliased.list_aliases()] == ["all@example.test", "team@example.test"]
    assert aliased.list_aliases("example.test") == aliased.list_aliases()
    assert aliased.list_aliases("other.example") == []
    aliased.remove_alias("team@example.test")
    assert aliased.get_alias("team@example.test") is None
    with pytest.raises(NotFound):
        aliased.remove_alias("team@example.test")


def test_refusals(aliased: Store) -> None:
    aliased.add_alias("team@example.test", ["bob@example.test"])
    with pytest.raises(AlreadyExists):
        aliased.add_alias("team@example.test", ["x@remote.example"])
    with pytest.raises(AlreadyExists):
        aliased.add_alias("bob@example.test", ["x@remote.example"])  # a user's address
    with pytest.raises(AlreadyExists):
        aliased.add_user("team@example.test", "x")  # an alias's address
    with pytest.raises(NotFound):
        aliased.add_alias("team@other.example", ["bob@example.test"])
    with pytest.raises(ValueError):
        aliased.add_alias("empty@example.test", [])
    with pytest.raises(ValueError):
        aliased.add_alias("bad@example.test", ["no-at-sign"])


def test_a_domain_with_aliases_is_in_use(store: Store) -> None:
    store.add_domain("lists.example")
    store.add_alias("team@lists.example", ["x@remote.example"])
    with pytest.raises(InUse):
        store.remove_domain("lists.example")
    store.remove_alias("team@lists.example")
    store.remove_domain("lists.example")


def test_aliases_survive_reopening(backend: object, aliased: Store) -> None:
    aliased.add_alias("team@example.test", ["bob@example.test"])
    other = backend.open()  # type: ignore[attr-defined]
    assert other.get_alias("team@example.test").targets == ("bob@example.test",)
