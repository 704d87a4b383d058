"""FETCH responses (RFC 9051 6.4.5 and 7.5.2, BINARY RFC 3516, CONDSTORE RFC 7162)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.access.content import ContentCache, header_only, summaries
from postoffice.access.selected import Selected
from postoffice.message.mime import Part
from postoffice.proto.imap import sections
from postoffice.proto.imap.fetch import FetchAttribute, Section
from postoffice.proto.imap.values import MONTHS
from postoffice.storage import Store
from postoffice.storage.mailboxes import MessageRow, Summary

_ROW_ITEMS = {"INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "BINARY",
              "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
_SUMMARY_ITEMS = {"ENVELOPE", "BODY", "BODYSTRUCTURE"}
_SETS_SEEN = {"RFC822", "RFC822.TEXT"}
_HEADER_TEXTS = {"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"}


def reads_header_only(attribute: FetchAttribute) -> bool:
    """The item is (part of) the message's own header section: the summary has it."""
    section = attribute.section
    return attribute.name == "RFC822.HEADER" or (
        attribute.name == "BODY" and section is not None and not section.part
        and section.text in _HEADER_TEXTS)


def _reads_summary(attribute: FetchAttribute) -> bool:
    """ENVELOPE, BODYSTRUCTURE, BODY (no section) and header sections come from the
    summary; BODY[...] of anything else reads the message."""
    return (attribute.name in _SUMMARY_ITEMS and (attribute.name != "BODY"
                                                  or attribute.section is None)
            or reads_header_only(attribute))


class FetchError(Exception):
    """The FETCH cannot be answered (tagged NO with this text and response code)."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass(frozen=True)
class FetchResult:
    data: bytes
    missing: bool
    """Some messages were expunged meanwhile and could not be read."""


def internal_date(epoch: float) -> bytes:
    """"17-Jul-1996 02:44:25 -0700" in the server's zone."""
    t = time.localtime(epoch)
    offset = t.tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    return (f'"{t.tm_mday:2d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} '
            f'{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} '
            f'{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"').encode()


def literal(data: bytes, binary: bool = False) -> bytes:
    prefix = b"~" if binary and b"\0" in data else b""
    return prefix + b"{%d}\r\n" % len(data) + data


def section_name(attribute: FetchAttribute) -> bytes:
    """The item name as echoed: BODY[1.HEADER.FIELDS (A B)]<0>."""
    section = attribute.section or Section()
    spec = ".".join(str(p) for p in section.part)
    if section.text:
        spec = f"{spec}.{section.text}" if spec else section.text
    if section.fields:
        spec += " (" + " ".join(f.upper() for f in section.fields) + ")"
    name = f"{attribute.name}[{spec}]"
    if attribute.partial is not None:
        name += f"<{attribute.partial[0]}>"
    return name.encode("utf-8")


def wants_seen(attributes: Sequence[FetchAttribute]) -> bool:
    return any((a.name in ("BODY", "BINARY") and a.section is not None and not a.peek)
               or a.name in _SETS_SEEN for a in attributes)


def fetch(store: Store | None, cache: ContentCache, view: Selected, indexes: Sequence[int],
          attributes: Sequence[FetchAttribute], *, uid: bool, modseq: bool,
          rev1: bool) -> FetchResult:
    """The FETCH lines; `store` may be None when only UID, FLAGS and MODSEQ are asked."""
    names = {a.name for a in attributes}
    if uid:
        names.add("UID")
    if names <= {"UID", "FLAGS", "MODSEQ"}:
        return FetchResult(_kept_flag_lines(view, indexes, names, modseq, rev1), False)
    assert store is not None
    rows: dict[int, MessageRow] = {}
    if names & _ROW_ITEMS:
        wanted = [view.uids[i] for i in indexes]
        rows = view.rows(store, wanted)
    found: dict[str, Summary] = {}
    if any(map(_reads_summary, attributes)):
        found = summaries(store, cache, [row.blob for row in rows.values()])
    if wants_seen(attributes) and not view.read_only:
        unseen = [view.uids[i] for i in indexes
                  if "\\Seen" not in view.flags[i].split() and (not rows or view.uids[i] in rows)]
        if unseen:
            view.apply_own(store.store_flags(view.id, unseen, "add", ["\\Seen"]).changed)
            names.add("FLAGS")
    out = bytearray()
    missing = False
    for i in indexes:
        message_uid = view.uids[i]
        row = rows.get(message_uid)
        if names & _ROW_ITEMS and row is None:
            missing = True
            continue
        items: list[bytes] = []
        if "UID" in names:
            items.append(b"UID %d" % message_uid)
        if "FLAGS" in names:
            items.append(b"FLAGS " + view.flag_list(i, rev1))
        if modseq or "MODSEQ" in names:
            items.append(b"MODSEQ (%d)" % view.modseqs[i])
        for attribute in attributes:
            if attribute.name in ("UID", "FLAGS", "MODSEQ"):
                continue
            assert row is not None
            items.append(_item(store, cache, attribute, row, found))
        out += b"* %d FETCH (" % (i + 1) + b" ".join(items) + b")\r\n"
    return FetchResult(bytes(out), missing)


