import pytest

from postoffice.sieve import Action, Message, run

REQUIRE = 'require ["spamtest", "relational", "comparator-i;ascii-numeric"];\n'


def message(score: float | None) -> Message:
    return Message(headers=[("Subject", "Hi")], envelope_from="a@example.net",
                   envelope_to="b@example.com", size=10, spam_score=score,
                   ham_score=0.0, spam_threshold=9.0)


def taken(test: str, score: float | None, require: str = REQUIRE) -> bool:
    result = run(f"{require} if {test} {{ discard; }}", message(score))
    assert result.error is None, result.error
    return result.actions == (Action("discard"),)


@pytest.mark.parametrize(("score", "level"), [
    (None, "0"), (-3.0, "1"), (0.0, "1"), (1.0, "2"), (6.0, "7"), (9.0, "10"), (20.0, "10"),
])
def test_level(score: float | None, level: str) -> None:
    assert taken(f'spamtest :value "eq" :comparator "i;ascii-numeric" "{level}"', score)


@pytest.mark.parametrize(("score", "percent"), [
    (None, "0"), (0.0, "0"), (4.5, "50"), (9.0, "100"), (30.0, "100"),
])
def test_percent(score: float | None, percent: str) -> None:
    require = 'require ["spamtestplus", "relational", "comparator-i;ascii-numeric"];\n'
    assert taken(f'spamtest :percent :value "eq" :comparator "i;ascii-numeric" "{percent}"',
                 score, require)


def test_numeric_not_text_order() -> None:
    # "10" is greater than "9" only numerically
    assert taken('spamtest :value "ge" :comparator "i;ascii-numeric" "9"', 9.0)
    assert not taken('spamtest :value "ge" :comparator "i;ascii-numeric" "6"', 2.0)


def test_untested_is_distinguishable() -> None:
    assert taken('spamtest :is "0"', None)
    assert not taken('spamtest :is "0"', 0.0)


def test_spamtestplus_implies_spamtest() -> None:
    assert taken('spamtest :is "10"', 9.0, 'require "spamtestplus";\n')


@pytest.mark.parametrize(("source", "reason"), [
    ('if spamtest :is "1" { keep; }', "'spamtest' is used but not declared"),
    ('require "spamtest"; if spamtest :percent :is "1" { keep; }',
     "'spamtestplus' is used but not declared"),
    ('require "spamtest"; if spamtest :is ["1", "2"] { keep; }', "wrong arguments"),
])
def test_refused(source: str, reason: str) -> None:
    result = run(source, message(1.0))
    assert result.error is not None and reason in result.error
    assert result.actions == (Action("keep"),)
