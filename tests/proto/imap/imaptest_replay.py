"""Replays Dovecot imaptest scripts (search/sort/thread) against the pure evaluators.

A small in-memory mailbox stands in for the server: the script's mbox is appended, STORE,
EXPUNGE, FETCH, STATUS and APPEND change or report its state, and SEARCH, SORT and THREAD
answer through matching.py, sort.py and thread.py. Expected untagged lines are matched as
imaptest does: case-insensitively, `$name` binding a value on first sight.
"""

from __future__ import annotations

import calendar
import email
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from pathlib import Path

from postoffice.proto.imap import commands as c
from postoffice.proto.imap.errors import GrammarError
from postoffice.proto.imap.grammar import parse_command
from postoffice.proto.imap.matching import (
    SearchContext,
    esearch_response,
    highest_modseq,
    partial_range,
    search,
    search_response,
    uses_modseq,
)
from postoffice.proto.imap.search import SearchKey
from postoffice.proto.imap.sort import sort
from postoffice.proto.imap.thread import render_threads, thread
from postoffice.proto.imap.values import SequenceSet

NOW = 1_700_000_000.0
_FROM_LINE = re.compile(
    r"From \S+\s+\w{3} (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4})(?: ([+-])(\d\d)(\d\d))?")
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


def _decode(value: str) -> str:
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    try:
        return str(make_header(decode_header(value)))
    except (UnicodeError, LookupError, ValueError):
        return value


@dataclass
class ScriptMessage:
    """A MessageView over raw bytes, using the stdlib email package (tests only)."""

    raw: bytes
    internal_date: float
    seq: int = 0
    uid: int = 0
    flags: frozenset[str] = frozenset()
    recent: bool = True
    modseq: int = 1
    parsed: Message = field(init=False, repr=False)
    body_reads: int = 0

    def __post_init__(self) -> None:
        self.parsed = email.message_from_string(self.raw.decode("utf-8", "replace"),
                                                policy=compat32)

    @property
    def size(self) -> int:
        return len(self.raw)

    def header(self, name: str) -> list[str]:
        return [_decode(v) for v in self.parsed.get_all(name) or []]

    def header_text(self) -> str:
        return "".join(f"{k}: {_decode(v)}\r\n" for k, v in self.parsed.items())

    def body_text(self) -> str:
        self.body_reads += 1
        end = self.raw.find(b"\r\n\r\n")
        return self.raw[end + 4:].decode("utf-8", "replace") if end >= 0 else ""


def message(headers: str, body: str = "body", when: float = NOW) -> ScriptMessage:
    text = headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body + "\r\n"
    return ScriptMessage(text.encode(), when)


def read_mbox(path: Path) -> list[ScriptMessage]:
    out: list[ScriptMessage] = []
    lines: list[str] = []
    when = 0.0

    def flush() -> None:
        if lines and lines[-1] == "":
            lines.pop()
        raw = "".join(line + "\r\n" for line in lines).encode("latin-1")
        out.append(ScriptMessage(raw, when))

    started = False
    for line in path.read_text("latin-1").split("\n"):
        match = _FROM_LINE.match(line)
        if match:
            if started:
                flush()
            started, lines = True, []
            mon, day, hh, mm, ss, year, sign, zh, zm = match.groups()
            stamp = calendar.timegm((int(year), _MONTHS[mon], int(day), int(hh), int(mm),
                                     int(ss), 0, 0, 0))
            offset = (int(zh) * 3600 + int(zm) * 60) * (-1 if sign == "-" else 1) if sign else 0
            when = float(stamp - offset)
        elif started:
            lines.append(line)
    if started:
        if lines and lines[-1] == "":
            lines.pop()
        flush()
    return out


def synthetic(count: int) -> list[ScriptMessage]:
    return [message(f"Subject: message {i}", f"body {i}", NOW + i) for i in range(1, count + 1)]


