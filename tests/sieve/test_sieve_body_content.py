"""body :content (RFC 5173 section 5.3) and the MIME parts it reads."""

import pytest

from postoffice.sieve import Action, Message, run
from postoffice.sieve.interpreter import mime_parts

RAW = (
    b"From: a@example.net\r\n"
    b"Subject: Report\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"This is the preamble.\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Quarterly figures for Z=FCrich.\r\n"
    b"--inner\r\n"
    b"Content-Type: TEXT/HTML; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"PHA+UXVhcnRlcmx5IDxiPmZpZ3VyZXM8L2I+PC9wPg==\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: Forwarded minutes\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Minutes of the board meeting.\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQgc2VjcmV0\r\n"
    b"--outer--\r\n"
)
MESSAGE = Message(headers=[("Subject", "Report")], envelope_from="a@example.net",
                  envelope_to="b@example.com", size=len(RAW), mime_parts=mime_parts(RAW))


def taken(test: str, require: str = 'require "body";\n') -> bool:
    result = run(f"{require} if {test} {{ discard; }}", MESSAGE)
    assert result.error is None, result.error
    return result.actions == (Action("discard"),)


def test_mime_parts_in_order_decoded() -> None:
    kinds = [kind for kind, _ in MESSAGE.mime_parts]
    assert kinds == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html",
                     "message/rfc822", "text/plain", "application/pdf"]
    texts = [text for _, text in MESSAGE.mime_parts]
    assert "This is the preamble." in texts[0]
    assert texts[2].strip() == "Quarterly figures for Zürich."
    assert texts[3] == "<p>Quarterly <b>figures</b></p>"
    assert "Subject: Forwarded minutes" in texts[4] and "board" not in texts[4]
    assert texts[5].strip() == "Minutes of the board meeting."


@pytest.mark.parametrize(("test", "expected"), [
    ('body :content "text/html" :contains "<b>figures</b>"', True),
    ('body :content "text/plain" :contains "<b>"', False),
    ('body :content "text" :contains "<b>figures</b>"', True),  # a type: any subtype
    ('body :content "TEXT/PLAIN" :contains "zürich"', True),  # types compare case-blind
    ('body :content "text/plain" :contains "board meeting"', True),  # inside message/rfc822
    ('body :content "message/rfc822" :contains "Forwarded minutes"', True),  # its header
    ('body :content "message/rfc822" :contains "board meeting"', False),  # not its body
    ('body :content "multipart" :contains "preamble"', True),
    ('body :content "multipart" :contains "Quarterly"', False),  # not the nested parts
    ('body :content "application/pdf" :contains "secret"', True),
    ('body :content "" :contains "secret"', True),  # "" matches every part
    ('body :content ["image", "text/html"] :contains "Quarterly"', True),
    ('body :content "image" :contains ""', False),
    ('body :content "text/htm" :contains "Quarterly"', False),
])
def test_content(test: str, expected: bool) -> None:
    assert taken(test) is expected


def test_content_counts_matching_parts() -> None:
    require = 'require ["body", "relational", "comparator-i;ascii-numeric"];\n'
    assert taken('body :content "text" :count "eq" :comparator "i;ascii-numeric" "3"', require)


def test_content_with_variables() -> None:
    require = 'require ["body", "variables"]; set "kind" "text/html";\n'
    assert taken('body :content "${kind}" :contains "figures"', require)


def test_single_part_message() -> None:
    parts = mime_parts(b"Subject: x\r\n\r\nHello there\r\n")
    assert parts == (("text/plain", "Hello there\r\n"),)


def test_existing_transforms_unchanged() -> None:
    message = Message(headers=[], envelope_from="", envelope_to="b@example.com", size=1,
                      text_parts=("plain text",), mime_parts=(("text/html", "html text"),))
    result = run('require "body"; if body :contains "html" { discard; }', message)
    assert result.actions == (Action("keep"),)


@pytest.mark.parametrize(("source", "reason"), [
    ('if body :content "text" :contains "x" { keep; }', "'body' is used but not declared"),
    ('require "body"; if body :raw :content "text" :contains "x" { keep; }', "conflicts"),
    ('require "body"; if body :content "text" :text :contains "x" { keep; }', "conflicts"),
    ('require "body"; if body :content "a" :content "b" "x" { keep; }', "conflicts"),
    ('require "body"; if body :contains "x" :content "text" { keep; }', "before the keys"),
    ('require "body"; if body :content "text/" :contains "x" { keep; }', "not a content type"),
    ('require "body"; if body :content "text/plain; charset=x" "x" { keep; }',
     "not a content type"),
])
def test_refused(source: str, reason: str) -> None:
    result = run(source, MESSAGE)
    assert result.error is not None and reason in result.error, result.error
