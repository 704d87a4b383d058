from datetime import UTC, datetime, timedelta, timezone

import pytest

from postoffice.sieve import Action, Message, run

NOW = datetime(2026, 3, 1, 23, 30, 5, tzinfo=timezone(timedelta(hours=1)))
MESSAGE = Message(
    headers=[("Date", "Sun, 21 Jan 2007 13:03:04 +0100"), ("Date", "Mon, 1 Jan 2024 0:0:0 +0000"),
             ("Received", "from a by b; Tue, 2 Jan 2024 10:00:00 -0000"), ("X-Bad", "soon")],
    envelope_from="a@example.net", envelope_to="b@example.com", size=10, now=NOW)
REQUIRE = 'require ["date", "relational", "comparator-i;ascii-numeric"];\n'


def taken(test: str, message: Message = MESSAGE) -> bool:
    result = run(f"{REQUIRE} if {test} {{ discard; }}", message)
    assert result.error is None, result.error
    return result.actions == (Action("discard"),)


@pytest.mark.parametrize(("part", "value"), [
    ("year", "2007"), ("month", "01"), ("day", "21"), ("date", "2007-01-21"),
    ("julian", "54121"), ("hour", "13"), ("minute", "03"), ("second", "04"),
    ("time", "13:03:04"), ("iso8601", "2007-01-21T13:03:04+01:00"),
    ("std11", "Sun, 21 Jan 2007 13:03:04 +0100"), ("zone", "+0100"), ("weekday", "0"),
])
def test_date_parts(part: str, value: str) -> None:
    # the local zone is that of `now`: +0100, as in the header
    assert taken(f'date :is "date" "{part}" "{value}"')


def test_zones() -> None:
    assert taken('date :zone "-0500" :is "date" "iso8601" "2007-01-21T07:03:04-05:00"')
    assert taken('date :zone "+0000" :is "date" "hour" "12"')
    utc_now = Message(headers=MESSAGE.headers, envelope_from="", envelope_to="b@example.com",
                      size=0, now=NOW.astimezone(UTC))
    assert taken('date :is "date" "hour" "12"', utc_now)
    assert taken('date :originalzone :is "date" "zone" "+0100"', utc_now)


def test_received_and_missing() -> None:
    assert taken('date :is "received" "date" "2024-01-02"')
    assert taken('date :zone "+0000" :is "received" "zone" "+0000"')
    assert not taken('date :matches "x-bad" "year" "*"')
    assert not taken('date :matches "x-missing" "year" "*"')


def test_currentdate() -> None:
    assert taken('currentdate :is "date" "2026-03-01"')
    assert taken('currentdate :zone "+0000" :is "date" "2026-03-01"')
    assert taken('currentdate :zone "+0100" :value "ge" "time" "23:00:00"')
    assert taken('currentdate :zone "+0200" :is "date" "2026-03-02"')
    assert taken('currentdate :value "gt" :comparator "i;ascii-numeric" "year" "2025"')
    without = Message(headers=[], envelope_from="", envelope_to="b@example.com", size=0)
    assert not taken('currentdate :matches "year" "*"', without)


@pytest.mark.parametrize(("source", "reason"), [
    ('if currentdate :is "year" "2026" { keep; }', "'date' is used but not declared"),
    ('require "date"; if date :is "date" "fortnight" "1" { keep; }', "unknown date part"),
    ('require "date"; if date :zone "0100" :is "date" "year" "1" { keep; }',
     "not a time zone"),
    ('require "date"; if date :zone "+0100" :originalzone :is "date" "year" "1" { keep; }',
     "conflicts"),
    ('require "date"; if currentdate :originalzone :is "year" "1" { keep; }', "unknown tag"),
])
def test_refused(source: str, reason: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None and reason in result.error
