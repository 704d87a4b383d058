"""The MIME composer of the send API: structure, encodings and folding, checked against the
stdlib `email` parser as an oracle and the project's own part tree; validation and
header-injection attempts; a property test over random text, subjects and display names."""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import itertools
import re
from dataclasses import replace
from email.headerregistry import Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postoffice.message import encoding, mime
from postoffice.message.compose import (
    MAX_HEADER_VALUE,
    MAX_RECIPIENTS,
    Attachment,
    Composed,
    ComposeError,
    Draft,
    compose,
)

HOST = "mail.example.com"
FROM = "Alice <alice@example.com>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
PDF = b"%PDF-1.4\n" + bytes(range(255, -1, -1)) * 40


class FixedClock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


def draft(**fields: Any) -> Draft:
    fields.setdefault("from_", FROM)
    fields.setdefault("to", ("Bob <bob@example.org>",))
    if not any(k in fields for k in ("text", "html", "attachments")):
        fields["text"] = "Hello\n"
    return Draft(**fields)


def make(**fields: Any) -> Composed:
    composed = compose(draft(**fields), hostname=HOST)
    check_lines(composed.content)
    return composed


def check_lines(content: bytes) -> None:
    """CRLF line ends only, every line within 998 octets, the content ending with CRLF."""
    assert content.endswith(b"\r\n")
    assert b"\r" not in content.replace(b"\r\n", b"")
    assert b"\n" not in content.replace(b"\r\n", b"")
    assert max(len(line) for line in content.split(b"\r\n")) <= 998


def header_lines(content: bytes) -> list[bytes]:
    return content[:content.index(b"\r\n\r\n")].split(b"\r\n")


