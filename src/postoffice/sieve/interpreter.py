"""Run a parsed Sieve script against one message (RFC 5228 sections 2.10, 3-5).

`check` refuses a script before it runs: unknown commands, tests or tags, wrong arguments,
`require` after other commands, an extension used but not declared, or declared but not
supported, `elsif`/`else` without an `if`. `execute` answers the actions; the implicit keep
(2.10.2) is added unless a keep, fileinto, discard, redirect (without :copy) or reject ran.
Any error gives `Result.error` and a single keep, so the message still reaches the Inbox."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Literal, cast

from postoffice.message import mime
from postoffice.sieve.arguments import (
    ADDRESS_PARTS,
    BODY_TRANSFORMS,
    COMMANDS,
    MATCH_TYPES,
    TAG_CAPABILITIES,
    TESTS,
    Arguments,
    split,
)
from postoffice.sieve.dates import DATE_PARTS, ZONE, date_part, parse_date, zone
from postoffice.sieve.flags import add_flags, flag_list, remove_flags
from postoffice.sieve.match import (
    AddressPart,
    MatchType,
    address_part,
    match_groups,
    matches,
    relate,
)
from postoffice.sieve.nodes import Argument, Command, Number, Script, SieveError, Strings, Tag, Test
from postoffice.sieve.parser import parse
from postoffice.sieve.vacation import DEFAULT_DAYS, MIN_DAYS, Vacation, vacation_key
from postoffice.sieve.variables import NAME, expand, modify

SUPPORTED = frozenset({"fileinto", "reject", "ereject", "envelope", "copy", "subaddress",
                       "mailbox", "comparator-i;octet", "comparator-i;ascii-casemap",
                       "comparator-i;ascii-numeric", "variables", "relational",
                       "imap4flags", "vacation", "spamtest", "spamtestplus", "body",
                       "date"})
"""Extensions a script may `require`."""
ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "sender", "reply-to", "resent-from",
                             "resent-to", "resent-cc", "resent-bcc", "resent-sender",
                             "delivered-to", "return-path", "x-original-to"})
"""Fields the address test reads (5.1: it MUST be restricted to fields holding addresses)."""
MAX_REDIRECTS = 5
_ADDRESS = re.compile(r"[^\s<>@\"]+@[^\s<>@\"]+")
_CONTENT_TYPE = re.compile(r"[^/\s;]+(/[^/\s;]+)?")
"""A `body :content` type: "" (every part), a type, or type/subtype (RFC 5173 5.3)."""

ActionKind = Literal["keep", "fileinto", "discard", "redirect", "reject", "ereject",
                     "vacation"]


@dataclass(frozen=True)
class Message:
    headers: Sequence[tuple[str, str]]
    """(name, raw value) in message order."""
    envelope_from: str
    """The SMTP MAIL FROM address; "" for the null sender."""
    envelope_to: str
    """The RCPT TO address being delivered to."""
    size: int
    """Octets."""
    spam_score: float | None = None
    """The spam filter's score; None when the message was not tested (RFC 5235)."""
    ham_score: float = 0.0
    """At or below this score the message is definitely not spam (spamtest 1, 0 %)."""
    spam_threshold: float = 5.0
    """At or above this score the message is definitely spam (spamtest 10, 100 %)."""
    text_parts: tuple[str, ...] = ()
    """The decoded text/* parts, for `body :text` (RFC 5173)."""
    raw_body: bytes = b""
    """The body as received, for `body :raw`."""
    mime_parts: tuple[tuple[str, str], ...] = ()
    """(content type, text) of every MIME part in order, for `body :content` (RFC 5173
    5.3); see `mime_parts`, which makes them from the whole message."""
    now: datetime | None = None
    """The delivery time (aware), for currentdate; its zone is the local zone of the date
    tests (RFC 5260). Without it currentdate is false and date converts to UTC."""
    folders: frozenset[str] = frozenset()
    """The recipient's folders a fileinto can reach, for mailboxexists (RFC 5490 3.1);
    INBOX is always there."""


