"""The SVG Tiny PS basics checker (auth/bimi/svg.py)."""

import pytest

from postoffice.auth.bimi import MAX_SVG_BYTES, check_svg

GOOD = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- made by hand -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     version="1.2" baseProfile="tiny-ps" viewBox="0 0 100 100">
  <title>Brand Example</title>
  <desc>The logo</desc>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <rect width="100" height="100" fill="url(#g)"/>
  <use xlink:href="#g"/>
  <circle cx="50" cy="50" r="40" style="fill: url( '#g' )"/>
</svg>
"""


def svg(body: str, root: str = 'version="1.2" baseProfile="tiny-ps"') -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f"{root}><title>T</title>{body}</svg>").encode()


def test_a_good_logo() -> None:
    assert check_svg(GOOD) == []
    assert check_svg(svg("")) == []


def test_size_limit() -> None:
    padding = "<!--" + "x" * MAX_SVG_BYTES + "-->"
    assert check_svg(svg(padding)) == [f"larger than {MAX_SVG_BYTES} bytes ({len(svg(padding))})"]


@pytest.mark.parametrize("data, problem", [
    (b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg/>', "DOCTYPE"),
    (b'<!DOCTYPE svg SYSTEM "http://evil.example/x.dtd"><svg/>', "DOCTYPE"),
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg><svg/>'.encode("utf-16"), "DOCTYPE"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><svg/>', "encoding ISO-8859-1"),
    (b"<svg>&lol;</svg>", "not well-formed"),
    (b"<svg><title></svg>", "not well-formed"),
    (b"", "not well-formed"),
    (b'<?xml-stylesheet href="https://evil.example/s.css"?>' + svg(""), "processing instruction"),
])
def test_documents_that_are_refused_before_the_tree(data: bytes, problem: str) -> None:
    problems = check_svg(data)
    assert problems and problem in problems[0]


def test_root_element_rules() -> None:
    assert check_svg(svg("", 'version="1.1" baseProfile="tiny"')) == [
        'root lacks baseProfile="tiny-ps"', 'root lacks version="1.2"']
    assert check_svg(svg("", 'version="1.2" baseProfile="tiny-ps" x="0" y="10"')) == [
        "root has x=", "root has y="]
    no_title = b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps"/>'
    assert check_svg(no_title) == ["no title element"]
    assert check_svg(b'<svg version="1.2" baseProfile="tiny-ps"><title>T</title></svg>') == [
        "root element is svg, not SVG's svg"]  # no SVG namespace


@pytest.mark.parametrize("body, problem", [
    ("<script>alert(1)</script>", "<script> element (scripting)"),
    ('<rect width="1" height="1" onclick="alert(1)"/>', "<rect> has onclick= (scripting)"),
    ('<handler type="application/ecmascript"/>', "<handler> element (scripting)"),
    ('<rect width="1" height="1"><animate attributeName="x" to="9"/></rect>',
     "<animate> element (animation)"),
    ('<set attributeName="fill" to="red"/>', "<set> element (animation)"),
    ("<animateTransform/>", "<animateTransform> element (animation)"),
    ('<foreignObject><p xmlns="http://www.w3.org/1999/xhtml">hi</p></foreignObject>',
     "<foreignObject> element (foreign content)"),
    ('<image xlink:href="data:image/png;base64,AAAA"/>', "<image> element (embedded images)"),
    ('<use xlink:href="https://evil.example/s.svg#x"/>', "<use> refers outside the document"),
    ('<a href="https://evil.example/">x</a>', "<a> refers outside the document"),
    ('<rect fill="url(https://evil.example/p.svg#g)"/>', "<rect> refers outside the document"),
    ("<style>rect { fill: url('https://evil.example/x') }</style>",
     "<style> refers outside the document"),
    ('<style>@import "https://evil.example/x.css";</style>', "<style> imports a style sheet"),
])
def test_forbidden_content(body: str, problem: str) -> None:
    problems = check_svg(svg(body))
    assert any(p.startswith(problem) for p in problems), problems