def oracle(composed: Composed) -> email.message.EmailMessage:
    message = email.message_from_bytes(composed.content, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def shape(part: mime.Part) -> object:
    """The part tree as content types: a multipart is (type, [children])."""
    if part.multipart:
        return (part.content_type, [shape(child) for child in part.children])
    return part.content_type


_BETWEEN_WORDS = re.compile(r"(\?=)\s+(?==\?)")


def addresses(message: email.message.EmailMessage, field: str) -> tuple[Address, ...]:
    """The stdlib's reading of an address field. CPython before the fix for gh-128110 keeps
    the white space between two adjacent encoded words of a display name, which RFC 2047 6.2
    says to drop; so that white space goes before the field is parsed."""
    raw = next(value for name, value in message.raw_items() if name.lower() == field.lower())
    value = _BETWEEN_WORDS.sub(r"\1", re.sub(r"\r?\n", "", raw))
    assert not message[field].defects
    return tuple(email.policy.default.header_factory(field, value).addresses)


def leaves(raw: bytes) -> list[mime.Part]:
    return [p for p in mime.parse(raw).walk() if not p.multipart]


def lf(text: str) -> str:
    return re.sub(r"\r\n?", "\n", text)


def content_of(part: email.message.EmailMessage) -> Any:
    return part.get_content()


def expected_text(text: str | None, single: bool) -> str | None:
    """What a reader gets back: line ends as LF; a single-part message ends with one."""
    if text is None:
        return None
    text = lf(text)
    return text + "\n" if single and text and not text.endswith("\n") else text


def filename_of(part: email.message.EmailMessage) -> str | None:
    """The Content-Disposition filename as the policy's header parser reads it
    (`get_filename` unquotes twice: "<x>" would come back as "x")."""
    disposition = part["Content-Disposition"]
    return None if disposition is None else disposition.params.get("filename")


def texts(message: email.message.EmailMessage) -> tuple[str | None, str | None]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    return (None if plain is None else lf(content_of(plain)),
            None if html is None else lf(content_of(html)))


# -- structure ---------------------------------------------------------------------------------

ALT = ("multipart/alternative", ["text/plain", "text/html"])


@pytest.mark.parametrize(("fields", "tree"), [
    ({"text": "hi\n"}, "text/plain"),
    ({"html": "<p>hi</p>\n"}, "text/html"),
    ({"text": "hi\n", "html": "<p>hi</p>\n"}, ALT),
    ({"html": "<img src=cid:logo>", "attachments": (Attachment("logo.png", PNG, content_id="logo"),)},
     ("multipart/related", ["text/html", "image/png"])),
    ({"text": "hi", "html": "<img src=cid:logo>",
      "attachments": (Attachment("logo.png", PNG, content_id="logo"),)},
     ("multipart/related", [ALT, "image/png"])),
    ({"text": "hi", "attachments": (Attachment("a.pdf", PDF),)},
     ("multipart/mixed", ["text/plain", "application/pdf"])),
    ({"attachments": (Attachment("a.pdf", PDF), Attachment("b.bin", b""))},
     ("multipart/mixed", ["application/pdf", "application/octet-stream"])),
    ({"text": "hi", "html": "<img src=cid:logo@x>",
      "attachments": (Attachment("a.pdf", PDF), Attachment("logo.png", PNG, content_id="<logo@x>"),
                      Attachment("icon.png", PNG[:50], content_id="icon@x"))},
     ("multipart/mixed", [("multipart/related", [ALT, "image/png", "image/png"]),
                          "application/pdf"])),
])
def test_structure(fields: dict[str, Any], tree: object) -> None:
    composed = make(**fields)
    assert shape(mime.parse(composed.content)) == tree
    message = oracle(composed)
    assert not message.defects
    single = isinstance(tree, str)
    assert texts(message) == (expected_text(fields.get("text"), single),
                              expected_text(fields.get("html"), single))
    attachments = fields.get("attachments", ())
    parts = [p for p in message.walk() if not p.is_multipart() and filename_of(p)]
    assert sorted(filename_of(p) for p in parts) == sorted(a.filename for a in attachments)
    by_name = {filename_of(p): p for p in parts}
    for attachment in attachments:
        part = by_name[attachment.filename]
        assert content_of(part) == attachment.content
        if attachment.content_id:
            assert part["Content-ID"] == "<" + attachment.content_id.strip("<>") + ">"
            assert part.get_content_disposition() == "inline"
        else:
            assert part.get_content_disposition() == "attachment"


def test_standard_fields() -> None:
    composed = compose(draft(date=1_700_000_000.0), hostname=HOST)
    message = oracle(composed)
    assert message["Date"] == email.utils.formatdate(1_700_000_000.0, localtime=True)
    assert message["MIME-Version"] == "1.0"
    assert message["Message-ID"] == composed.message_id
    assert re.fullmatch(r"<[0-9a-f]{12}\.[0-9a-f]{20}@mail\.example\.com>", composed.message_id)
    assert message["From"].addresses[0].display_name == "Alice"
    assert message["From"].addresses[0].addr_spec == "alice@example.com"
    assert message["Subject"] is None
    names = [line.split(b":")[0] for line in header_lines(composed.content)]
    assert names == [b"Date", b"From", b"To", b"Message-ID", b"MIME-Version",
                     b"Content-Type", b"Content-Transfer-Encoding"]
    other = compose(draft(), hostname=HOST)
    assert other.message_id != composed.message_id


def test_message_ids_sort_by_the_time_they_were_made() -> None:
    """So the index of the ids we send grows at one end (storage: messages.header_id)."""
    made = [compose(draft(), hostname=HOST, clock=FixedClock(1_700_000_000.0 + n / 1000))
            .message_id for n in range(0, 5000, 7)]
    assert sorted(made) == made and len(set(made)) == len(made)
    assert made[0].startswith(f"<{1_700_000_000_000:012x}.")


def test_date_comes_from_the_clock_and_message_id_from_the_draft() -> None:
    composed = compose(draft(message_id="abc.def@example.com"), hostname=HOST,
                       clock=FixedClock(86400.0 * 365))
    message = oracle(composed)
    assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == 86400.0 * 365
    assert composed.message_id == message["Message-ID"] == "<abc.def@example.com>"
    assert make(message_id="<x@y>").message_id == "<x@y>"


def test_idn_hostname_in_message_id() -> None:
    composed = compose(draft(), hostname="mail.bücher.example")
    assert composed.message_id.endswith("@mail.xn--bcher-kva.example>")


# -- text bodies --------------------------------------------------------------------------------

def test_ascii_text_with_short_lines_is_7bit_and_line_ends_become_crlf() -> None:
    composed = make(text="one\ntwo\rthree\r\nfour")
    root = mime.parse(composed.content)
    assert root.transfer_encoding == "7bit"
    assert root.params["charset"] == "utf-8"
    assert composed.content.endswith(b"\r\n\r\none\r\ntwo\r\nthree\r\nfour\r\n")
    assert not composed.eight_bit and not composed.smtputf8


@pytest.mark.parametrize("text", [
    "Grüße aus Köln 🎉\n",
    "x" * 79 + "\n",
    "y" * 5000,
    "nul \0 and form feed \x0c\n",
    "From the start, café\nFrom here too\n",
    "trailing space \ntrailing tab\t\n.\n..\n= equals =3D é\n",
])
def test_text_needing_quoted_printable_round_trips(text: str) -> None:
    composed = make(text=text, html=text)
    check_lines(composed.content)
    plain, html = leaves(composed.content)
    for part in (plain, html):
        assert part.transfer_encoding == "quoted-printable"
        body = composed.content[part.body_start:part.body_end]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
        assert not re.search(rb"[ \t]\r\n", body + b"\r\n")
        assert not re.search(rb"^From ", body, re.MULTILINE)
        assert lf(mime.text_of(composed.content, part)) == lf(text)
    assert texts(oracle(composed)) == (lf(text), lf(text))
    assert composed.content.isascii() and not composed.eight_bit


def test_a_boundary_never_occurs_in_the_content(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = "--=_" + "a" * 32
    tokens = iter(["a" * 32, "b" * 32])
    monkeypatch.setattr(encoding.unique, "token", lambda: next(tokens))
    composed = make(text=f"{taken}\n{taken}--\n", html="<p>x</p>")
    assert composed.content.count(b"boundary=") == 1
    assert b'boundary="=_' + b"b" * 32 + b'"' in composed.content
    assert texts(oracle(composed))[0] == f"{taken}\n{taken}--\n"
    assert shape(mime.parse(composed.content)) == ALT


# -- attachments -------------------------------------------------------------------------------

@pytest.mark.parametrize("filename", [
    "report.pdf",
    "rapport d'activité – 2024.pdf",
    "日本語のファイル名.txt",
    "emoji 🎉🎉.png",
    'quote " and back\\slash.bin',
    "a" * 200 + ".pdf",
    "é" * 255,
    "=?utf-8?q?not_encoded?=.txt",
    "  spaced  out  .txt",
])
def test_filenames_round_trip(filename: str) -> None:
    composed = make(text="see attached", attachments=(Attachment(filename, PDF, "application/pdf"),))
    header = composed.content.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))
    part = oracle(composed).get_payload()[1]
    filename = filename.strip()
    assert filename_of(part) == filename
    assert content_of(part) == PDF
    leaf = leaves(composed.content)[1]
    assert leaf.disposition == "attachment"
    assert leaf.disposition_params["filename"] == filename
    assert leaf.params["name"] == filename
    assert mime.decoded_body(composed.content, leaf) == PDF
    body = composed.content[leaf.body_start:leaf.body_end]
    assert {len(line) for line in body.split(b"\r\n")[:-1]} == {76}
    if not filename.isascii():  # RFC 2231 (filename*=utf-8''... or continued: filename*0*=)
        assert re.search(rb"filename\*(0\*)?=utf-8''", composed.content)