@dataclass(frozen=True)
class Action:
    """One thing to do with the message. `discard` is listed so the MDA can log it; alone it
    means "deliver nowhere", next to other actions it changes nothing."""

    kind: ActionKind
    argument: str = ""
    """The folder (fileinto), address (redirect) or reason (reject, ereject)."""
    create: bool = False
    """fileinto :create: make the folder when it does not exist (RFC 5490)."""
    copy: bool = False
    """fileinto/redirect :copy (RFC 3894)."""
    flags: tuple[str, ...] = ()
    """keep/fileinto: the IMAP flags to store the message with (RFC 5232)."""
    vacation: Vacation | None = None
    """vacation: the reply to send when `should_reply` allows it (RFC 5230)."""


KEEP = Action("keep")


@dataclass(frozen=True)
class Result:
    actions: tuple[Action, ...]
    error: str | None = None
    """Why the script failed (the actions are then a plain keep)."""
    line: int = 0


def run(source: str, message: Message) -> Result:
    """Parse, check and execute `source`; never raises for a bad script."""
    try:
        script = parse(source)
        check(script)
    except SieveError as error:
        return Result((KEEP,), error.reason, error.line)
    return execute(script, message)


def check(script: Script) -> None:
    """Raise SieveError (with its line) when `script` must not be run."""
    required: set[str] = set()
    commands, start = script.commands, 0
    while start < len(commands) and commands[start].name == "require":
        command = commands[start]
        for name in _command_args(command).strings(0):
            if name.lower() not in SUPPORTED:
                raise SieveError(f"unsupported extension {name!r}", command.line)
            required.add(name.lower())
        start += 1
    if "spamtestplus" in required:  # RFC 5235 section 3.2: it implies spamtest
        required.add("spamtest")
    _check_block(commands[start:], required)


def _check_block(commands: Sequence[Command], required: set[str]) -> None:
    previous = ""
    for command in commands:
        if command.name == "require":
            raise SieveError("require must come before every other command", command.line)
        if command.name in ("elsif", "else") and previous not in ("if", "elsif"):
            raise SieveError(f"{command.name} without a preceding if", command.line)
        arguments = _command_args(command)
        _need(COMMANDS[command.name].capability, arguments, required, command.line)
        for test in command.tests:
            _check_test(test, required)
        if command.block is not None:
            _check_block(command.block, required)
        previous = command.name


def _check_test(test: Test, required: set[str]) -> None:
    arguments = _test_args(test)
    _need(TESTS[test.name].capability, arguments, required, test.line)
    for inner in test.tests:
        _check_test(inner, required)


def _need(capability: str, arguments: Arguments, required: set[str], line: int) -> None:
    needs = {TAG_CAPABILITIES[tag] for tag in arguments.tags if tag in TAG_CAPABILITIES}
    if arguments.comparator == "i;ascii-numeric":
        needs.add("comparator-i;ascii-numeric")
    if capability:
        needs.add(capability)
    for name in sorted(needs - required):
        raise SieveError(f"{name!r} is used but not declared with require", line)


def _command_args(command: Command) -> Arguments:
    if command.name not in COMMANDS:
        raise SieveError(f"unknown command {command.name!r}", command.line)
    control = command.name in ("if", "elsif", "else")
    if control != (command.block is not None):
        raise SieveError(f"{command.name}: {'a block is' if control else 'no block'} expected",
                         command.line)
    if len(command.tests) != (command.name in ("if", "elsif")):
        raise SieveError(f"{command.name}: wrong number of tests", command.line)
    arguments = split(command.name, COMMANDS[command.name], command.args, command.line)
    if command.name == "set" and not NAME.fullmatch(arguments.strings(0)[0]):
        raise SieveError(f"set: not a variable name: {arguments.strings(0)[0]!r}", command.line)
    return arguments


def _test_args(test: Test) -> Arguments:
    if test.name not in TESTS:
        raise SieveError(f"unknown test {test.name!r}", test.line)
    count = len(test.tests)
    if (test.name == "not" and count != 1 or test.name in ("anyof", "allof") and count == 0
            or test.name not in ("not", "anyof", "allof") and count):
        raise SieveError(f"{test.name}: wrong number of tests", test.line)
    args, content = _without_content(test) if test.name == "body" else (test.args, None)
    arguments = split(test.name, TESTS[test.name], args, test.line)
    if content is not None:
        arguments = _with_content(arguments, content, test.line)
    if test.name == "size" and len(arguments.tags) != 1:
        raise SieveError("size: exactly one of :over and :under is needed", test.line)
    if test.name in ("date", "currentdate"):
        part = arguments.strings(1 if test.name == "date" else 0)[0].lower()
        if part not in DATE_PARTS:
            raise SieveError(f"{test.name}: unknown date part {part!r}", test.line)
        offset = arguments.tagged.get("zone")
        if isinstance(offset, Strings) and not ZONE.fullmatch(offset.values[0]):
            raise SieveError(f"{test.name}: not a time zone: {offset.values[0]!r}", test.line)
    if test.name == "envelope":
        for part in arguments.strings(0):
            if part.lower() not in ("from", "to"):
                raise SieveError(f"envelope: unsupported part {part!r}", test.line)
    return arguments


