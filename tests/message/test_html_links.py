"""Rewriting the HTML parts of a message for tracking: only hrefs of <a> tags and the added
element change; every other octet of the message, the text part included, stays."""

from __future__ import annotations

import base64
import binascii
import re

from postoffice.message import mime
from postoffice.message.compose import Attachment, Draft, compose
from postoffice.message.html_links import rewrite_html, rewrite_html_text

PIXEL = b'<img src="https://t.example/t/o/TOKEN" width="1" height="1" alt="">'
HTML = ("<html><body><p>Caf\u00e9 \u2615 order:</p>\n"
        '<a href="https://shop.example/o?id=1&amp;ref=mail">view</a>\n'
        "<A HREF='HTTPS://SHOP.EXAMPLE/UP'>UP</A> <a href=http://bare.example/x>bare</a>\n"
        '<a href="mailto:help@shop.example">mail</a> <a href="#top">top</a>\n'
        "<!-- <a href=\"https://comment.example/\"> --><script>var s='<a href=\"https://js.example/\">';</script>\n"
        + "<p>" + "long line " * 20 + "</p>\n"
        "</body></html>")


def links(url: str) -> str | None:
    if not url.lower().startswith(("http://", "https://")):
        return None
    return "https://t.example/t/c/" + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def target(tracked: str) -> str:
    token = tracked.rsplit("/", 1)[1]
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def parts(raw: bytes) -> dict[str, mime.Part]:
    return {p.content_type: p for p in mime.parse(raw).walk() if not p.multipart}


def outside(raw: bytes, part: mime.Part) -> tuple[bytes, bytes]:
    return raw[:part.body_start], raw[part.body_end:]


def test_links_and_pixel_in_html_source() -> None:
    seen: list[str] = []

    def record(url: str) -> str | None:
        seen.append(url)
        return links(url)

    out = rewrite_html_text(HTML, links=record, append=PIXEL.decode())
    # The href's entities are decoded for the caller; mailto and anchors are its to refuse.
    assert seen == ["https://shop.example/o?id=1&ref=mail", "HTTPS://SHOP.EXAMPLE/UP",
                    "http://bare.example/x", "mailto:help@shop.example", "#top"]
    assert "<A HREF=\"https://t.example/t/c/" in out  # the tag as written, but its value
    assert '<a href="mailto:help@shop.example">' in out and '<a href="#top">' in out
    assert "https://comment.example/" in out and "https://js.example/" in out  # not links
    assert out.endswith(PIXEL.decode() + "</body></html>")
    tracked = re.findall(r'"(https://t\.example/t/c/[^"]+)"', out)
    assert sorted(target(t) for t in tracked) == sorted(seen[:3])
    # Take away the changes and the source is the same.
    undone = out.replace(PIXEL.decode(), "")
    for t in tracked:
        undone = undone.replace(f'"{t}"', "@")
    original = (HTML.replace('"https://shop.example/o?id=1&amp;ref=mail"', "@")
                .replace("'HTTPS://SHOP.EXAMPLE/UP'", "@").replace("http://bare.example/x", "@"))
    assert undone == original


def test_no_body_end_tag_appends_before_trailing_line_breaks() -> None:
    assert rewrite_html_text("<p>hi</p>\r\n", append="<img>") == "<p>hi</p><img>\r\n"
    assert rewrite_html_text("<p>hi", append="<img>") == "<p>hi<img>"
    # the last </body> when there are several
    assert rewrite_html_text("</body>x</BODY>", append="!") == "</body>x!</BODY>"


def test_multipart_alternative_quoted_printable_html() -> None:
    draft = Draft(from_="shop@example.test", to=("ann@example.net",), subject="Order",
                  text="Thanks \u2615 https://shop.example/o?id=1", html=HTML,
                  attachments=(Attachment("a.pdf", b"%PDF" * 100, "application/pdf"),))
    raw = compose(draft, hostname="mail.example.test").content
    before = parts(raw)
    assert before["text/html"].transfer_encoding == "quoted-printable"
    out = rewrite_html(raw, links=links, append=PIXEL)
    after = parts(out)
    html_before, html_after = before["text/html"], after["text/html"]
    assert outside(raw, html_before)[0] == outside(out, html_after)[0]
    assert outside(raw, html_before)[1] == outside(out, html_after)[1]
    # the text part and the attachment are where they were, byte for byte, in what follows
    for kind in ("text/plain", "application/pdf"):
        b, a = before[kind], after[kind]
        assert raw[b.header_start:b.body_end] == out[a.header_start:a.body_end]
    text = mime.decoded_body(out, html_after).decode("utf-8")
    assert "Caf\u00e9 \u2615" in text and PIXEL.decode() + "</body>" in text
    assert "https://shop.example" not in text.replace("HTTPS://SHOP.EXAMPLE", "")
    assert all(len(line) <= 76 for line in out[html_after.body_start:html_after.body_end]
               .split(b"\r\n"))
    assert mime.decoded_body(out, after["text/plain"]) == mime.decoded_body(raw, before["text/plain"])