@pytest.mark.parametrize(("filename", "given", "expected"), [
    ("doc.pdf", "", "application/pdf"),
    ("photo.PNG", "", "image/png"),
    ("notes.txt", "", "text/plain"),
    ("archive.tar.gz", "", "application/gzip"),
    ("mystery.zz-unknown", "", "application/octet-stream"),
    ("mail.eml", "", "application/octet-stream"),
    ("noext", "", "application/octet-stream"),
    ("doc.pdf", "Text/Calendar", "text/calendar"),
])
def test_content_types(filename: str, given: str, expected: str) -> None:
    composed = make(attachments=(Attachment(filename, b"data", given),))
    assert leaves(composed.content)[0].content_type == expected


def test_inline_parts_need_html_and_distinct_ids() -> None:
    with pytest.raises(ComposeError) as caught:
        make(text="x", attachments=(Attachment("a.png", PNG, content_id="a"),))
    assert caught.value.field == "attachments[0].content_id"
    with pytest.raises(ComposeError) as caught:
        make(html="x", attachments=(Attachment("a.png", PNG, content_id="a@x"),
                                    Attachment("b.png", PNG, content_id="<a@x>")))
    assert caught.value.field == "attachments[1].content_id"


# -- header fields -------------------------------------------------------------------------------

@pytest.mark.parametrize("subject", [
    "Hello",
    "Grüße 🎉🎊 emoji subject",
    "🎉" * 100,
    "a fairly long plain subject " * 20,
    "Ünïcödé " * 60,
    "x" * 300,
    "literal =?utf-8?q?encoded?= word",
    "  leading and trailing  ",
    "double  spaces\tand tab",
    "(comment) <angle> \"quote\" , ; :",
])
def test_subjects_round_trip_folded(subject: str) -> None:
    composed = make(subject=subject)
    assert oracle(composed)["Subject"] == subject
    lines = [line.decode() for line in header_lines(composed.content)]
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    field = [lines[start], *itertools.takewhile(lambda line: line[:1] in " \t", lines[start + 1:])]
    assert all(len(line) <= 78 for line in field)
    for word in re.findall(r"=\?[^?]+\?[BQ]\?[^?]*\?=", "\r\n".join(field)):
        assert len(word) <= 75
    assert mime.decode_words("".join(field)[len("Subject: "):]) == subject


