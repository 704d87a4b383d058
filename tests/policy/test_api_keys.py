"""API key format, digests and scopes."""

from postoffice.policy import api_keys


def test_keys_are_random_well_formed_and_only_their_digest_matches() -> None:
    a, b = api_keys.make_key(), api_keys.make_key()
    assert a.key != b.key and a.id != b.id
    assert a.key.startswith(f"po_{a.id}_") and len(a.key) == 3 + 12 + 1 + 43
    assert api_keys.key_id(a.key) == a.id
    assert api_keys.matches(a.key, a.digest) and not api_keys.matches(b.key, a.digest)
    assert a.digest == api_keys.digest(a.key) and a.key not in a.digest


def test_malformed_keys_have_no_id() -> None:
    key = api_keys.make_key().key
    for bad in ("", "po_", key[:-1], key + "x", key.replace("po_", "pk_"), " " + key,
                key.upper()):
        assert api_keys.key_id(bad) is None


def test_scopes_are_ordered() -> None:
    assert api_keys.allows("admin", "send") and api_keys.allows("read", "read")
    assert not api_keys.allows("send", "read") and not api_keys.allows("read", "admin")
