"""ENVELOPE, BODY[STRUCTURE] and BODY[]/BINARY[] sections against Dovecot's imaptest scripts.

Each fetch-* script names commands and the untagged FETCH responses expected for the messages
of its .mbox file; we compute the same items from our part tree and compare them the way
imaptest does (case-insensitively, `$` matching anything, `$name` binding on first sight).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from postoffice.message import mime
from postoffice.proto.imap import responses
from postoffice.proto.imap.bodystructure import body_structure
from postoffice.proto.imap.envelope import addresses, envelope
from postoffice.proto.imap.fetch import FetchAttribute, Section, fetch_attributes
from postoffice.proto.imap.scanner import Scanner
from postoffice.proto.imap.sections import (
    UnknownTransferEncoding,
    binary_bytes,
    binary_size,
    find_part,
    partial,
    section_bytes,
)
from postoffice.testing.conformance import CONFORMANCE, IMAPTEST_SCRIPTS

SCRIPTS = IMAPTEST_SCRIPTS
FETCH_SCRIPTS = ["fetch-envelope", "fetch-bodystructure", "fetch-body", "fetch-body-mime",
                 "fetch-body-message-rfc822", "fetch-body-message-rfc822-mime",
                 "fetch-body-message-rfc822-x2", "fetch-binary-mime",
                 "fetch-binary-mime-base64", "fetch-binary-mime-qp"]

Token = bytes | None | list["Token"]


def crlf(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def mbox_messages(path: Path) -> list[bytes]:
    """The messages as imaptest appends them: each "From " line starts one, CRLF lines."""
    return [crlf(m) for m in re.split(rb"(?m)^From [^\n]*\n", path.read_bytes())[1:]]


# -- reading responses ------------------------------------------------------------------------

def tokens(data: bytes) -> list[Token]:
    """An IMAP response as nested lists: atoms and strings as bytes, NIL as None."""
    stack: list[list[Token]] = [[]]
    i, n = 0, len(data)
    while i < n:
        c = data[i:i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c == b"(":
            stack.append([])
            i += 1
        elif c == b")":
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif c == b'"':
            out = bytearray()
            i += 1
            while data[i:i + 1] != b'"':
                if data[i:i + 1] == b"\\":
                    i += 1
                out += data[i:i + 1]
                i += 1
            stack[-1].append(bytes(out))
            i += 1
        elif (literal := re.match(rb"~?\{(\d+)\}\r\n", data[i:])) is not None:
            start = i + literal.end()
            stack[-1].append(data[start:start + int(literal[1])])
            i = start + int(literal[1])
        else:
            start = i
            depth = 0
            while i < n and (depth or data[i:i + 1] not in (b" ", b")", b"(")):
                depth += {b"[": 1, b"]": -1}.get(data[i:i + 1], 0)
                i += 1
            atom = data[start:i]
            stack[-1].append(None if atom.upper() == b"NIL" else atom)
    return stack[0]


def matches(expected: Token, actual: Token, names: dict[bytes, Token]) -> bool:
    if isinstance(expected, bytes) and expected.startswith(b"$") and len(expected) > 0:
        if expected == b"$":
            return True
        if expected not in names:
            names[expected] = actual
            return True
        expected = names[expected]
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(matches(e, a, names) for e, a in zip(expected, actual, strict=True)))
    if expected is None or actual is None or isinstance(actual, list):
        return expected is actual
    return expected.lower() == actual.lower()


# -- reading scripts --------------------------------------------------------------------------

def script_steps(path: Path) -> list[tuple[bytes, list[bytes]]]:
    """(command, expected untagged responses) for every "ok" command of the script."""
    lines = path.read_bytes().split(b"\n")
    lines = lines[lines.index(b"") + 1:]
    steps: list[tuple[bytes, list[bytes]]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.startswith(b"#"):
            continue
        response = bytearray()
        while (block := re.search(rb"(~?)\{\{\{$", line)) is not None:
            body = []
            while not lines[i].startswith(b"}}}"):
                body.append(lines[i])
                i += 1
            content = b"\n".join(body)
            content = content if block[1] else crlf(content)
            response += line[:block.start()] + b"{%d}\r\n" % len(content) + content
            line = lines[i][3:]
            i += 1
        response += line
        if response.startswith(b"* "):
            steps[-1][1].append(bytes(response))
        elif response.lower().startswith(b"ok "):
            steps.append((bytes(response[3:]), []))
        elif not response.startswith(b"! "):
            steps.append((b"", []))
    return steps


# -- computing FETCH items --------------------------------------------------------------------

def section_name(section: Section) -> str:
    spec = ".".join(str(n) for n in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
    if section.fields:
        spec += " (" + " ".join(section.fields) + ")"
    return f"[{spec}]"


def fetch_item(raw: bytes, root: mime.Part, attribute: FetchAttribute
               ) -> tuple[str, responses.Value] | None:
    name, section = attribute.name, attribute.section
    if name == "ENVELOPE":
        return name, envelope(raw, root)
    if name in ("BODY", "BODYSTRUCTURE") and section is None:
        return name, body_structure(raw, root, name == "BODYSTRUCTURE")
    if name == "RFC822":
        return name, section_bytes(raw, root, Section())
    if name in ("RFC822.HEADER", "RFC822.TEXT"):
        return name, section_bytes(raw, root, Section(text=name.split(".")[1]))
    if section is None:
        return None
    label = name + section_name(section)
    if name == "BINARY.SIZE":
        return label, binary_size(raw, root, section)
    data = (binary_bytes if name == "BINARY" else section_bytes)(raw, root, section)
    if attribute.partial is not None and data is not None:
        data = partial(data, *attribute.partial)
        label += f"<{attribute.partial[0]}>"
    return label, data


def normal_name(name: bytes) -> bytes:
    return b" ".join(name.upper().split())


def check_script(name: str) -> int:
    """Compare every expected FETCH item of the script; the number compared."""
    messages = mbox_messages(SCRIPTS / f"{name}.mbox")
    roots = [mime.parse(m) for m in messages]
    names: dict[bytes, Token] = {}
    compared = 0
    for command, expected in script_steps(SCRIPTS / name):
        words = command.split(b" ", 2)
        if words[0].lower() != b"fetch":
            continue
        attributes = fetch_attributes(Scanner(words[2]))
        for line in expected:
            star, number, kind, items = tokens(line)
            assert kind is not None and kind.lower() == b"fetch"
            assert isinstance(number, bytes) and isinstance(items, list)
            index = int(number) - 1
            ours: dict[bytes, Token] = {}
            for attribute in attributes:
                item = fetch_item(messages[index], roots[index], attribute)
                if item is not None:
                    value = tokens(responses.render(item[1]))[0]
                    ours[normal_name(item[0].encode())] = value
            for key, value in zip(items[::2], items[1::2], strict=True):
                assert isinstance(key, bytes)
                if key.lower() == b"flags":
                    continue
                assert normal_name(key) in ours, (name, command, key)
                actual = ours[normal_name(key)]
                assert matches(value, actual, names), (name, command, key, value, actual)
                compared += 1
    return compared


@pytest.mark.parametrize("name", FETCH_SCRIPTS)
def test_imaptest_fetch_script(conformance_dir: Path, name: str) -> None:
    assert check_script(name) > 0


# -- Dovecot's own BODY / BODYSTRUCTURE cases (line ends made CRLF) ---------------------------

BODYSTRUCTURE_CASES = [
    (b"From: user@domain.org\nMime-Version: 1.0\n"
     b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nbody\n\n",
     '"text" "plain" ("charset" "utf-8") NIL NIL "8bit" 8 2 NIL NIL NIL NIL',
     '"text" "plain" ("charset" "utf-8") NIL NIL "8bit" 8 2'),
    (b"From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\n"
     b'Content-Type: multipart/mixed; boundary="foo bar"\n\n'
     b"--foo bar\nContent-Type: text/plain; charset=us-ascii\n"
     b"Content-ID: <A.frop.example.com>\nContent-Description: Container message\n\n"
     b"See attached...\n\n"
     b"--foo bar\nContent-Type: message/rfc822\nContent-ID: <B.frop.example.com>\n"
     b"Content-Description: Forwarded\n\n"
     b"From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\n"
     b"Content-Type: text/plain; charset=us-ascii\n\nbody\n\n--foo bar--\n",
     '("text" "plain" ("charset" "us-ascii") "<A.frop.example.com>" "Container message" '
     '"7bit" 17 1 NIL NIL NIL NIL)("message" "rfc822" NIL "<B.frop.example.com>" "Forwarded" '
     '"7bit" 133 ("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) '
     '((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) '
     '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL) 6 '
     'NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL',
     '("text" "plain" ("charset" "us-ascii") "<A.frop.example.com>" "Container message" '
     '"7bit" 17 1)("message" "rfc822" NIL "<B.frop.example.com>" "Forwarded" "7bit" 133 '
     '("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) '
     '((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) '
     '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 6) "mixed"'),
    (b'From: user@domain.org\nMime-Version: 1.0\n'
     b'Content-Type: multipart/mixed; boundary="foo\n bar"\n\nRoot MIME prologue\n\n'
     b'--foo bar\nContent-Type: text/x-myown; charset=us-ascii; foo="quoted\\"string"\n'
     b"Content-ID: <foo@example.com>\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
     b"Content-Disposition: inline; foo=bar\nContent-Description: hellodescription\n"
     b"Content-Language: en, fi, se\nContent-Location: http://example.com/test.txt\n\n"
     b"hello\n\n--foo bar\nContent-Type: message/rfc822\n\n"
     b"From: sub@domain.org\nTo: sub-to1@domain.org, sub-to2@domain.org\n"
     b"Date: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\n"
     b'Content-Type: multipart/alternative; boundary="sub1"\n\nSub MIME prologue\n'
     b"--sub1\nContent-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n"
     b"<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\n"
     b"Content-Transfer-Encoding: ?invalid\n\nHello another world\n\n--sub1--\n"
     b"Sub MIME epilogue\n\n--foo bar--\nRoot MIME epilogue\n",
     '("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\\"string") "<foo@example.com>" '
     '"hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar")) '
     '("en" "fi" "se") "http://example.com/test.txt")("message" "rfc822" NIL NIL NIL "7bit" '
     '412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) '
     '((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) '
     '((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) '
     '(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)'
     '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) '
     '"alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL) "mixed" '
     '("boundary" "foo bar") NIL NIL NIL',
     None),
    (b'Content-Type: multipart/mixed; boundary="foo"\n\n',
     '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" '
     '("boundary" "foo") NIL NIL NIL',
     '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed"'),
    (b"Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
     b"Content-Disposition: attachment; filename=\"pigeon.png\"\n\niVBORw0K\n",
     '"image" "png" NIL NIL NIL "base64" 10 NIL ("attachment" ("filename" "pigeon.png")) '
     "NIL NIL", '"image" "png" NIL NIL NIL "base64" 10'),
]


def rendered(value: responses.Value) -> bytes:
    """As sent: no SP between the bodies of a multipart or between addresses (RFC 9051's
    `1*body` / `1*address`, as Dovecot sends them)."""
    return responses.render(value)


@pytest.mark.parametrize(("message", "extended", "plain"), BODYSTRUCTURE_CASES)
def test_dovecot_bodystructure_cases(message: bytes, extended: str, plain: str | None) -> None:
    raw = crlf(message)
    root = mime.parse(raw)
    assert rendered(body_structure(raw, root, True)) == b"(" + extended.encode() + b")"
    if plain is not None:
        assert rendered(body_structure(raw, root, False)) == b"(" + plain.encode() + b")"


# -- addresses --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (b"", "NIL"),
    (b"  ", "NIL"),
    (b"user", '((NIL NIL "user" "MISSING_DOMAIN"))'),
    (b"<user@example.com>", '((NIL NIL "user" "example.com"))'),
    (b'"Doe, John" <john@example.com>', '(("Doe, John" NIL "john" "example.com"))'),
    (b'"john doe"@example.com', '((NIL NIL "john doe" "example.com"))'),
    (b"=?utf-8?q?J=C3=B6rg?= <j@example.com>",
     '(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "example.com"))'),
    (b"John Q. Public <jqp@example.com>", '(("John Q. Public" NIL "jqp" "example.com"))'),
    (b"a@b, c@d", '((NIL NIL "a" "b")(NIL NIL "c" "d"))'),
    (b"<@r1,@r2:u@d>", '((NIL "@r1,@r2" "u" "d"))'),
    (b"u@[127.0.0.1]", '((NIL NIL "u" "[127.0.0.1]"))'),
    (b"Name <broken", '(("Name" NIL "broken" "SYNTAX_ERROR"))'),
    (b"undisclosed-recipients:;", '((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))'),
    (b"u@d (a (nested) comment)", '(("a (nested) comment" NIL "u" "d"))'),
])
def test_address_lists(value: bytes, expected: str) -> None:
    found = addresses(value)
    assert rendered((responses.Joined(tuple(found)),) if found else None) == expected.encode()


def test_envelope_takes_the_first_field_and_keeps_encoded_words() -> None:
    raw = crlf(b"Subject: =?utf-8?b?w6k=?=\n  folded\nSubject: second\n"
               b"From: a@b\nMessage-ID:  <id@x> \n\nbody\n")
    value = envelope(raw, mime.parse(raw))
    assert isinstance(value, tuple)
    assert value[1] == b"=?utf-8?b?w6k=?= folded"
    assert value[9] == b"<id@x>"


# -- sections ---------------------------------------------------------------------------------

NESTED = crlf(b"Content-Type: multipart/mixed; boundary=a\n\n"
              b"--a\nContent-Type: text/plain\n\none\n"
              b"--a\nContent-Type: multipart/alternative; boundary=b\n\n"
              b"--b\n\ntwo\n--b\nContent-Type: text/html\n\n<b>three</b>\n--b--\n"
              b"--a\nContent-Type: application/x-thing\nContent-Transfer-Encoding: x-uue\n\n"
              b"begin\n--a--\n")


def test_sections_of_nested_multiparts() -> None:
    root = mime.parse(NESTED)
    assert section_bytes(NESTED, root, Section((1,))) == b"one"
    assert section_bytes(NESTED, root, Section((2, 1))) == b"two"
    assert section_bytes(NESTED, root, Section((2, 2))) == b"<b>three</b>"
    assert section_bytes(NESTED, root, Section((2, 2), "MIME")) == b"Content-Type: text/html\r\n\r\n"
    assert section_bytes(NESTED, root, Section((2, 3))) is None
    assert section_bytes(NESTED, root, Section((4,))) is None
    assert section_bytes(NESTED, root, Section((1,), "HEADER")) is None
    with pytest.raises(UnknownTransferEncoding):
        binary_bytes(NESTED, root, Section((3,)))
    assert binary_size(NESTED, root, Section((1,))) == 3


def test_header_fields_sections_keep_order_and_folding() -> None:
    raw = crlf(b"To: a@b\nSubject: one\n two\nfrom: x@y\n\nbody")
    root = mime.parse(raw)
    fields = section_bytes(raw, root, Section((), "HEADER.FIELDS", ("FROM", "subject")))
    assert fields == b"Subject: one\r\n two\r\nfrom: x@y\r\n\r\n"
    rest = section_bytes(raw, root, Section((), "HEADER.FIELDS.NOT", ("From", "Subject")))
    assert rest == b"To: a@b\r\n\r\n"
    assert section_bytes(raw, root, Section((1,))) == b"body"
    assert find_part(root, (1, 1)) is root


# -- robustness on public sample messages -----------------------------------------------------

def sample_messages() -> list[Path]:
    found = []
    for folder, pattern in (("cpython-email-testdata/data", "msg_*.txt"),
                            ("mimekit-testdata/messages", "*"),
                            ("mimekit-testdata/dkim", "*.msg")):
        found += sorted((CONFORMANCE / folder).glob(pattern))
    return found


@pytest.mark.parametrize("path", sample_messages(), ids=lambda p: p.name)
def test_sample_messages_render(path: Path) -> None:
    for raw in (path.read_bytes(), crlf(path.read_bytes())):
        root = mime.parse(raw)
        for extended in (False, True):
            responses.render(body_structure(raw, root, extended))
        responses.render(envelope(raw, root))
        assert root.header_start == 0 and root.body_end == len(raw)
        check_offsets(raw, root, root, ())


def check_offsets(raw: bytes, root: mime.Part, part: mime.Part, path: tuple[int, ...]) -> None:
    """Offsets nest, and BODY[path] is the part's body."""
    assert part.header_start <= part.header_end == part.body_start <= part.body_end <= len(raw)
    if path:
        assert section_bytes(raw, root, Section(path)) == raw[part.body_start:part.body_end]
    for number, child in enumerate(part.children, 1):
        assert part.body_start <= child.header_start and child.body_end <= part.body_end
        check_offsets(raw, root, child, path + (number,))
    if part.message is not None and path:
        inner = part.message
        assert inner.header_start == part.body_start and inner.body_end == part.body_end
        if inner.multipart:
            for number, child in enumerate(inner.children, 1):
                check_offsets(raw, root, child, path + (number,))
        else:
            check_offsets(raw, root, inner, path + (1,))