@pytest.mark.parametrize(("entry", "name", "address"), [
    ("bob@example.org", "", "bob@example.org"),
    ("<bob@example.org>", "", "bob@example.org"),
    ("Bob Smith <bob@example.org>", "Bob Smith", "bob@example.org"),
    ('"Smith, Bob" <bob@example.org>', "Smith, Bob", "bob@example.org"),
    ("Smith, Bob <bob@example.org>", "Smith, Bob", "bob@example.org"),
    ('"Bob \\"the builder\\" Smith" <bob@example.org>', 'Bob "the builder" Smith', "bob@example.org"),
    ('Back\\slash <b@example.org>', "Back\\slash", "b@example.org"),
    ("Jörg Müller <joerg@example.org>", "Jörg Müller", "joerg@example.org"),
    ("😀 Smiley 😀 <s@example.org>", "😀 Smiley 😀", "s@example.org"),
    ("=?utf-8?q?sneaky?= <s@example.org>", "=?utf-8?q?sneaky?=", "s@example.org"),
    ("J. R. R. Tolkien <jrr@example.org>", "J. R. R. Tolkien", "jrr@example.org"),
    ("名前 " * 40 + "<long@example.org>", ("名前 " * 40).strip(), "long@example.org"),
    ('"john doe"@example.org', "", '"john doe"@example.org'),
    ("lit <x@[192.0.2.1]>", "lit", "x@[192.0.2.1]"),
])
def test_addresses_round_trip(entry: str, name: str, address: str) -> None:
    composed = make(to=(entry, "Other <o@example.net>"), cc=(entry,), reply_to=(entry,))
    message = oracle(composed)
    for field in ("To", "Cc", "Reply-To"):
        parsed = addresses(message, field)[0]
        assert parsed.display_name == name
        assert parsed.addr_spec == address
    assert addresses(message, "To")[1].display_name == "Other"
    assert all(len(line) <= 78 for line in header_lines(composed.content))
    assert composed.envelope_to == (address, "o@example.net")


