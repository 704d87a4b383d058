import pytest

from postoffice.sieve import Action, Message, Result, run

MESSAGE = Message(
    headers=[("From", "Coyote <coyote+acme@desert.example>"),
             ("To", "me@example.com, Road Runner <rr@desert.example>"),
             ("Cc", "undisclosed-recipients:;"),
             ("Subject", "=?utf-8?q?Caf=C3=A9?= and\r\n MAKE money fast"),
             ("X-Spam", "yes")],
    envelope_from="bounce@desert.example", envelope_to="me+lists@example.com", size=2048)
KEEP = (Action("keep"),)


def actions(source: str, message: Message = MESSAGE) -> tuple[Action, ...]:
    result = run(source, message)
    assert result.error is None, result.error
    return result.actions


def taken(test: str, require: str = "") -> bool:
    """Whether `test` is true for MESSAGE."""
    return actions(f"{require} if {test} {{ discard; }}") == (Action("discard"),)


def test_empty_script_keeps() -> None:
    assert actions("") == KEEP


@pytest.mark.parametrize(("test", "expected"), [
    ("true", True), ("false", False), ("not false", True),
    ("anyof (false, true)", True), ("anyof (false, false)", False),
    ("allof (true, true)", True), ("allof (true, false)", False),
    ('exists ["from", "x-spam"]', True), ('exists ["from", "reply-to"]', False),
    ("size :over 2K", False), ("size :over 2047", True), ("size :under 2049", True),
    ("size :under 2K", False),
    ('header :is "x-spam" "YES"', True),
    ('header :comparator "i;octet" :is "x-spam" "YES"', False),
    ('header :contains "subject" "café"', True),
    ('header :matches "subject" "* and make *"', True),
    ('header :contains "reply-to" ""', False),
    ('address :is "from" "coyote+acme@desert.example"', True),
    ('address :localpart :is "from" "coyote+acme"', True),
    ('address :domain :is ["to", "cc"] "EXAMPLE.com"', True),
    ('address :all :contains "to" "runner"', False),
    ('address :is "subject" "café"', False),
    ('header :contains "to" "Runner"', True),
])
def test_tests(test: str, expected: bool) -> None:
    assert taken(test) is expected


@pytest.mark.parametrize(("test", "expected"), [
    ('envelope :is "from" "bounce@desert.example"', True),
    ('envelope :domain :is "to" "example.com"', True),
    ('envelope :user :is "to" "me"', True),
    ('envelope :detail :is "to" "lists"', True),
    ('address :detail :is "from" "acme"', True),
    ('address :detail "to" ""', False),
    ('address :user :is "to" "rr"', True),
])
def test_envelope_and_subaddress(test: str, expected: bool) -> None:
    assert taken(test, 'require ["envelope", "subaddress"];') is expected


def test_null_sender_matches_only_all() -> None:
    bounce = Message(MESSAGE.headers, "", "me@example.com", 10)
    require = 'require "envelope";'
    assert actions(f'{require} if envelope :is "from" "" {{ discard; }}', bounce) == (
        Action("discard"),)
    assert actions(f'{require} if envelope :localpart :matches "from" "*" {{ discard; }}',
                   bounce) == KEEP


def test_if_elsif_else_takes_one_branch() -> None:
    script = ('require "fileinto"; if false { fileinto "a"; } elsif true { fileinto "b"; }'
              ' elsif true { fileinto "c"; } else { fileinto "d"; }')
    assert actions(script) == (Action("fileinto", "b"),)
    assert actions('if false { discard; } else { redirect "x@y.example"; }') == (
        Action("redirect", "x@y.example"),)


def test_actions_with_tags() -> None:
    script = ('require ["fileinto", "mailbox", "copy"]; fileinto :create "Lists/ietf";'
              ' redirect :copy "archive@example.org";')
    assert actions(script) == (Action("fileinto", "Lists/ietf", create=True),
                               Action("redirect", "archive@example.org", copy=True))


def test_reject_and_ereject() -> None:
    assert actions('require "reject"; reject "go away";') == (Action("reject", "go away"),)
    assert actions('require "ereject"; ereject "no";') == (Action("ereject", "no"),)


