"""Message content for IMAP: raw bytes with their MIME tree (a small per-session cache), the
stored summary of each blob (ENVELOPE, BODY, BODYSTRUCTURE as sent, and decoded header fields
for SEARCH/SORT/THREAD), and the MessageView that SEARCH, SORT and THREAD read."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from postoffice.message import mime
from postoffice.proto.imap import responses as r
from postoffice.proto.imap.bodystructure import body_structure
from postoffice.proto.imap.envelope import envelope
from postoffice.storage import Store
from postoffice.storage.mailboxes import Summary

SUMMARY_FIELDS = ("from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to",
                  "references", "reply-to", "sender")
"""Header fields kept decoded in the summary: SEARCH on them needs no message read."""
CACHED_MESSAGES = 16
CACHED_SUMMARIES = 20_000
"""Summaries a session keeps (a blob's summary never changes)."""


@dataclass(frozen=True)
class Parsed:
    raw: bytes
    root: mime.Part


class ContentCache:
    """Recently read messages of one session, parsed."""

    def __init__(self, size: int = CACHED_MESSAGES) -> None:
        self._size = size
        self._items: OrderedDict[str, Parsed] = OrderedDict()
        self.summaries: dict[str, Summary] = {}
        self._fields: dict[str, dict[str, list[str]]] = {}

    def fields(self, blob: str, encoded: str) -> dict[str, list[str]]:
        """A summary's decoded header fields, parsed once per session."""
        found = self._fields.get(blob)
        if found is None:
            if len(self._fields) >= CACHED_SUMMARIES:
                self._fields.clear()
            found = self._fields[blob] = json.loads(encoded)
        return found

    def get(self, store: Store, blob: str) -> Parsed:
        found = self._items.get(blob)
        if found is not None:
            self._items.move_to_end(blob)
            return found
        raw = store.blobs.read(blob)
        parsed = Parsed(raw, mime.parse(raw))
        self._items[blob] = parsed
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return parsed


def summarize(blob: str, parsed: Parsed) -> Summary:
    raw, root = parsed.raw, parsed.root
    fields: dict[str, list[str]] = {}
    for name, value in mime.header_fields(raw[root.header_start:root.header_end]):
        key = name.lower()
        if key in SUMMARY_FIELDS:
            fields.setdefault(key, []).append(mime.decode_words(value))
    return Summary(blob, raw[root.header_start:root.header_end], r.render(envelope(raw, root)),
                   r.render(body_structure(raw, root, False)),
                   r.render(body_structure(raw, root, True)),
                   json.dumps(fields, ensure_ascii=False, separators=(",", ":")))


def header_only(summary: Summary) -> Parsed:
    """The message's header section as a message of its own (for BODY[HEADER...]): header
    sections read only the offsets, so nothing needs parsing."""
    end = len(summary.header)
    return Parsed(summary.header, mime.Part(0, end, end, end))


def summaries(store: Store, cache: ContentCache, blobs: Sequence[str]) -> dict[str, Summary]:
    """The summary of each blob: the session's, stored ones, and missing ones made and
    stored now."""
    known = cache.summaries
    result = {b: known[b] for b in blobs if b in known}
    wanted = [b for b in dict.fromkeys(blobs) if b not in result]
    if wanted:
        found = store.get_summaries(wanted)
        made = [summarize(b, cache.get(store, b)) for b in wanted if b not in found]
        if made:
            store.put_summaries(made)
            found.update((s.blob, s) for s in made)
        result.update(found)
        if len(known) + len(found) > CACHED_SUMMARIES:
            known.clear()
        known.update(found)
    return result


class View:
    """One message for SEARCH/SORT/THREAD (proto/imap/view.MessageView)."""

    __slots__ = ("_cache", "_fields", "_parsed", "_store", "blob", "flags", "internal_date",
                 "modseq", "recent", "seq", "size", "uid")

    def __init__(self, store: Store, cache: ContentCache, *, seq: int, uid: int,
                 flags: frozenset[str], recent: bool, internal_date: float, size: int,
                 modseq: int, blob: str, fields: str) -> None:
        self.seq, self.uid, self.flags, self.recent = seq, uid, flags, recent
        self.internal_date, self.size, self.modseq, self.blob = internal_date, size, modseq, blob
        self._store, self._cache = store, cache
        self._fields = fields
        self._parsed: Parsed | None = None

    def _content(self) -> Parsed:
        if self._parsed is None:
            self._parsed = self._cache.get(self._store, self.blob)
        return self._parsed

    def header(self, name: str) -> list[str]:
        key = name.lower()
        if key in SUMMARY_FIELDS:
            return list(self._cache.fields(self.blob, self._fields).get(key, ()))
        parsed = self._content()
        header = parsed.raw[parsed.root.header_start:parsed.root.header_end]
        return [mime.decode_words(v) for n, v in mime.header_fields(header) if n.lower() == key]

    def header_text(self) -> str:
        parsed = self._content()
        header = parsed.raw[parsed.root.header_start:parsed.root.header_end]
        return "\n".join(f"{n}: {mime.decode_words(v)}" for n, v in mime.header_fields(header))

    def body_text(self) -> str:
        parsed = self._content()
        return mime.searchable_text(parsed.raw, parsed.root)
