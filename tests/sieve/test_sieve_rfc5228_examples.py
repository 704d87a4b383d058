"""The examples of RFC 5228 (section 9 and the text), run against small messages."""

from postoffice.sieve import Action, Message, run

SECTION_9 = """\
#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto"];

#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"""


def message(*headers: tuple[str, str]) -> Message:
    return Message(headers, "sender@example.net", "me@example.com", 1000)


def section_9(*headers: tuple[str, str]) -> tuple[Action, ...]:
    result = run(SECTION_9, message(*headers))
    assert result.error is None
    return result.actions


def test_section_9_mailing_list() -> None:
    assert section_9(("Sender", "owner-ietf-mta-filters@imc.org")) == (
        Action("fileinto", "filter"),)


def test_section_9_company_mail_is_kept() -> None:
    assert section_9(("From", "boss@Example.COM"), ("To", "me@example.com")) == (Action("keep"),)


def test_section_9_not_to_me_is_spam() -> None:
    assert section_9(("From", "x@example.net"), ("To", "you@example.org")) == (
        Action("fileinto", "spam"),)


def test_section_9_spam_subject() -> None:
    assert section_9(("From", "x@example.net"), ("To", "list@example.org"),
                     ("Cc", "me@example.com"), ("Subject", "Make lots of MONEY fast!")) == (Action("fileinto", "spam"),)


def test_section_9_everything_else_is_personal() -> None:
    assert section_9(("From", "friend@example.net"), ("Cc", "me@example.com"),
                     ("Subject", "dinner")) == (Action("fileinto", "personal"),)


def test_section_3_1_if_elsif_else() -> None:
    script = """require "fileinto";
    if header :contains "from" "coyote" {
       discard;
    } elsif header :contains ["subject"] ["$$$"] {
       discard;
    } else {
       fileinto "INBOX";
    }"""
    coyote = run(script, message(("From", "wile.coyote@acme.example")))
    dollars = run(script, message(("Subject", "win $$$")))
    other = run(script, message(("Subject", "hello")))
    assert coyote.actions == dollars.actions == (Action("discard"),)
    assert other.actions == (Action("fileinto", "INBOX"),)


def test_section_2_4_2_multiline_string() -> None:
    script = ('require "reject";\r\nif size :over 100K {\r\n  reject text:\r\n'
              'Your message is too big.\r\n..Period.\r\n.\r\n;\r\n}\r\n')
    big = Message((), "a@example.net", "me@example.com", 200 * 1024)
    assert run(script, big).actions == (
        Action("reject", "Your message is too big.\r\n.Period.\r\n"),)
    assert run(script, message()).actions == (Action("keep"),)


def test_section_4_2_redirect() -> None:
    assert run('redirect "bart@example.com";', message()).actions == (
        Action("redirect", "bart@example.com"),)


def test_section_5_4_envelope() -> None:
    script = 'require "envelope";\nif envelope :all :is "from" "tim@example.com" { discard; }'
    tim = Message((), "tim@example.com", "me@example.com", 10)
    assert run(script, tim).actions == (Action("discard"),)
    assert run(script, message()).actions == (Action("keep"),)


def test_section_5_7_header_contains() -> None:
    script = 'if header :contains ["From"] ["coyote"] { redirect "acm@example.com"; }'
    assert run(script, message(("From", "coyote@desert.example"))).actions == (
        Action("redirect", "acm@example.com"),)
