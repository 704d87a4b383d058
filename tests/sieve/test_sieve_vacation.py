import pytest

from postoffice.sieve import Action, Message, run
from postoffice.sieve.vacation import Vacation, should_reply, vacation_key

HEADERS = [("From", "Friend <friend@example.net>"), ("To", "Me <me@example.com>"),
           ("Subject", "lunch?")]
MESSAGE = Message(headers=HEADERS, envelope_from="friend@example.net",
                  envelope_to="me@example.com", size=10)
OWN = ("me@example.com",)


def vacation(source: str) -> Vacation:
    result = run('require ["vacation", "variables"];\n' + source, MESSAGE)
    assert result.error is None, result.error
    assert result.actions[-1] == Action("keep"), "vacation keeps the implicit keep"
    found = result.actions[0].vacation
    assert result.actions[0].kind == "vacation" and found is not None
    return found


def test_defaults() -> None:
    assert vacation('vacation "Away";') == Vacation(
        "Away", 7, key=vacation_key(None, "Away", "", ""))


def test_every_argument() -> None:
    found = vacation('set "who" "Me"; vacation :days 3 :subject "Out (${who})" '
                     ':from "me@example.com" :addresses ["me@alias.example"] :mime '
                     ':handle "trip" "Back soon";')
    assert found == Vacation("Back soon", 3, "Out (Me)", "me@example.com",
                             ("me@alias.example",), True, "trip")


def test_days_at_least_one() -> None:
    assert vacation('vacation :days 0 "Away";').days == 1


def test_key_changes_with_the_text() -> None:
    assert vacation('vacation "A";').key != vacation('vacation "B";').key
    assert vacation('vacation :subject "S" "A";').key != vacation('vacation "A";').key


@pytest.mark.parametrize("source", [
    'vacation "A";', 'require "vacation"; vacation :days "3" "A";',
    'require "vacation"; vacation :addresses "A";',
    'require "vacation"; vacation "A"; vacation "B";',
])
def test_refused(source: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None
    assert result.actions == (Action("keep"),)


def test_replies_to_a_person_writing_to_me() -> None:
    assert should_reply(HEADERS, "friend@example.net", OWN)


@pytest.mark.parametrize(("extra", "sender"), [
    ([], ""), ([], "MAILER-DAEMON@example.net"), ([], "owner-list@example.net"),
    ([], "list-request@example.net"), ([], "ME@example.com"),
    ([("Auto-Submitted", "auto-replied")], "friend@example.net"),
    ([("List-Id", "<l.example.net>")], "friend@example.net"),
    ([("Precedence", "bulk")], "friend@example.net"),
])
def test_does_not_reply(extra: list[tuple[str, str]], sender: str) -> None:
    assert not should_reply([*HEADERS, *extra], sender, OWN)


def test_auto_submitted_no_still_replies() -> None:
    assert should_reply([*HEADERS, ("Auto-Submitted", "No")], "friend@example.net", OWN)


def test_only_when_i_am_a_recipient() -> None:
    assert not should_reply(HEADERS, "friend@example.net", ("other@example.com",))
    assert should_reply([*HEADERS, ("Cc", "other@example.com")], "friend@example.net",
                        ("other@example.com",))