@pytest.mark.parametrize(("script", "expected"), [
    ("keep;", KEEP),
    ("discard;", (Action("discard"),)),
    ('redirect "a@b.example";', (Action("redirect", "a@b.example"),)),
    ('require "copy"; redirect :copy "a@b.example";',
     (Action("redirect", "a@b.example", copy=True), Action("keep"))),
    ('require ["fileinto", "copy"]; fileinto :copy "x";',
     (Action("fileinto", "x", copy=True), Action("keep"))),
    ('require "fileinto"; fileinto "x";', (Action("fileinto", "x"),)),
    ('require "fileinto"; fileinto "x"; keep;', (Action("fileinto", "x"), Action("keep"))),
    ('discard; keep;', (Action("discard"), Action("keep"))),
    ('stop; discard;', KEEP),
    ('discard; stop; keep;', (Action("discard"),)),
    ('if true { stop; } discard;', KEEP),
])
def test_implicit_keep(script: str, expected: tuple[Action, ...]) -> None:
    assert actions(script) == expected


def test_duplicate_actions_happen_once() -> None:
    script = 'require "fileinto"; fileinto "x"; fileinto "x"; keep; keep;'
    assert actions(script) == (Action("fileinto", "x"), Action("keep"))


@pytest.mark.parametrize(("script", "line", "reason"), [
    ('fileinto "x";', 1, "'fileinto' is used but not declared"),
    ('require "fileinto";\nfileinto :create "x";', 2, "'mailbox' is used but not declared"),
    ('redirect :copy "a@b.example";', 1, "'copy' is used but not declared"),
    ('if address :user "to" "me" {}', 1, "'subaddress' is used but not declared"),
    ('if envelope "to" "me" {}', 1, "'envelope' is used but not declared"),
    ('require "enotify";', 1, "unsupported extension 'enotify'"),
    ('keep;\nrequire "fileinto";', 2, "require must come before"),
    ("frob;", 1, "unknown command 'frob'"),
    ("if frob {}", 1, "unknown test 'frob'"),
    ('if header :regex "a" "b" {}', 1, "unknown tag :regex"),
    ('if header :is :contains "a" "b" {}', 1, "conflicts"),
    ('if address :all :domain "a" "b" {}', 1, "conflicts"),
    ('if header :comparator "i;unicode-casemap" "a" "b" {}', 1, "unsupported comparator"),
    ('if header "a" {}', 1, "wrong arguments"),
    ('require "fileinto"; fileinto ["a", "b"];', 1, "wrong arguments"),
    ("if size 10 {}", 1, "exactly one of :over and :under"),
    ("if size :over :under 10 {}", 1, "conflicts"),
    ('if size :over "10" {}', 1, "wrong arguments"),
    ('require "envelope"; if envelope "auth" "x" {}', 1, "unsupported part"),
    ("else { keep; }", 1, "else without a preceding if"),
    ("keep;\nelsif true { keep; }", 2, "elsif without a preceding if"),
    ("if true keep;", 1, "a block is expected"),
    ("keep { }", 1, "no block expected"),
    ("if true { }\nif not (true, false) {}", 2, "not: wrong number of tests"),
    ("if anyof () {}", 1, "expected a test"),
    ("if true {\n  keep true;\n}", 2, "keep: wrong number of tests"),
    ('redirect "not an address";', 1, "redirect: not an address"),
    ('require "fileinto"; fileinto "";', 1, "empty folder name"),
    ("".join(f'redirect "{n}@b.example";\n' for n in range(6)), 6, "more than 5 redirects"),
    ("if header :is \"a\" {", 1, "missing '}'"),
])
def test_errors_keep_the_message(script: str, line: int, reason: str) -> None:
    result = run(script, MESSAGE)
    assert result.actions == KEEP
    assert result.error is not None and reason in result.error
    assert result.line == line


def test_run_time_error_discards_earlier_actions() -> None:
    result = run('discard;\nredirect "bad";', MESSAGE)
    assert result == Result(KEEP, 'redirect: not an address: \'bad\'', 2)


def test_mailboxexists() -> None:
    """RFC 5490 3.1: true when every named folder exists (INBOX always does)."""
    source = ('require ["mailbox", "fileinto"];\n'
              'if mailboxexists ["Lists", "INBOX"] { fileinto "Lists"; }\n'
              'elsif mailboxexists "inbox" { fileinto "Other"; }\n')
    with_lists = Message(headers=[("Subject", "x")], envelope_from="a@b.example",
                         envelope_to="c@d.example", size=10, folders=frozenset({"Lists"}))
    without = Message(headers=[("Subject", "x")], envelope_from="a@b.example",
                      envelope_to="c@d.example", size=10, folders=frozenset({"lists"}))
    assert [a.argument for a in run(source, with_lists).actions] == ["Lists"]
    assert [a.argument for a in run(source, without).actions] == ["Other"]
    assert run('if mailboxexists "x" { keep; }', with_lists).error is not None  # not required
