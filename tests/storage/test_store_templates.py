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


def test_idempotent_answers(store: Store) -> None:
    answer = StoredAnswer("req-hash", 202, '{"id": "1"}')
    assert store.stored_answer("default", "k1") is None
    assert store.store_answer("default", "k1", answer) == answer
    later = StoredAnswer("req-hash", 202, '{"id": "2"}')
    assert store.store_answer("default", "k1", later) == answer  # the first one stays
    assert store.stored_answer("other", "k1") is None
    assert store.forget_answers(before=0.0) == 0
    assert store.forget_answers(before=4e9) == 1
    assert store.stored_answer("default", "k1") is None
