import pytest

from postoffice.sieve import Action, Message, run

MESSAGE = Message(
    headers=[("Subject", "Report"), ("Content-Type", "multipart/alternative")],
    envelope_from="a@example.net", envelope_to="b@example.com", size=200,
    text_parts=("Quarterly figures attached.", "<p>Quarterly <b>figures</b></p>"),
    raw_body=b"--x\r\nContent-Transfer-Encoding: base64\r\n\r\nUXVhcnRlcmx5\r\n--x--\r\n")


def taken(test: str, require: str = 'require "body";\n') -> bool:
    result = run(f"{require} if {test} {{ discard; }}", MESSAGE)
    assert result.error is None, result.error
    return result.actions == (Action("discard"),)


@pytest.mark.parametrize(("test", "expected"), [
    ('body :contains "figures attached"', True),
    ('body :text :contains "FIGURES ATTACHED"', True),
    ('body :text :contains "<b>figures</b>"', True),
    ('body :contains "Content-Transfer-Encoding"', False),
    ('body :raw :contains "Content-Transfer-Encoding: base64"', True),
    ('body :raw :contains "figures"', False),
    ('body :is "Quarterly figures attached."', True),
    ('body :matches "quarterly*"', True),
    ('body :contains ["nothing", "attached"]', True),
])
def test_body(test: str, expected: bool) -> None:
    assert taken(test) is expected


def test_no_text_parts() -> None:
    empty = Message(headers=[], envelope_from="", envelope_to="b@example.com", size=0)
    result = run('require "body"; if body :contains "" { discard; }', empty)
    assert result.actions == (Action("keep"),)


def test_count_parts() -> None:
    require = 'require ["body", "relational", "comparator-i;ascii-numeric"];\n'
    assert taken('body :count "eq" :comparator "i;ascii-numeric" "2"', require)


@pytest.mark.parametrize(("source", "reason"), [
    ('if body :contains "x" { keep; }', "'body' is used but not declared"),
    ('require "body"; if body :raw :text :contains "x" { keep; }', "conflicts"),
    ('require "body"; if body :content 5 :contains "x" { keep; }', ":content takes a string list"),
])
def test_refused(source: str, reason: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None and reason in result.error