def test_many_recipients_fold_within_78_octets() -> None:
    to = tuple(f"Recipient Number {i} <r{i}@example.org>" for i in range(600))
    cc = tuple(f"c{i}@example.net" for i in range(400))
    composed = make(to=to, cc=cc)
    assert all(len(line) <= 78 for line in header_lines(composed.content))
    message = oracle(composed)
    assert [a.addr_spec for a in message["To"].addresses] == [f"r{i}@example.org" for i in range(600)]
    assert len(message["Cc"].addresses) == 400
    assert len(composed.envelope_to) == MAX_RECIPIENTS


def test_bcc_is_in_the_envelope_only_and_duplicates_go() -> None:
    composed = make(to=("a@example.org", "B <b@Example.ORG>"), cc=("b@example.org", "c@example.org"),
                    bcc=("Secret <hidden@example.net>", "a@example.org"))
    assert b"hidden" not in composed.content and b"Bcc" not in composed.content
    assert composed.envelope_to == ("a@example.org", "b@Example.ORG", "c@example.org",
                                    "hidden@example.net")
    only_bcc = make(to=(), bcc=("hidden@example.net",))
    assert b"hidden" not in only_bcc.content
    assert oracle(only_bcc)["To"] == "undisclosed-recipients:;"
    assert only_bcc.envelope_to == ("hidden@example.net",)


def test_idn_domains_become_a_labels() -> None:
    composed = make(from_="Büro <info@bücher.example>", to=("Jürgen <j@münchen.example>",),
                    bcc=("x@straße.example",))
    message = oracle(composed)
    assert message["From"].addresses[0].addr_spec == "info@xn--bcher-kva.example"
    assert message["To"].addresses[0].addr_spec == "j@xn--mnchen-3ya.example"
    assert message["To"].addresses[0].display_name == "Jürgen"
    assert composed.envelope_to == ("j@xn--mnchen-3ya.example", "x@strasse.example")
    assert composed.content.isascii() and not composed.smtputf8 and not composed.eight_bit


def test_utf8_local_part_needs_smtputf8() -> None:
    composed = make(to=("Jörg <jörg@münchen.example>", "plain@example.org"))
    assert composed.smtputf8 and composed.eight_bit
    assert "?= <jörg@münchen.example>, plain@example.org\r\n".encode() in composed.content
    assert composed.envelope_to == ("jörg@münchen.example", "plain@example.org")
    message = email.message_from_string(composed.content.decode("utf-8"),
                                        policy=email.policy.default)
    assert message["To"].addresses[0].username == "jörg"
    assert message["To"].addresses[0].display_name == "Jörg"
    assert make(bcc=("ünsichtbar@example.org",)).smtputf8
    assert not make(to=("x@münchen.example",)).smtputf8


def test_extra_headers() -> None:
    url = "https://example.com/unsubscribe?token=" + "t" * 120
    composed = make(headers=(
        ("In-Reply-To", "<parent@example.com>"),
        ("References", " ".join(f"<ref{i}@example.com>" for i in range(20))),
        ("List-Unsubscribe", f"<{url}>, <mailto:unsub@example.com>"),
        ("X-Note", "Grüße — 🎉"),
        ("X-Empty", ""),
    ))
    message = oracle(composed)
    assert message["In-Reply-To"] == "<parent@example.com>"
    assert message["References"] == " ".join(f"<ref{i}@example.com>" for i in range(20))
    assert message["List-Unsubscribe"] == f"<{url}>, <mailto:unsub@example.com>"
    assert message["X-Note"] == "Grüße — 🎉"
    assert message["X-Empty"] == ""
    lines = header_lines(composed.content)
    assert max(len(line) for line in lines) == len(b"List-Unsubscribe: <" + url.encode() + b">,")
    assert sum(len(line) > 78 for line in lines) == 1  # the URL alone cannot be folded


