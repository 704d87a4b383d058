"""Contract: templates per tenant; idempotent answers keep the first one."""

from __future__ import annotations

import pytest

from postoffice.storage import NotFound, Store
from postoffice.storage.templates import StoredAnswer


def test_templates(store: Store) -> None:
    first = store.put_template("default", "welcome", subject="Hi", text="t", html=None)
    again = store.put_template("default", "welcome", subject="Hello", text=None, html="<p>")
    assert (again.subject, again.text, again.html) == ("Hello", None, "<p>")
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    assert store.get_template("other", "welcome") is None
    assert [t.name for t in store.list_templates("default")] == ["welcome"]
    with pytest.raises(NotFound):
        store.delete_template("other", "welcome")
    store.delete_template("default", "welcome")
    assert store.get_template("default", "welcome") is None


def test_idempotency_keys(store: Store) -> None:
    assert store.claim_key("default", "k1", "req") is None  # taken
    running = store.claim_key("default", "k1", "req")
    assert running is not None and running.status == 0  # the first call still runs
    assert store.claim_key("other", "k1", "req") is None  # keys are per tenant
    store.store_answer("default", "k1", StoredAnswer("req", 202, '{"id": "1"}'))
    assert store.claim_key("default", "k1", "req") == StoredAnswer("req", 202, '{"id": "1"}')
    assert store.claim_key("default", "k1", "another")  == StoredAnswer(
        "req", 202, '{"id": "1"}')  # the caller compares the request
    assert store.claim_key("default", "k2", "req") is None
    store.release_key("default", "k2")  # failed: a retry may run
    assert store.claim_key("default", "k2", "req") is None
    assert store.claim_key("default", "k2", "req", stale_after=-1.0) is None  # a crashed claim
    store.release_key("default", "k1")  # answered keys stay
    assert store.claim_key("default", "k1", "req") is not None
    assert store.forget_answers(before=0.0) == 0
    assert store.forget_answers(before=4e9) == 3
