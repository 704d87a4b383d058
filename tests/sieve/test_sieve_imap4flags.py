import pytest

from postoffice.sieve import Action, Message, run
from postoffice.sieve.flags import add_flags, flag_list, remove_flags

MESSAGE = Message(headers=[("From", "boss@example.com"), ("Subject", "urgent")],
                  envelope_from="boss@example.com", envelope_to="me@example.com", size=10)
REQUIRE = 'require ["imap4flags", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'


def actions(source: str) -> tuple[Action, ...]:
    result = run(REQUIRE + source, MESSAGE)
    assert result.error is None, result.error
    return result.actions


def test_flag_lists() -> None:
    assert flag_list(["\\Seen  $Work", "\\seen"]) == ("\\Seen", "$Work")
    assert add_flags(("\\Seen",), ["\\Flagged \\SEEN"]) == ("\\Seen", "\\Flagged")
    assert remove_flags(("\\Seen", "\\Flagged"), ["\\seen x"]) == ("\\Flagged",)


def test_implicit_keep_carries_the_flags() -> None:
    assert actions('addflag "\\\\Flagged"; addflag ["$Work", "\\\\Seen"]; '
                   'removeflag "\\\\seen";') == (Action("keep", flags=("\\Flagged", "$Work")),)


def test_setflag_replaces() -> None:
    assert actions('addflag "a"; setflag "b c"; keep;') == (Action("keep", flags=("b", "c")),)


def test_explicit_flags_win_over_the_variable() -> None:
    assert actions('addflag "a"; fileinto :flags "x y" "Work"; fileinto "Other";') == (
        Action("fileinto", "Work", flags=("x", "y")), Action("fileinto", "Other", flags=("a",)))


def test_flags_are_taken_when_the_action_runs() -> None:
    assert actions('addflag "a"; fileinto "Work"; addflag "b";') == (
        Action("fileinto", "Work", flags=("a",)),)


def test_redirect_carries_no_flags() -> None:
    assert actions('addflag "a"; redirect "x@example.com";') == (
        Action("redirect", "x@example.com"),)


@pytest.mark.parametrize(("test", "expected"), [
    ('hasflag "\\\\seen"', True), ('hasflag :comparator "i;octet" "\\\\seen"', False),
    ('hasflag ["nope", "$Work"]', True), ('hasflag :contains "$w"', True),
    ('hasflag "other"', False),
    ('hasflag :count "eq" :comparator "i;ascii-numeric" "2"', True),
])
def test_hasflag(test: str, expected: bool) -> None:
    chosen = actions(f'addflag "\\\\Seen $Work"; if {test} {{ discard; }}')
    assert (Action("discard") in chosen) is expected


def test_flags_from_variables() -> None:
    result = run('require ["imap4flags", "variables"]; set "f" "$Todo"; keep :flags "${f}";',
                 MESSAGE)
    assert result.actions == (Action("keep", flags=("$Todo",)),)


@pytest.mark.parametrize("source", [
    'addflag "a";', 'require "fileinto"; fileinto :flags "a" "Work";',
    'if hasflag "a" {}', 'require "imap4flags"; keep :flags;',
])
def test_refused(source: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None
    assert result.actions == (Action("keep"),)