def _kept_flag_lines(view: Selected, indexes: Sequence[int], names: set[str], modseq: bool,
                     rev1: bool) -> bytes:
    """_flag_lines, kept by the view while nothing changes when `indexes` is one run (as a
    client's repeated FETCH 1:* FLAGS asks)."""
    if not indexes or indexes[-1] - indexes[0] + 1 != len(indexes):
        return _flag_lines(view, indexes, names, modseq, rev1)
    key = ("flags", indexes[0], len(indexes), frozenset(names), modseq, rev1)
    kept = view.kept(key)
    if isinstance(kept, bytes):
        return kept
    data = _flag_lines(view, indexes, names, modseq, rev1)
    view.keep(key, data)
    return data


def _flag_lines(view: Selected, indexes: Sequence[int], names: set[str], modseq: bool,
                rev1: bool) -> bytes:
    """The common resync FETCH (UID FLAGS [MODSEQ]) of many messages, one format per line."""
    uids, flags, modseqs = view.uids, view.flags, view.modseqs
    recent = view.recent if rev1 else set()
    if "FLAGS" in names:  # the common case: each distinct flag list formatted once
        plain = {f: f"FLAGS ({f})" for f in {flags[i] for i in indexes}}
        if recent:
            marked = {f: f"FLAGS ({f} \\Recent)" if f else "FLAGS (\\Recent)" for f in plain}
            texts = [(marked if uids[i] in recent else plain)[flags[i]] for i in indexes]
        else:
            texts = [plain[flags[i]] for i in indexes]
        with_uid, with_modseq = "UID" in names, modseq or "MODSEQ" in names
        if with_uid and with_modseq:
            lines = [f"* {i + 1} FETCH (UID {uids[i]} {t} MODSEQ ({modseqs[i]}))\r\n"
                     for i, t in zip(indexes, texts, strict=True)]
        elif with_uid:
            lines = [f"* {i + 1} FETCH (UID {uids[i]} {t})\r\n"
                     for i, t in zip(indexes, texts, strict=True)]
        elif with_modseq:
            lines = [f"* {i + 1} FETCH ({t} MODSEQ ({modseqs[i]}))\r\n"
                     for i, t in zip(indexes, texts, strict=True)]
        else:
            lines = [f"* {i + 1} FETCH ({t})\r\n" for i, t in zip(indexes, texts, strict=True)]
        return "".join(lines).encode("utf-8")
    parts = []
    for i in indexes:
        uid = uids[i]
        items = []
        if "UID" in names:
            items.append(f"UID {uid}")
        if "FLAGS" in names:
            items.append(f"FLAGS ({flags[i]} \\Recent)" if uid in recent and flags[i]
                         else "FLAGS (\\Recent)" if uid in recent else f"FLAGS ({flags[i]})")
        if modseq or "MODSEQ" in names:
            items.append(f"MODSEQ ({modseqs[i]})")
        parts.append(f"* {i + 1} FETCH ({' '.join(items)})\r\n")
    return "".join(parts).encode("utf-8")


def _item(store: Store, cache: ContentCache, attribute: FetchAttribute, row: MessageRow,
          found: dict[str, Summary]) -> bytes:
    name = attribute.name
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + internal_date(row.internal_date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % row.size
    if name == "ENVELOPE":
        return b"ENVELOPE " + found[row.blob].envelope
    if name == "BODYSTRUCTURE":
        return b"BODYSTRUCTURE " + found[row.blob].bodystructure
    if name == "BODY" and attribute.section is None:
        return b"BODY " + found[row.blob].body
    parsed = header_only(found[row.blob]) if reads_header_only(attribute) \
        else cache.get(store, row.blob)
    if name in ("RFC822", "RFC822.HEADER", "RFC822.TEXT"):
        text = {"RFC822": None, "RFC822.HEADER": "HEADER", "RFC822.TEXT": "TEXT"}[name]
        data = sections.section_bytes(parsed.raw, parsed.root, Section((), text))
        return name.encode() + b" " + literal(data or b"")
    section = attribute.section or Section()
    if name == "BINARY.SIZE":
        data = _binary(parsed.raw, parsed.root, section)
        return section_name(attribute) + b" %d" % len(data)
    if name == "BINARY":
        data = _binary(parsed.raw, parsed.root, section)
    else:
        data = sections.section_bytes(parsed.raw, parsed.root, section) or b""
    if attribute.partial is not None:
        data = sections.partial(data, *attribute.partial)
    return section_name(attribute) + b" " + literal(data, binary=name == "BINARY")


def _binary(raw: bytes, root: Part, section: Section) -> bytes:
    try:
        data = sections.binary_bytes(raw, root, section)
    except sections.UnknownTransferEncoding as exc:
        raise FetchError(str(exc), "[UNKNOWN-CTE]") from exc
    return data or b""
