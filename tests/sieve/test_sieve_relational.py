import pytest

from postoffice.sieve import Action, Message, run
from postoffice.sieve.match import relate

MESSAGE = Message(
    headers=[("To", "a@example.com, b@example.com"), ("Cc", "c@example.com"),
             ("X-Priority", "3 (Normal)"), ("X-Spam-Score", "12"), ("Subject", "Beta")],
    envelope_from="bounce@example.net", envelope_to="a@example.com", size=100)
REQUIRE = 'require ["relational", "comparator-i;ascii-numeric"];\n'


def taken(test: str) -> bool:
    result = run(f"{REQUIRE} if {test} {{ discard; }}", MESSAGE)
    assert result.error is None, result.error
    return result.actions == (Action("discard"),)


@pytest.mark.parametrize(("value", "key", "relation", "expected"), [
    ("12", "9", "gt", True), ("012", "12", "eq", True), ("3 (Normal)", "3", "eq", True),
    ("abc", "99999", "gt", True), ("abc", "x", "eq", True), ("5", "abc", "lt", True),
    ("7", "7", "ge", True), ("7", "7", "ne", False), ("6", "7", "le", True),
])
def test_ascii_numeric(value: str, key: str, relation: str, expected: bool) -> None:
    assert relate(value, key, relation, "i;ascii-numeric") is expected


def test_string_comparators_order_by_text() -> None:
    assert relate("beta", "Alpha", "gt", "i;ascii-casemap")
    assert not relate("beta", "Alpha", "lt", "i;ascii-casemap")
    assert relate("beta", "Alpha", "gt", "i;octet") and relate("B", "a", "lt", "i;octet")


@pytest.mark.parametrize(("test", "expected"), [
    ('address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3"', True),
    ('address :count "gt" :comparator "i;ascii-numeric" "to" "2"', False),
    ('header :count "ge" :comparator "i;ascii-numeric" "x-missing" "0"', True),
    ('header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "9"', True),
    ('header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3"', False),
    ('header :value "le" :comparator "i;ascii-numeric" "x-priority" "3"', True),
    ('header :value "gt" "subject" "alpha"', True),
    ('header :value "ne" "subject" ["beta", "gamma"]', True),
    ('header :comparator "i;ascii-numeric" :is "x-spam-score" "012"', True),
])
def test_relational_tests(test: str, expected: bool) -> None:
    assert taken(test) is expected


@pytest.mark.parametrize("source", [
    'if header :count "eq" "to" "1" {}',
    'require "relational"; if header :value "xx" "to" "1" {}',
    'require "relational"; if header :value :is "eq" "to" "1" {}',
    'require "relational"; if header :count "eq" :comparator "i;ascii-numeric" "to" "1" {}',
    REQUIRE + 'if header :contains :comparator "i;ascii-numeric" "to" "1" {}',
])
def test_refused(source: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None
    assert result.actions == (Action("keep"),)