# -- validation ---------------------------------------------------------------------------------

INJECTIONS = ["\r\nBcc: victim@example.net", "\nX-Evil: 1", "\r", "bad\0nul", "\x85next"]


def _inject(where: str, bad: str) -> dict[str, Any]:
    attachment = Attachment("a.txt", b"x")
    return {
        "from": {"from_": f"Alice{bad} <alice@example.com>"},
        "to[1]": {"to": ("ok@example.org", f"bob@example.org{bad}")},
        "cc[0]": {"cc": (f"Carol {bad}<carol@example.org>",)},
        "bcc[0]": {"bcc": (f"dave@example.org{bad}",)},
        "reply_to[0]": {"reply_to": (f"r{bad}@example.org",)},
        "subject": {"subject": f"Hello{bad}"},
        "headers.X-Custom": {"headers": (("X-Custom", f"value{bad}"),)},
        "headers[0]": {"headers": ((f"X-Custom{bad}", "value"),)},
        "attachments[0].filename": {"attachments": (replace(attachment, filename=f"a{bad}.txt"),)},
        "attachments[0].content_id": {"html": "x", "attachments": (
            replace(attachment, content_id=f"id{bad}@x"),)},
        "attachments[0].content_type": {"attachments": (
            replace(attachment, content_type=f"text/plain{bad}"),)},
        "message_id": {"message_id": f"id{bad}@example.com"},
    }[where]


@pytest.mark.parametrize("bad", INJECTIONS)
@pytest.mark.parametrize("where", [
    "from", "to[1]", "cc[0]", "bcc[0]", "reply_to[0]", "subject", "headers.X-Custom",
    "headers[0]", "attachments[0].filename", "attachments[0].content_id",
    "attachments[0].content_type", "message_id",
])
def test_header_injection_names_the_field(where: str, bad: str) -> None:
    with pytest.raises(ComposeError) as caught:
        make(**_inject(where, bad))
    assert caught.value.field == where
    assert "line break" in caught.value.message or "NUL" in caught.value.message
    assert str(caught.value).startswith(where + ": ")


@pytest.mark.parametrize(("fields", "where"), [
    ({"from_": "not an address"}, "from"),
    ({"from_": "a@b@c"}, "from"),
    ({"from_": ""}, "from"),
    ({"to": ("x@example.org", "a@b.c, d@e.f")}, "to[1]"),
    ({"to": ("@example.org",)}, "to[0]"),
    ({"to": ("user@",)}, "to[0]"),
    ({"to": ("user@-bad-.example",)}, "to[0]"),
    ({"to": ("Name <user@example.org",)}, "to[0]"),
    ({"to": ("a..b@example.org",)}, "to[0]"),
    ({"to": ("x" * 65 + "@example.org",)}, "to[0]"),
    ({"to": ("x@" + "a" * 64 + ".example",)}, "to[0]"),
    ({"cc": ("x@xn--.example",)}, "cc[0]"),
    ({"to": ()}, "to"),
    ({"to": (), "cc": (), "bcc": ()}, "to"),
    ({"text": None, "html": None, "attachments": ()}, "text"),
    ({"subject": "x" * (MAX_HEADER_VALUE + 1)}, "subject"),
    ({"subject": "lone \udc80 surrogate"}, "subject"),
    ({"text": "lone \ud800 surrogate"}, "text"),
    ({"headers": (("X Custom", "v"),)}, "headers[0]"),
    ({"headers": (("X:Custom", "v"),)}, "headers[0]"),
    ({"headers": (("", "v"),)}, "headers[0]"),
    ({"headers": (("X-Ok", "v"), ("X-Ümlaut", "v"))}, "headers[1]"),
    ({"headers": (("X-Long", "w" * 1000),)}, "headers.X-Long"),
    ({"attachments": (Attachment("", b"x"),)}, "attachments[0].filename"),
    ({"attachments": (Attachment("a", b"x", "nonsense"),)}, "attachments[0].content_type"),
    ({"attachments": (Attachment("a", b"x", "message/rfc822"),)}, "attachments[0].content_type"),
    ({"attachments": (Attachment("a", b"x", "multipart/mixed"),)}, "attachments[0].content_type"),
    ({"attachments": (Attachment("a", b"x", "text/plain; charset=utf-8"),)},
     "attachments[0].content_type"),
    ({"attachments": (Attachment("a", b"x", content_id="has space"),)}, "attachments[0].content_id"),
    ({"attachments": (Attachment("a" * 256, b"x"),)}, "attachments[0].filename"),
    ({"message_id": "no-at-sign"}, "message_id"),
    ({"message_id": "<a@b"}, "message_id"),
    ({"date": float("nan")}, "date"),
    ({"date": -1.0}, "date"),
])
def test_invalid_input(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ComposeError) as caught:
        make(**fields)
    assert caught.value.field == where


