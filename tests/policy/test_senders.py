from postoffice.policy.senders import may_send_as


def test_own_address_case_insensitive() -> None:
    assert may_send_as("Bob@Example.test", "bob@example.TEST", (), domain_senders=False)


def test_other_address_refused_unless_allowed() -> None:
    assert not may_send_as("bob@example.test", "alice@example.test", (), domain_senders=False)
    assert may_send_as("bob@example.test", "alice@example.test", ("alice@example.test",), domain_senders=False)
    assert may_send_as("bob@example.test", "news@brand.example", ("@brand.example",), domain_senders=False)
    assert not may_send_as("bob@example.test", "news@evil.example", ("@brand.example",), domain_senders=False)


def test_domain_senders_option() -> None:
    assert may_send_as("bob@example.test", "alice@example.test", (), domain_senders=True)
    assert not may_send_as("bob@example.test", "alice@other.test", (), domain_senders=True)
