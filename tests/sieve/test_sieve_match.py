import pytest

from postoffice.sieve.match import AddressPart, address_part, matches


@pytest.mark.parametrize(("value", "key", "expected"), [
    ("Hello World", "hello*", True),
    ("Hello World", "*WORLD", True),
    ("Hello", "H?llo", True),
    ("Hello", "H?lo", False),
    ("a*b", r"a\*b", True),
    ("axb", r"a\*b", False),
    ("a?", r"a\?", True),
    ("a\\b", r"a\\b", True),
    ("", "*", True),
    ("line one\nline two", "*two", True),
    ("a.b", "a.b", True),
    ("axb", "a.b", False),
])
def test_matches_wildcards(value: str, key: str, expected: bool) -> None:
    assert matches(value, key, "matches", "i;ascii-casemap") is expected


def test_is_and_contains() -> None:
    assert matches("Money", "money", "is", "i;ascii-casemap")
    assert not matches("Money", "money", "is", "i;octet")
    assert matches("Make MONEY fast", "money", "contains", "i;ascii-casemap")
    assert not matches("Make MONEY fast", "money", "contains", "i;octet")
    assert matches("anything", "", "contains", "i;octet")
    assert not matches("abc", "ab", "is", "i;octet")


def test_casemap_folds_ascii_only() -> None:
    assert not matches("É", "é", "is", "i;ascii-casemap")
    assert matches("CAFé", "café", "is", "i;ascii-casemap")


def test_octet_matches_is_case_sensitive() -> None:
    assert not matches("ABC", "a*", "matches", "i;octet")
    assert matches("ABC", "A*", "matches", "i;octet")


@pytest.mark.parametrize(("part", "expected"), [
    ("all", "ken+sieve@Example.org"),
    ("localpart", "ken+sieve"),
    ("domain", "Example.org"),
    ("user", "ken"),
    ("detail", "sieve"),
])
def test_address_parts(part: AddressPart, expected: str) -> None:
    assert address_part("ken+sieve@Example.org", part) == expected


def test_detail_without_separator_is_absent_and_empty_detail_is_empty() -> None:
    assert address_part("ken@example.org", "detail") is None
    assert address_part("ken+@example.org", "detail") == ""
    assert address_part("ken@example.org", "user") == "ken"


def test_null_address_has_only_all() -> None:
    assert address_part("", "all") == ""
    assert address_part("", "localpart") is None
    assert address_part("", "domain") is None