def base64_message(html: bytes, eol: bytes = b"\r\n") -> bytes:
    body = binascii.b2a_base64(html, newline=False)
    lines = eol.join(body[i:i + 76] for i in range(0, len(body), 76))
    return eol.join([
        b"From: a@example.test", b"To: b@example.net", b"MIME-Version: 1.0",
        b'Content-Type: multipart/alternative; boundary="XX"', b"", b"--XX",
        b"Content-Type: text/plain; charset=iso-8859-1", b"", b"see http://x.example/", b"--XX",
        b"Content-Type: TEXT/HTML; charset=iso-8859-1", b"Content-Transfer-Encoding: BASE64",
        b"", lines, b"", b"--XX--", b""])


def test_base64_html_in_another_charset() -> None:
    html = '<p>Gr\u00fc\u00dfe</p><A HREF="http://x.example/?a=1&amp;b=2">x</A>'.encode("latin-1")
    raw = base64_message(html)
    out = rewrite_html(raw, links=links, append=PIXEL)
    part = parts(out)["text/html"]
    decoded = mime.decoded_body(out, part)
    assert decoded.startswith("<p>Gr\u00fc\u00dfe</p>".encode("latin-1"))  # not re-coded
    assert decoded.endswith(b">x</A>" + PIXEL)
    assert target(decoded.split(b'"')[1].decode()) == "http://x.example/?a=1&b=2"
    assert out.startswith(raw[:parts(raw)["text/html"].body_start])
    assert out.endswith(b"\r\n\r\n--XX--\r\n")  # the empty line after the base64 stays
    assert b"see http://x.example/" in out


def test_attachments_attached_messages_and_untouched_messages() -> None:
    plain = b"From: a@example.test\r\nSubject: x\r\n\r\n<a href=\"http://x.example/\">\r\n"
    assert rewrite_html(plain, links=links, append=PIXEL) is plain
    attached = (b"From: a@example.test\r\nContent-Type: text/html\r\n"
                b"Content-Disposition: attachment; filename=a.html\r\n\r\n<a href='http://x/'>\r\n")
    assert rewrite_html(attached, links=links, append=PIXEL) is attached
    forwarded = (b"From: a@example.test\r\nContent-Type: message/rfc822\r\n\r\n"
                 b"From: b@example.test\r\nContent-Type: text/html\r\n\r\n<a href='http://x/'>\r\n")
    assert rewrite_html(forwarded, links=links, append=PIXEL) is forwarded
    nothing = b"From: a@example.test\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n"
    assert rewrite_html(nothing, links=links) is nothing


def test_html_only_7bit_stays_7bit_unless_a_line_grows_too_long() -> None:
    head = b"From: a@example.test\r\nContent-Type: text/html; charset=utf-8\r\n"
    raw = head + b"Content-Transfer-Encoding: 7bit\r\n\r\n<a href=\"http://x.example/\">x</a>\r\n"
    out = rewrite_html(raw, links=links, append=PIXEL)
    assert out.startswith(raw[:raw.index(b"\r\n\r\n") + 4])
    assert out.endswith(b">x</a>" + PIXEL + b"\r\n")
    long = head + b"\r\n" + b"".join(b'<a href="http://x.example/%d">x</a>' % i for i in range(40))
    out = rewrite_html(long, links=links)
    part = parts(out)["text/html"]
    assert part.transfer_encoding == "quoted-printable"
    assert out.count(b"Content-Transfer-Encoding") == 1
    assert max(len(line) for line in out.split(b"\r\n")) <= 998
    assert mime.decoded_body(out, part).count(b"https://t.example/t/c/") == 40
