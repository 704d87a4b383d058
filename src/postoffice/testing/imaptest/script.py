"""Loading imaptest scripts (``tests/NAME`` + ``NAME.mbox``, see imaptest's scripted_test.md).

A script is a header (``key: value`` lines up to the first empty line) and command lines.
``{{{`` at the end of a line starts a multi-line literal that ends at a line starting with
``}}}`` (``~{{{`` for literal8); its lines are joined with CRLF (LF for literal8: a CR that ends a
line in the file stays), without the last line end. ``#`` lines are comments. ``!ifenv``/``!ifnenv``/``!else``/``!endif`` depend on
the environment given at run time, so :class:`Script` keeps the logical lines and builds the
command groups per run (:meth:`Script.groups`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

from postoffice.testing.imaptest.directives import add_default_directives
from postoffice.testing.imaptest.mbox import MboxMessage, read_mbox
from postoffice.testing.imaptest.values import Atom, ImapParseError, String, Value, parse_values

__all__ = [
    "STATES",
    "Command",
    "Group",
    "LiteralPart",
    "Part",
    "Script",
    "ScriptError",
    "Untagged",
    "load_script",
]

STATES = ("nonauth", "auth", "created", "appended", "selected")
"""Start states, in the order the preparation goes through them."""

Existence: TypeAlias = Literal["must", "must_not", "may"]
_EXISTENCE: dict[str, Existence] = {"* ": "must", "! ": "must_not", "? ": "may"}
_REPLIES = {"ok": "ok", "no": "no", "bad": "bad", '""': ""}


class ScriptError(ValueError):
    """The script does not follow the format."""


@dataclass(frozen=True)
class LiteralPart:
    data: str
    binary: bool = False

    def inline(self) -> str:
        return self.marker() + self.data

    def marker(self) -> str:
        """``{N}\\r\\n`` (``~{N}\\r\\n`` for literal8)."""
        return f"{'~' if self.binary else ''}{{{len(self.data)}}}\r\n"


Part: TypeAlias = "str | LiteralPart"
"""A logical line is text parts with literals between them."""


def _inline(parts: list[Part]) -> str:
    return "".join(p if isinstance(p, str) else p.inline() for p in parts)


@dataclass(frozen=True)
class Untagged:
    existence: Existence
    values: list[Value]
    line: int
    text: str


@dataclass
class Command:
    line: int
    parts: list[Part]
    tag: int = 0
    reply: list[Value] | None = None
    """Expected tagged reply (status first); None until the script gives it."""

    @property
    def text(self) -> str:
        return _inline(self.parts)


@dataclass
class Group:
    connection: int
    commands: list[Command] = field(default_factory=list)
    untagged: list[Untagged] = field(default_factory=list)
    ordered: bool = False
    sleep: float = 0.0
    bye: bool = False

    @property
    def pending(self) -> int:
        return sum(1 for c in self.commands if c.reply is None)


@dataclass
class Script:
    name: str
    path: Path
    capabilities: list[str] = field(default_factory=list)
    connections: int = 1
    state: str = "selected"
    messages: int | None = None
    """How many messages to append (wrapping around the mbox); None: the whole mbox once."""
    ignore_extra_untagged: bool = True
    users: dict[int, str] = field(default_factory=dict)
    """``user N: NAME`` header lines (connection index from 0)."""
    lines: list[tuple[int, list[Part]]] = field(default_factory=list)
    mbox: list[MboxMessage] = field(default_factory=list)

    def groups(self, env: Mapping[str, str]) -> list[Group]:
        """The command groups, with ``!ifenv`` blocks resolved against ``env``."""
        return _GroupBuilder(self, env).build()


def load_script(path: str | Path) -> Script:
    """Read the script at ``path`` and its mbox (``NAME.mbox``, else ``default.mbox`` beside it)."""
    path = Path(path)
    script = Script(name=path.name, path=path)
    header = True
    for linenum, parts in _logical_lines(path.read_bytes().decode("latin-1"), path):
        if header and parts == [""]:
            header = False
        elif header:
            _header_line(script, _inline(parts), linenum)
        elif parts != [""]:
            script.lines.append((linenum, parts))
    mbox = path.with_name(path.name + ".mbox")
    if not mbox.exists():
        mbox = path.with_name("default.mbox")
    script.mbox = read_mbox(mbox) if mbox.exists() else []
    script.groups({})  # fail early on format errors
    return script


def _logical_lines(text: str, path: Path) -> list[tuple[int, list[Part]]]:
    out: list[tuple[int, list[Part]]] = []
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    parts: list[Part] = []
    literal: list[str] | None = None
    binary = False
    start = 0

    def open_literal(prefix: str) -> None:
        nonlocal literal, binary
        binary = prefix.endswith("~")
        parts.append(prefix[:-1] if binary else prefix)
        literal = []

    for number, line in enumerate(raw, 1):
        if literal is not None:
            if not line.startswith("}}}"):
                literal.append(line)
                continue
            parts.append(LiteralPart(_join_literal(literal, binary), binary))
            rest = line[3:]
            literal = None
            if rest.endswith("{{{"):
                open_literal(rest[:-3])
                continue
            parts.append(rest)
            out.append((start, parts))
            parts = []
            continue
        start = number
        if line.startswith("#"):
            continue
        if line.endswith("{{{"):
            open_literal(line[:-3])
            continue
        out.append((number, [line]))
    if literal is not None:
        raise ScriptError(f"{path}: multi-line literal at line {start} not ended")
    return out


def _join_literal(lines: list[str], binary: bool) -> str:
    """The lines as read (a CR before the LF stays), joined with CRLF (LF for literal8)."""
    return ("\n" if binary else "\r\n").join(lines)


def _header_line(script: Script, line: str, linenum: int) -> None:
    key, sep, value = line.partition(":")
    if not sep:
        raise ScriptError(f"{script.path} line {linenum}: missing ':' in header")
    key, value = key.strip().lower(), value.strip()
    if key == "capabilities":
        script.capabilities = value.split()
    elif key == "connections":
        script.connections = int(value)
    elif key == "ignore_extra_untagged":
        script.ignore_extra_untagged = value.startswith("y")
    elif key == "messages":
        script.messages = None if value == "all" else int(value)
    elif key == "state":
        if value.lower() not in STATES:
            raise ScriptError(f"{script.path} line {linenum}: unknown state {value!r}")
        script.state = value.lower()
    elif (m := re.fullmatch(r"user (\d+)", key)) and int(m.group(1)) > 0:
        script.users[int(m.group(1)) - 1] = value
    else:
        raise ScriptError(f"{script.path} line {linenum}: unknown header {key!r}")


def _reply_prefix(line: str) -> tuple[str | None, int, str]:
    """``[tagN] ok|no|bad|"" rest`` -> (reply status or None, tag or 0, rest)."""
    tag = 0
    word = line.split(" ", 1)[0]
    m = re.fullmatch(r"(?i)tag(\d+)", word)
    if m and int(m.group(1)) > 0 and " " in line:
        tag = int(m.group(1))
        line = line.split(" ", 1)[1]
        word = line.split(" ", 1)[0]
    reply = _REPLIES.get(word.lower())
    if reply is None:
        return None, tag, line
    return reply, tag, line[len(word) :].removeprefix(" ")


class _GroupBuilder:
    def __init__(self, script: Script, env: Mapping[str, str]) -> None:
        self.script = script
        self.env = env
        self.groups: list[Group] = []
        self.group: Group | None = None
        self.connections = script.connections
        self.stack: list[tuple[int, bool, bool]] = []  # (line, skip before, else seen)
        self.skip = False

    def fail(self, linenum: int, message: str) -> ScriptError:
        return ScriptError(f"{self.script.path} line {linenum}: {message}")

    def build(self) -> list[Group]:
        for linenum, parts in self.script.lines:
            self.line(linenum, parts)
        if self.stack:
            raise self.fail(self.stack[0][0], "!ifenv not closed with !endif")
        if self.group is None:
            raise ScriptError(f"{self.script.path}: no commands")
        if self.group.pending:
            raise self.fail(self.group.commands[-1].line, "missing reply")
        self.add_logout()
        return self.groups

    def preprocess(self, linenum: int, line: str) -> bool:
        """Handle ``!ifenv`` & co; True when the line is one of them or is skipped."""
        m = re.fullmatch(r"!(ifenv|ifnenv) (.*)", line)
        if m:
            present = m.group(2) in self.env
            self.stack.append((linenum, self.skip, False))
            if present != (m.group(1) == "ifenv"):
                self.skip = True
            return True
        if line == "!else":
            if not self.stack or self.stack[-1][2]:
                raise self.fail(linenum, "unexpected !else")
            start, before, _ = self.stack[-1]
            self.stack[-1] = (start, before, True)
            if not before:
                self.skip = not self.skip
            return True
        if line == "!endif":
            if not self.stack:
                raise self.fail(linenum, "!endif without !ifenv")
            self.skip = self.stack.pop()[1]
            return True
        return self.skip

    def line(self, linenum: int, parts: list[Part]) -> None:
        first = parts[0]
        assert isinstance(first, str)
        if self.preprocess(linenum, first):
            return
        group = self.group
        if group is not None:
            if first.startswith("!sleep "):
                group.sleep = _interval(first[7:].strip())
                return
            if first.startswith("!output "):
                return
            if first == "!ordered":
                group.ordered = True
                return
            if first[:2] in _EXISTENCE:
                self.untagged(group, linenum, parts)
                return
            if group.pending and self.tagged_reply(group, linenum, parts):
                return
        if group is None or not group.pending:
            group = self.group = Group(connection=0)
            self.groups.append(group)
        if self.connections > 1:
            index, _, first = first.partition(" ")
            if not index.isdigit() or int(index) == 0:
                raise self.fail(linenum, "missing connection number")
            connection = int(index) - 1
            if group.commands and group.connection != connection:
                raise self.fail(linenum, "pipelined commands must use the same connection")
            group.connection = connection
            self.connections = max(self.connections, connection + 1)
        reply, tag, first = _reply_prefix(first)
        if tag == 0 and group.pending:
            raise self.fail(linenum, "missing reply to the previous command")
        if tag and any(c.tag == tag for c in group.commands):
            raise self.fail(linenum, f"tag{tag} reused in the command group")
        if not group.commands and first[:2] in _EXISTENCE:
            self.untagged(group, linenum, [first, *parts[1:]])  # banner check
            return
        command = Command(linenum, [first, *parts[1:]], tag)
        if reply is not None:
            command.reply = [Atom(reply)]
        group.commands.append(command)

    def tagged_reply(self, group: Group, linenum: int, parts: list[Part]) -> bool:
        text = _inline(parts)
        connection = None
        if self.connections > 1:
            index, _, rest = text.partition(" ")
            if index.isdigit() and int(index) > 0:
                connection, text = int(index) - 1, rest
        reply, tag, _ = _reply_prefix(text)
        if reply is None:
            return False
        if self.connections > 1 and connection != group.connection:
            raise self.fail(linenum, "reply for a missing or wrong connection number")
        command = next((c for c in group.commands if c.tag == tag), None)
        if command is None or command.reply is not None:
            raise self.fail(linenum, "reply for an unknown tag or a command already answered")
        values = self.parse(linenum, text)
        command.reply = values[1:] if tag else values
        if command.reply and isinstance(command.reply[0], String):
            command.reply[0] = Atom(command.reply[0].text)  # "" as a status
        return True

    def untagged(self, group: Group, linenum: int, parts: list[Part]) -> None:
        text = _inline(parts)
        existence = _EXISTENCE[text[:2]]
        values = self.parse(linenum, text[2:])
        try:
            name = add_default_directives(values)
        except ValueError as exc:
            raise self.fail(linenum, str(exc)) from None
        if name.lower().startswith("bye"):
            if existence == "may":
                raise self.fail(linenum, "'? bye' is not supported")
            group.bye = group.bye or existence == "must"
        group.untagged.append(Untagged(existence, values, linenum, text))

    def parse(self, linenum: int, text: str) -> list[Value]:
        try:
            return parse_values(text)
        except ImapParseError as exc:
            raise self.fail(linenum, f"{exc}: {text!r}") from None

    def add_logout(self) -> None:
        for group in self.groups:
            if group.bye or any(c.text.lower() == "logout" for c in group.commands):
                return
        group = Group(connection=0)
        group.commands.append(Command(0, ["logout"], reply=[Atom("ok")]))
        self.groups.append(group)


def _interval(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|)", text)
    if m is None:
        raise ScriptError(f"bad !sleep interval {text!r}")
    value = float(m.group(1))
    return value / 1000 if m.group(2).startswith("m") else value
