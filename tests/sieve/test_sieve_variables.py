import pytest

from postoffice.sieve import Action, Message, run
from postoffice.sieve.variables import expand, modify

MESSAGE = Message(
    headers=[("From", "Coyote <coyote@desert.example>"),
             ("Subject", "[acme-users] [fwd] version 1.0 is out"),
             ("List-ID", "Acme users <acme-users@lists.example>")],
    envelope_from="bounce@desert.example", envelope_to="me@example.com", size=100)
VARIABLES = 'require ["fileinto", "variables"];\n'


def folders(source: str) -> list[str]:
    result = run(VARIABLES + source, MESSAGE)
    assert result.error is None, result.error
    return [action.argument for action in result.actions if action.kind == "fileinto"]


@pytest.mark.parametrize(("modifiers", "expected"), [
    ((), "juLIA"), (("lower",), "julia"), (("upper",), "JULIA"),
    (("lowerfirst",), "juLIA"), (("upperfirst",), "JuLIA"),
    (("lower", "upperfirst"), "Julia"), (("length",), "5"),
    (("upper", "length"), "5"),
])
def test_modifiers(modifiers: tuple[str, ...], expected: str) -> None:
    assert modify("juLIA", modifiers) == expected


def test_quotewildcard_escapes_wildcards_and_backslash() -> None:
    assert modify("a*b?c\\", ("quotewildcard",)) == "a\\*b\\?c\\\\"


def test_expand_names_groups_and_unknown_references() -> None:
    variables = {"box": "work"}
    assert expand("${BOX}/${1}/${2}/${none}/${a.b}", variables, ("x", "one")) == \
        "work/one///${a.b}"


def test_set_and_reference() -> None:
    assert folders('set "Box" "Lists"; set :lower "sub" "ACME"; fileinto "${box}.${sub}";') \
        == ["Lists.acme"]


def test_match_variables_are_non_greedy() -> None:
    """The example of RFC 5229 section 3.2."""
    assert folders('if header :matches "Subject" "[*] *" { fileinto "${1}/${2}"; }') == \
        ["acme-users/[fwd] version 1.0 is out"]


def test_match_variables_keep_the_original_case() -> None:
    assert folders('if header :matches "List-ID" "*<*@*" { fileinto "INBOX.${2}"; }') == \
        ["INBOX.acme-users"]


def test_failed_matches_keeps_earlier_groups() -> None:
    source = ('if header :matches "From" "*<*>" {} '
              'if header :matches "From" "nobody*" {} fileinto "${2}";')
    assert folders(source) == ["coyote@desert.example"]


@pytest.mark.parametrize(("test", "expected"), [
    ('string :is "${x}" "abc"', True), ('string :is "${x}" "ABC"', True),
    ('string :comparator "i;octet" :is "${x}" "ABC"', False),
    ('string :matches "${x}" "a*"', True), ('string :is "${unset}" ""', True),
    ('string :contains ["nope", "${x}"] "b"', True),
])
def test_string_test(test: str, expected: bool) -> None:
    chosen = folders(f'set "x" "abc"; if {test} {{ fileinto "yes"; }}')
    assert (chosen == ["yes"]) is expected


def test_quotewildcard_makes_a_literal_key() -> None:
    assert folders('set :quotewildcard "k" "a*"; if string :matches "abc" "${k}" '
                   '{ fileinto "yes"; }') == []


def test_without_require_references_are_literal() -> None:
    result = run('require "fileinto"; fileinto "${x}";', MESSAGE)
    assert result.actions == (Action("fileinto", "${x}"),)


@pytest.mark.parametrize("source", [
    'set "x" "y";',
    'require "variables"; set "1x" "y";',
    'require "variables"; set "a.b" "y";',
    'require "variables"; set :lower :upper "x" "y";',
    'require "variables"; set "x";',
    'if string "a" "a" {}',
])
def test_refused(source: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None
    assert result.actions == (Action("keep"),)
