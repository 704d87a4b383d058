"""The basics of the SVG Tiny Portable/Secure profile (draft-svg-tiny-ps-abrotman) that BIMI
Indicators must follow, checked on the bytes of a logo.

Checked: at most 32 KB; well-formed XML in UTF-8; no DOCTYPE (so no entities, internal or
external: the parser is stopped at the declaration) and no processing instructions; the root is
SVG's ``svg`` with ``baseProfile="tiny-ps"`` and ``version="1.2"`` and without ``x=``/``y=``; it
has a ``title`` child; nowhere a script (``script``, ``handler``, ``listener``, ``on*=``
attributes), an animation element, ``foreignObject``, an ``image``, media, or a reference out of
the document (``href`` other than ``#id``, ``url(...)`` other than ``url(#id)``, ``@import``).

Not checked: the rest of the profile's element and attribute lists, square aspect ratio, colours.
A logo that passes here may still be refused by a mailbox provider's own validator.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser

__all__ = ["MAX_SVG_BYTES", "check_svg"]

MAX_SVG_BYTES = 32 * 1024

_SVG = "{http://www.w3.org/2000/svg}"
_FORBIDDEN = {
    "script": "scripting",
    "handler": "scripting",
    "listener": "scripting",
    "animate": "animation",
    "animateColor": "animation",
    "animateMotion": "animation",
    "animateTransform": "animation",
    "animation": "animation",
    "set": "animation",
    "discard": "animation",
    "foreignObject": "foreign content",
    "image": "embedded images",
    "audio": "media",
    "video": "media",
    "iframe": "foreign content",
}
_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_URL = re.compile(r"url\(\s*['\"]?\s*([^)'\"\s]*)", re.IGNORECASE)


class _Refused(Exception):
    """Raised inside the parser to stop it at a DOCTYPE."""


class _Builder(TreeBuilder):
    """A tree builder that refuses DOCTYPEs and notes processing instructions."""

    def __init__(self) -> None:
        super().__init__()
        self.instructions: list[str] = []

    def doctype(self, name: str, pubid: str, system: str) -> None:
        raise _Refused(name)

    def pi(self, target: str, text: str | None = None) -> Element:
        self.instructions.append(target)
        return super().pi(target, text)


def check_svg(data: bytes) -> list[str]:
    """What keeps ``data`` from being an SVG Tiny PS Indicator; an empty list when nothing."""
    if len(data) > MAX_SVG_BYTES:
        return [f"larger than {MAX_SVG_BYTES} bytes ({len(data)})"]
    declared = _ENCODING.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"us-ascii", b"ascii"):
        return [f"encoding {declared.group(1).decode('ascii', 'replace')} (UTF-8 required)"]
    builder = _Builder()
    parser = XMLParser(target=builder)
    try:
        parser.feed(data)
        root = parser.close()
    except _Refused:
        return ["has a DOCTYPE (entities are not allowed)"]
    except ParseError as exc:
        return [f"not well-formed XML: {exc}"]
    problems = [f"processing instruction <?{t}?>" for t in builder.instructions]
    problems += _root_problems(root)
    for element in root.iter():
        problems += _element_problems(element)
    return problems


def _root_problems(root: Element) -> list[str]:
    if root.tag != f"{_SVG}svg":
        return [f"root element is {root.tag}, not SVG's svg"]
    problems = []
    if root.get("baseProfile") != "tiny-ps":
        problems.append('root lacks baseProfile="tiny-ps"')
    if root.get("version") != "1.2":
        problems.append('root lacks version="1.2"')
    problems += [f"root has {name}=" for name in ("x", "y") if name in root.attrib]
    if root.find(f"{_SVG}title") is None:
        problems.append("no title element")
    return problems


def _element_problems(element: Element) -> list[str]:
    if not isinstance(element.tag, str):
        return []  # comments
    name = element.tag.rpartition("}")[2]
    problems = []
    if name in _FORBIDDEN:
        problems.append(f"<{name}> element ({_FORBIDDEN[name]})")
    for attribute, value in element.attrib.items():
        local = attribute.rpartition("}")[2]
        if local.lower().startswith("on"):
            problems.append(f"<{name}> has {local}= (scripting)")
        elif local == "href" and not value.strip().startswith("#"):
            problems.append(f"<{name}> refers outside the document: {value[:80]}")
        else:
            problems += _url_problems(name, value)
    if name == "style" and element.text:
        problems += _url_problems(name, element.text)
        if "@import" in element.text.lower():
            problems.append("<style> imports a style sheet")
    return problems


def _url_problems(name: str, text: str) -> list[str]:
    return [
        f"<{name}> refers outside the document: url({target[:80]})"
        for target in _URL.findall(text)
        if not target.startswith("#")
    ]