def _without_content(test: Test) -> tuple[tuple[Argument, ...], Strings | None]:
    """body's arguments without `:content <types>`, and the types (None without :content);
    the argument table in arguments.py knows the other transforms, :raw and :text."""
    args = test.args
    at = next((i for i, arg in enumerate(args) if isinstance(arg, Tag)
               and arg.name == "content"), None)
    if at is None:
        return args, None
    types = args[at + 1] if at + 1 < len(args) else None
    if not isinstance(types, Strings) or at + 2 >= len(args):
        raise SieveError("body: :content takes a string list, before the keys", test.line)
    rest = args[:at] + args[at + 2:]
    if any(isinstance(arg, Tag) and arg.name == "content" for arg in rest):
        raise SieveError("body: tag :content conflicts with an earlier tag", test.line)
    return rest, types


def _with_content(arguments: Arguments, types: Strings, line: int) -> Arguments:
    if arguments.tags & BODY_TRANSFORMS:
        raise SieveError("body: tag :content conflicts with an earlier tag", line)
    for value in types.values:
        if value and "${" not in value and not _CONTENT_TYPE.fullmatch(value):
            raise SieveError(f"body: not a content type: {value!r}", line)
    return replace(arguments, tags=arguments.tags | {"content"},
                   tagged={**arguments.tagged, "content": types})


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, message: Message, required: frozenset[str]) -> None:
        self.message = message
        self.actions: list[Action] = []
        self.implicit_keep = True
        self.variables: dict[str, str] | None = {} if "variables" in required else None
        self.groups: tuple[str, ...] = ()
        """The match variables of the last successful :matches test."""
        self.flags: tuple[str, ...] = ()
        """The imap4flags internal variable."""

    def expanded(self, arguments: Arguments) -> Arguments:
        """`arguments` with variable references replaced (only when variables is required)."""
        if self.variables is None:
            return arguments
        variables = self.variables

        def each(values: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(expand(value, variables, self.groups) for value in values)
        return replace(arguments, positional=tuple(
            replace(arg, values=each(arg.values)) if isinstance(arg, Strings) else arg
            for arg in arguments.positional),
            flags=None if arguments.flags is None else each(arguments.flags))

    def block(self, commands: Sequence[Command]) -> None:
        taken = False
        for command in commands:
            if command.name == "if" or command.name == "elsif" and not taken:
                taken = self.test(command.tests[0])
                if taken:
                    self.block(command.block or ())
            elif command.name == "else" and not taken:
                self.block(command.block or ())
            elif command.name not in ("if", "elsif", "else"):
                self.command(command)

    def command(self, command: Command) -> None:
        name = command.name
        if name == "stop":
            raise _Stop
        if name == "require":
            return
        arguments = self.expanded(_command_args(command))
        text = arguments.strings(0)[0] if arguments.positional else ""
        if name == "set" and self.variables is not None:
            self.variables[text.lower()] = modify(arguments.strings(1)[0], arguments.tags)
            return
        if name == "vacation":
            if any(action.kind == "vacation" for action in self.actions):
                raise SieveError("more than one vacation", command.line)
            self.actions.append(Action("vacation", vacation=self.vacation(arguments)))
            return
        if name in ("setflag", "addflag", "removeflag"):
            change = {"setflag": lambda _, new: flag_list(new), "addflag": add_flags,
                      "removeflag": remove_flags}[name]
            self.flags = change(self.flags, arguments.strings(0))
            return
        if name == "redirect":
            if not _ADDRESS.fullmatch(text):
                raise SieveError(f"redirect: not an address: {text!r}", command.line)
            if sum(action.kind == "redirect" for action in self.actions) >= MAX_REDIRECTS:
                raise SieveError(f"more than {MAX_REDIRECTS} redirects", command.line)
        if name == "fileinto" and not text:
            raise SieveError("fileinto: empty folder name", command.line)
        copy = "copy" in arguments.tags
        flags = () if name not in ("keep", "fileinto") else self.flags \
            if arguments.flags is None else flag_list(arguments.flags)
        action = Action(cast(ActionKind, name), text, "create" in arguments.tags, copy, flags)
        if not copy:
            self.implicit_keep = False
        self.add(action)

    def vacation(self, arguments: Arguments) -> Vacation:
        def text(tag: str) -> str | None:
            value = arguments.tagged.get(tag)
            return None if not isinstance(value, Strings) else self.text(value.values[0])
        days = arguments.tagged.get("days")
        addresses = arguments.tagged.get("addresses")
        reason, subject, sender = arguments.strings(0)[0], text("subject") or "", \
            text("from") or ""
        return Vacation(
            reason, max(MIN_DAYS, days.value if isinstance(days, Number) else DEFAULT_DAYS),
            subject, sender, tuple(self.text(value) for value in addresses.values)
            if isinstance(addresses, Strings) else (), "mime" in arguments.tags,
            vacation_key(text("handle"), reason, subject, sender))

    def text(self, value: str) -> str:
        if self.variables is None:
            return value
        return expand(value, self.variables, self.groups)

    def add(self, action: Action) -> None:
        same = [a for a in self.actions if (a.kind, a.argument) == (action.kind, action.argument)]
        if same:  # the same folder or address twice: once (2.10.3), :create if either had it
            index, first = self.actions.index(same[0]), same[0]
            self.actions[index] = replace(first, create=first.create or action.create,
                                          copy=first.copy and action.copy,
                                          flags=add_flags(first.flags, action.flags))
        else:
            self.actions.append(action)

    def test(self, test: Test) -> bool:
        name = test.name
        if name in ("true", "false"):
            return name == "true"
        if name == "not":
            return not self.test(test.tests[0])
        if name == "anyof":
            return any(self.test(inner) for inner in test.tests)
        if name == "allof":
            return all(self.test(inner) for inner in test.tests)
        arguments = self.expanded(_test_args(test))
        if name == "size":
            limit = arguments.number(0)
            return self.message.size > limit if "over" in arguments.tags else \
                self.message.size < limit
        if name == "exists":
            present = {field.lower() for field, _ in self.message.headers}
            return all(field.lower() in present for field in arguments.strings(0))
        if name == "mailboxexists":
            return all(_folder_exists(folder, self.message.folders)
                       for folder in arguments.strings(0))
        match_type = arguments.choice(MATCH_TYPES, "is")
        keys = arguments.strings(len(arguments.positional) - 1)
        values = self.values(name, arguments)
        if match_type in ("count", "value"):
            relation, comparator = arguments.relation, arguments.comparator
            got = [str(len(values))] if match_type == "count" else values
            return any(relate(value, key, relation, comparator) for value in got for key in keys)
        if match_type != "matches":
            return any(matches(value, key, cast(MatchType, match_type), arguments.comparator)
                       for value in values for key in keys)
        for value in values:
            for key in keys:
                if (groups := match_groups(value, key, arguments.comparator)) is not None:
                    self.groups = groups
                    return True
        return False

    def dates(self, name: str, arguments: Arguments) -> list[str]:
        """The date part a date or currentdate test compares (none when there is no date)."""
        now = self.message.now
        local = now.tzinfo if now is not None and now.tzinfo is not None else UTC
        offset = arguments.tagged.get("zone")
        target = zone(offset.values[0]) if isinstance(offset, Strings) else local
        if name == "currentdate":
            moments = [] if now is None else [now]
        else:
            field = arguments.strings(0)[0].lower()
            first = [value for header, value in self.message.headers
                     if header.lower() == field][:1]  # the first occurrence (RFC 5260 4)
            moments = [moment for value in first
                       if (moment := parse_date(_decoded(value))) is not None]
        part = arguments.strings(len(arguments.positional) - 2)[0].lower()
        return [date_part(moment if "originalzone" in arguments.tags else
                          moment.astimezone(target), part) for moment in moments]

    def values(self, name: str, arguments: Arguments) -> list[str]:
        """What a header, address or envelope test compares with its keys."""
        if name == "string":
            return list(arguments.strings(0))
        if name == "hasflag":
            return list(self.flags)
        if name == "spamtest":
            return [spam_value(self.message, "percent" in arguments.tags)]
        if name in ("date", "currentdate"):
            return self.dates(name, arguments)
        if name == "body":
            if "raw" in arguments.tags:
                return [self.message.raw_body.decode("utf-8", "replace")]
            types = arguments.tagged.get("content")
            if isinstance(types, Strings):
                wanted = [self.text(value).lower() for value in types.values]
                return [text for kind, text in self.message.mime_parts
                        if any(_type_matches(kind, value) for value in wanted)]
            return list(self.message.text_parts)
        wanted = [field.lower() for field in arguments.strings(0)]
        if name == "header":
            return [_decoded(value) for field, value in self.message.headers
                    if field.lower() in wanted]
        part = cast(AddressPart, arguments.choice(ADDRESS_PARTS, "all"))
        if name == "envelope":
            addresses = [self.message.envelope_from if field == "from" else
                         self.message.envelope_to for field in wanted]
        else:
            raw = [_decoded(value) for field, value in self.message.headers
                   if field.lower() in wanted and field.lower() in ADDRESS_HEADERS]
            addresses = [address for _, address in getaddresses(raw) if address]
        parts = (address_part(address, part) for address in addresses)
        return [value for value in parts if value is not None]


def execute(script: Script, message: Message) -> Result:
    """The actions of a checked `script` for `message`; errors give a keep and the reason."""
    required = frozenset(name.lower() for command in script.commands
                         if command.name == "require" for arg in command.args
                         if isinstance(arg, Strings) for name in arg.values)
    state = _Run(message, required)
    try:
        state.block(script.commands)
    except _Stop:
        pass
    except SieveError as error:
        return Result((KEEP,), error.reason, error.line)
    if state.implicit_keep:
        state.add(Action("keep", flags=state.flags))
    return Result(tuple(state.actions))


def spam_value(message: Message, percent: bool) -> str:
    """What spamtest compares (RFC 5235): "0" when not tested, else 1 (definitely not spam)
    to 10 (definitely spam), or with `percent` 0 to 100 (also 0 when not tested)."""
    if message.spam_score is None:
        return "0"
    span = message.spam_threshold - message.ham_score
    if span <= 0:
        share = 1.0 if message.spam_score >= message.spam_threshold else 0.0
    else:
        share = (message.spam_score - message.ham_score) / span
    share = min(1.0, max(0.0, share))
    return str(round(share * 100)) if percent else str(1 + round(share * 9))


def mime_parts(raw: bytes) -> tuple[tuple[str, str], ...]:
    """`Message.mime_parts` of a whole message (header section and body): each part's
    content type (lower case, no parameters) and its text, decoded from its transfer
    encoding and charset. A multipart container gives its preamble and epilogue, a
    message/rfc822 part the header section of the message inside; their parts follow."""
    return tuple(_mime_parts(raw, mime.parse(raw)))


def _mime_parts(raw: bytes, part: mime.Part) -> Iterator[tuple[str, str]]:
    kind = part.content_type
    if part.message is not None:
        inner = part.message
        yield kind, raw[inner.header_start:inner.header_end].decode("utf-8", "replace")
        yield from _mime_parts(raw, inner)
    elif part.multipart:
        yield kind, mime.preamble_epilogue(raw, part).decode("utf-8", "replace")
        for child in part.children:
            yield from _mime_parts(raw, child)
    else:
        yield kind, mime.text_of(raw, part)


def _folder_exists(name: str, folders: frozenset[str]) -> bool:
    """INBOX in any case, else the exact name (folder names are case-sensitive)."""
    return name.upper() == "INBOX" or name in folders


def _type_matches(kind: str, wanted: str) -> bool:
    """Does a part of content type `kind` match a :content type (RFC 5173 5.3)?"""
    return not wanted or kind == wanted or "/" not in wanted and kind.split("/")[0] == wanted


def _decoded(value: str) -> str:
    """The unfolded value with RFC 2047 encoded words decoded."""
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", value).strip()
    try:
        return str(make_header(decode_header(unfolded)))
    except (ValueError, LookupError):
        return unfolded