def _returns(returns: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """RETURN options without PARTIAL, and PARTIAL's range."""
    if "PARTIAL" not in returns:
        return returns, None
    i = returns.index("PARTIAL")
    if i + 1 == len(returns):
        raise GrammarError("PARTIAL needs a range")
    return returns[:i] + returns[i + 2:], partial_range(returns[i + 1])


class Mailbox:
    """The selected mailbox of one session."""

    def __init__(self, source: list[ScriptMessage]) -> None:
        self.source = source
        self.next_source = 0
        self.messages: list[ScriptMessage] = []
        self.uidnext = 1
        self.modseq = 1

    def append(self, flags: frozenset[str] = frozenset()) -> None:
        template = self.source[self.next_source % len(self.source)]
        self.next_source += 1
        self.modseq += 1
        self.messages.append(ScriptMessage(template.raw, template.internal_date,
                                         seq=len(self.messages) + 1, uid=self.uidnext,
                                         flags=flags, modseq=self.modseq))
        self.uidnext += 1

    def select(self, numbers: SequenceSet, uid: bool) -> list[ScriptMessage]:
        largest = (self.messages[-1].uid if self.messages else 0) if uid else len(self.messages)
        return [m for m in self.messages if numbers.contains(m.uid if uid else m.seq, largest)]

    def context(self) -> SearchContext:
        largest_uid = self.messages[-1].uid if self.messages else 0
        return SearchContext(len(self.messages), largest_uid, NOW, UTC)

    def find(self, key: SearchKey) -> list[ScriptMessage]:
        return search(key, self.messages, self.context())

    def run(self, tag: str, line: str) -> list[str]:
        words = line.split()
        verb = words[0].lower()
        uid = verb == "uid"
        if uid:
            verb = words[1].lower()
        if verb == "store":
            return self.store(parse_command(f"{tag} {line}".encode()))
        if verb == "expunge":
            return self.expunge()
        if verb == "fetch":
            return self.fetch(words[1], [w.strip("()").lower() for w in words[2:]])
        if verb == "append":
            flags = frozenset(f.strip("()") for f in words[2:])
            self.append(frozenset("\\Seen" if f.lower() == "\\seen" else f for f in flags))
            return [f"* {len(self.messages)} EXISTS"]
        if verb in ("select", "examine"):
            return []
        if verb == "status":
            return [f"* STATUS {words[1]} (UIDNEXT {self.uidnext})"]
        command = parse_command(f"{tag} {line}".encode())
        if verb == "search":
            return self.search(command, tag)
        number: Callable[[ScriptMessage], int] = (lambda m: m.uid) if uid else (lambda m: m.seq)
        if verb == "sort":
            args = command.arguments
            assert isinstance(args, c.Sort)
            ordered = [number(m) for m in sort(args.criteria, self.find(args.key))]
            if args.returns is not None:
                returns, partial = _returns(args.returns)
                return [esearch_response(tag, ordered, returns, uid=uid, ordered=True,
                                         partial=partial).decode()]
            return [" ".join(["* SORT", *map(str, ordered)])]
        if verb == "thread":
            targs = command.arguments
            assert isinstance(targs, c.Thread)
            threads = thread(targs.algorithm, self.find(targs.key))
            return ["* THREAD " + render_threads(threads, uid).decode()]
        raise NotImplementedError(line)

    def store(self, command: c.Command) -> list[str]:
        assert isinstance(command.arguments, c.Store)
        store = command.arguments
        flags = frozenset(store.flags)
        out = []
        for m in self.select(store.sequence, command.uid):
            new = (m.flags | flags if store.mode == "+" else m.flags - flags
                   if store.mode == "-" else flags)
            if new != m.flags:
                self.modseq += 1
                m.flags, m.modseq = new, self.modseq
            out.append(f"* {m.seq} FETCH (FLAGS ({' '.join(sorted(m.flags))}))")
        return out

    def expunge(self) -> list[str]:
        out = []
        for m in reversed(self.messages):
            if "\\Deleted" in m.flags:
                out.append(f"* {m.seq} EXPUNGE")
        self.messages = [m for m in self.messages if "\\Deleted" not in m.flags]
        for i, m in enumerate(self.messages, 1):
            m.seq = i
        return out

    def fetch(self, numbers: str, items: list[str]) -> list[str]:
        command = parse_command(f"t FETCH {numbers} UID".encode())
        assert isinstance(command.arguments, c.Fetch)
        out = []
        for m in self.select(command.arguments.sequence, False):
            values = {"uid": f"UID {m.uid}", "rfc822.size": f"RFC822.SIZE {m.size}",
                      "modseq": f"MODSEQ ({m.modseq})"}
            out.append(f"* {m.seq} FETCH ({' '.join(values[i] for i in items)})")
        return out

    def search(self, command: c.Command, tag: str) -> list[str]:
        assert isinstance(command.arguments, c.Search)
        args = command.arguments
        found = self.find(args.key)
        numbers = [m.uid if command.uid else m.seq for m in found]
        modseq = highest_modseq(found, args.returns, command.uid) \
            if uses_modseq(args.key) else None
        if args.returns is not None:
            returns, partial = _returns(args.returns)
            return [esearch_response(tag, numbers, returns, uid=command.uid, modseq=modseq,
                                     partial=partial).decode()]
        return [search_response(numbers, modseq).decode().rstrip("\r\n")]


# -- scripts ---------------------------------------------------------------------------------

@dataclass
class Step:
    command: str
    expected: list[str]
    status: str


def read_script(path: Path) -> tuple[dict[str, str], list[Step]]:
    head, _, body = path.read_text().partition("\n\n")
    settings = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        settings[name.strip().lower()] = value.strip()
    steps: list[Step] = []
    for line in body.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("* "):
            steps[-1].expected.append(line)
        elif line.startswith("! "):
            continue
        else:
            status, _, command = line.partition(" ")
            steps.append(Step(command, [], status.lower()))
    return settings, steps


_VARIABLE = re.compile(r"\$([A-Za-z_]\w*)")


def _pattern(expected: str, bound: dict[str, str]) -> re.Pattern[str]:
    parts, seen, pos = [], set(), 0
    for match in _VARIABLE.finditer(expected):
        parts.append(re.escape(expected[pos:match.start()]))
        name = match.group(1)
        if name in bound:
            parts.append(re.escape(bound[name]))
        elif name in seen:
            parts.append(f"(?P={name})")
        else:
            parts.append(f"(?P<{name}>\\d+)")
            seen.add(name)
        pos = match.end()
    parts.append(re.escape(expected[pos:]))
    return re.compile("".join(parts), re.IGNORECASE)


def replay(path: Path) -> None:
    """Runs the script; an AssertionError names the first expectation that failed."""
    settings, steps = read_script(path)
    mbox = path.with_name(path.name + ".mbox")
    source = read_mbox(mbox) if mbox.exists() else synthetic(int(settings["messages"]))
    mailbox = Mailbox(source)
    if settings.get("state", "selected") != "created":
        count = settings.get("messages", "all")
        for _ in range(len(source) if count == "all" else int(count)):
            mailbox.append()
    bound = {"mailbox": "imaptest", "tag": "t1"}
    for step in steps:
        command = _VARIABLE.sub(lambda m: bound.get(m.group(1), m.group()), step.command)
        try:
            answer, status = mailbox.run("t1", command), "ok"
        except GrammarError:
            answer, status = [], "bad"
        assert status == step.status, f"{path.name}: {command!r} answered {status}"
        actual = [line.replace('"', "").strip() for line in answer]
        for expected in step.expected:
            pattern = _pattern(expected.strip(), bound)
            match = next((m for m in map(pattern.fullmatch, actual) if m), None)
            assert match, f"{path.name}: {command!r}\n expected {expected!r}\n got {actual!r}"
            bound.update(match.groupdict())
