import pytest

from postoffice.sieve import SieveError, parse
from postoffice.sieve.lexer import tokenize
from postoffice.sieve.nodes import Command, Number, Strings, Tag


def values(source: str) -> list[object]:
    return [token.value for token in tokenize(source)]


def test_comments_are_skipped() -> None:
    assert values('keep; # to the end\n/* a\nblock */ stop;') == ["keep", ";", "stop", ";"]


def test_numbers_take_k_m_g() -> None:
    assert values("1 2K 3m 4G") == [1, 2048, 3 << 20, 4 << 30]


def test_tags_and_identifiers_are_case_insensitive() -> None:
    assert values(":IS Header") == ["is", "header"]


def test_quoted_string_escapes() -> None:
    assert values(r'"a\"b\\c\d"') == ['a"b\\cd']


def test_quoted_string_may_span_lines() -> None:
    tokens = list(tokenize('"one\ntwo" stop'))
    assert tokens[0].value == "one\ntwo" and tokens[1].line == 2


def test_multiline_string_is_dot_unstuffed() -> None:
    source = "text: # comment\r\nfirst\r\n..dotted\r\n.\r\n;"
    assert values(source) == ["first\r\n.dotted\r\n", ";"]


def test_multiline_string_at_end_of_script() -> None:
    assert values("text:\nx\n.") == ["x\n"]


def test_script_shape() -> None:
    script = parse('if header :is ["To", "Cc"] "a" { fileinto "x"; }\nstop;')
    first, second = script.commands
    assert first.name == "if" and first.tests[0].name == "header"
    assert first.tests[0].args == (Tag("is", 1), Strings(("To", "Cc"), True, 1),
                                   Strings(("a",), False, 1))
    assert first.block is not None and first.block[0].args == (Strings(("x",), False, 1),)
    assert second == Command("stop", (), (), None, 2)


def test_test_lists_nest() -> None:
    (command,) = parse("if anyof (not true, allof (size :over 10, false)) {}").commands
    (anyof,) = command.tests
    assert [test.name for test in anyof.tests] == ["not", "allof"]
    assert anyof.tests[1].tests[0].args == (Tag("over", 1), Number(10, 1))
    assert command.block == ()


@pytest.mark.parametrize(("source", "line", "reason"), [
    ("keep", 1, "expected ';' or '{'"),
    ("keep;\n\nif true {\n stop;\n", 4, "missing '}' closing the block of line 3"),
    ('keep;\n"x";', 2, "expected a command"),
    ('fileinto ["a", ];', 1, "expected a string"),
    ('fileinto ["a" "b"];', 1, "expected ',' or ']'"),
    ("if anyof (true; false) {}", 1, "expected ',' or ')'"),
    ('\n\nfileinto "open', 3, "unterminated string"),
    ("stop;\n/* never closed", 2, "unterminated /* comment"),
    ("reject text:\nno end\n", 1, "unterminated text:"),
    ("keep;\nkeep @;", 2, "unexpected character '@'"),
    ("if", 1, "expected ';' or '{' after if"),
    ("if anyof (", 1, "expected a test"),
])
def test_parse_errors_name_the_line(source: str, line: int, reason: str) -> None:
    with pytest.raises(SieveError) as caught:
        parse(source)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"line {line}: ")