@pytest.mark.parametrize("name", [
    "From", "to", "CC", "Bcc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
    "content-transfer-encoding", "Content-Disposition", "Received", "DKIM-Signature",
    "Return-Path", "Sender", "Reply-To", "Resent-From", "ARC-Seal", "Authentication-Results",
])
def test_reserved_headers(name: str) -> None:
    with pytest.raises(ComposeError) as caught:
        make(headers=(("X-Fine", "ok"), (name, "value")))
    assert caught.value.field == f"headers.{name}"


def test_recipient_limit() -> None:
    to = tuple(f"r{i}@example.org" for i in range(MAX_RECIPIENTS - 1))
    make(to=to, bcc=("last@example.org",))
    with pytest.raises(ComposeError) as caught:
        make(to=to, cc=("one@example.org",), bcc=("two@example.org",))
    assert caught.value.field == "bcc[0]"


def test_hostname_must_be_valid() -> None:
    with pytest.raises(ComposeError) as caught:
        compose(draft(), hostname="bad host")
    assert caught.value.field == "hostname"


# -- property -----------------------------------------------------------------------------------

ONE_LINE = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(ONE_LINE, max_size=200),
    name=st.text(ONE_LINE, max_size=80),
    quoted=st.booleans(),
    text=st.text(st.characters(exclude_categories=("Cs",)), max_size=400),
    html=st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=200),
    filename=st.none() | st.text(ONE_LINE, min_size=1, max_size=80).filter(str.strip),
    blob=st.binary(max_size=300),
)
def test_random_drafts_round_trip(subject: str, name: str, quoted: bool, text: str,
                                  html: str | None, filename: str | None, blob: bytes) -> None:
    entry = ('"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"' if quoted
             else name.replace("<", "").replace(">", ""))
    attachments = () if filename is None else (Attachment(filename, blob),)
    composed = compose(Draft(from_=FROM, to=(f"{entry} <to@example.org>",), subject=subject,
                             text=text, html=html, attachments=attachments), hostname=HOST)
    check_lines(composed.content)
    assert all(len(line) <= 78 for line in header_lines(composed.content))
    message = oracle(composed)
    assert message["Subject"] == (subject or None)
    expected = name if quoted else name.replace("<", "").replace(">", "")
    recipient = addresses(message, "To")[0]
    assert recipient.display_name == re.sub(r"[ \t]+", " ", expected).strip()
    assert recipient.addr_spec == "to@example.org"
    single = html is None and filename is None
    assert texts(message) == (expected_text(text, single), expected_text(html, single))
    tree = "text/plain" if html is None else ALT
    if filename is not None:
        tree = ("multipart/mixed", [tree, leaves(composed.content)[-1].content_type])
        part = message.get_payload()[-1]
        filename = filename.strip()
        assert filename_of(part) == filename
        assert content_of(part) == blob
        assert mime.parse(composed.content).children[-1].disposition_params["filename"] == filename
    assert shape(mime.parse(composed.content)) == tree
