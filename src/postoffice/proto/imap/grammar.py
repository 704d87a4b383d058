"""Command grammar (RFC 9051 section 9, with the RFC 3501 forms still in use).

`parse_command` turns one complete command (literals inline, see scanner.py) into a Command
or raises GrammarError. Mailbox names are decoded as UTF-8 when `utf8` (IMAP4rev2 or
UTF8=ACCEPT enabled), as modified UTF-7 otherwise.
"""

from __future__ import annotations

import base64
import binascii
import codecs
from collections.abc import Callable

from postoffice.proto.imap import commands as c
from postoffice.proto.imap.errors import BadCharset, BadName, GrammarError
from postoffice.proto.imap.fetch import fetch_attributes
from postoffice.proto.imap.scanner import ASTRING_CHARS, MAX_NUMBER64, Scanner
from postoffice.proto.imap.search import search_keys
from postoffice.proto.imap.values import (
    date_time,
    decode_mailbox,
    flag,
    flag_list,
    sequence_set,
)

TAG_CHARS = ASTRING_CHARS - {ord("+")}
_NO_ARGUMENTS = {"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "NAMESPACE", "IDLE", "CLOSE",
                 "UNSELECT", "EXPUNGE", "CHECK"}
_UID_COMMANDS = {"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE", "SORT", "THREAD"}
SORT_KEYS = frozenset({"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM",
                       "DISPLAYTO"})
THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})


def peek_tag(data: bytes) -> str | None:
    """The tag at the start of a command line, if one can be read."""
    end = data.find(b" ")
    tag = data[:end]
    if end <= 0 or not all(byte in TAG_CHARS for byte in tag):
        return None
    return tag.decode("ascii")


def parse_command(data: bytes, utf8: bool = False, max_depth: int = 16) -> c.Command:
    s = Scanner(data, max_depth)
    tag = s.run(TAG_CHARS, "tag").decode("ascii")
    s.sp()
    name = s.atom().upper()
    uid = name == "UID"
    if uid:
        s.sp()
        name = s.atom().upper()
        if name not in _UID_COMMANDS:
            raise GrammarError(f"UID {name} is not a command")
    if name in _NO_ARGUMENTS and not (uid and name == "EXPUNGE"):
        s.end()
        return c.Command(tag, name, uid=uid)
    handler = _HANDLERS.get(name)
    if handler is None:
        raise GrammarError(f"unknown command {name}")
    s.sp()
    arguments = handler(_Args(s, utf8), name)
    s.end()
    return c.Command(tag, name, arguments, uid)


class _Args:
    """The scanner plus the session's mailbox name encoding."""

    def __init__(self, scanner: Scanner, utf8: bool) -> None:
        self.s = scanner
        self.utf8 = utf8

    def mailbox(self) -> str:
        return decode_mailbox(self.s.astring(), self.utf8)

    def text(self) -> str:
        try:
            return self.s.astring().decode("utf-8")
        except UnicodeDecodeError:
            raise GrammarError("invalid UTF-8") from None

    def parameters(self) -> tuple[tuple[str, object], ...]:
        """Generic "(" NAME [SP value] ... ")" as used by select-params and fetch modifiers."""
        s = self.s
        s.open()
        params: list[tuple[str, object]] = []
        while True:
            name = s.atom().upper()
            value: object = None
            following = s.data[s.pos + 1:s.pos + 2]
            if s.peek() == ord(" ") and following and following in b"0123456789(":
                s.sp()
                value = s.number(MAX_NUMBER64) if s.peek() != ord("(") else self.value_list()
            params.append((name, value))
            if not s.try_char(" "):
                break
        s.close()
        return tuple(params)

    def value_list(self) -> tuple[object, ...]:
        def item() -> object:
            if self.s.peek() == ord("("):
                return self.value_list()
            return self.s.astring().decode("utf-8", "replace")
        return tuple(self.s.paren_list(item))

    def options(self) -> tuple[str, ...]:
        return tuple(a.upper() for a in self.s.paren_list(self.s.atom))


def _authenticate(a: _Args, _: str) -> c.Arguments:
    mechanism = a.s.atom().upper()
    if not a.s.try_char(" "):
        return c.Authenticate(mechanism)
    if a.s.try_char("="):
        return c.Authenticate(mechanism, b"")
    try:
        return c.Authenticate(mechanism, base64.b64decode(a.s.atom(), validate=True))
    except binascii.Error:
        raise GrammarError("bad base64 initial response") from None


def _login(a: _Args, _: str) -> c.Arguments:
    user = a.text()
    a.s.sp()
    return c.Login(user, a.text())


def _enable(a: _Args, _: str) -> c.Arguments:
    names = [a.s.atom().upper()]
    while a.s.try_char(" "):
        names.append(a.s.atom().upper())
    return c.Enable(tuple(names))


def _mailbox(a: _Args, _: str) -> c.Arguments:
    name = a.mailbox()
    params = a.parameters() if a.s.try_char(" ") else ()
    return c.Mailbox(name, params)


def _rename(a: _Args, _: str) -> c.Arguments:
    old = a.mailbox()
    a.s.sp()
    return c.Rename(old, a.mailbox())


LIST_SELECTION = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "STATUS", "SPECIAL-USE"})


def _list(a: _Args, name: str) -> c.Arguments:
    s = a.s
    selection: tuple[str, ...] = ()
    extended = s.peek() == ord("(")
    if extended:
        selection = a.options()
        unknown = set(selection) - LIST_SELECTION
        if unknown:
            raise GrammarError(f"unknown LIST selection option {min(unknown)}")
        if "RECURSIVEMATCH" in selection and not set(selection) - {"RECURSIVEMATCH", "REMOTE"}:
            raise GrammarError("RECURSIVEMATCH needs another selection option")
        s.sp()
    reference = a.mailbox()
    s.sp()

    def pattern() -> str:
        raw = s.list_mailbox()
        try:
            return decode_mailbox(raw, a.utf8)
        except BadName:  # a pattern no name can match: LIST answers nothing
            return raw.decode("latin-1")

    patterns = tuple(s.paren_list(pattern, allow_empty=False)) if s.peek() == ord("(") \
        else (pattern(),)
    returns: list[str] = []
    status_items: tuple[str, ...] = ()
    if s.try_char(" "):
        if not s.try_keyword("RETURN"):
            raise GrammarError("expected RETURN")
        s.sp()
        extended = True

        def option() -> str:
            word = s.atom().upper()
            if word not in LIST_RETURN:
                raise GrammarError(f"unknown LIST return option {word}")
            if word == "STATUS":
                nonlocal status_items
                s.sp()
                status_items = a.options()
            return word
        returns = s.paren_list(option)
    extended = extended or len(patterns) > 1
    return c.List(reference, patterns, selection, tuple(returns), status_items, extended)


def _status(a: _Args, _: str) -> c.Arguments:
    name = a.mailbox()
    a.s.sp()
    return c.Status(name, a.options())


def _append(a: _Args, _: str) -> c.Arguments:
    s = a.s
    name = a.mailbox()
    messages = []
    while s.try_char(" "):
        flags: tuple[str, ...] = ()
        if s.peek() == ord("("):
            flags = flag_list(s)
            s.sp()
        when = date_time(s) if s.peek() == ord('"') else None
        if when is not None:
            s.sp()
        binary = s.peek() == ord("~")
        messages.append(c.AppendMessage(flags, when, s.literal(binary=True), binary))
    if not messages:
        raise GrammarError("APPEND needs a message literal")
    return c.Append(name, tuple(messages))


def _search(a: _Args, _: str) -> c.Arguments:
    s = a.s
    returns = _returns(a)
    charset = None
    if s.try_keyword("CHARSET"):
        s.sp()
        charset = _charset(a)
    return c.Search(search_keys(s, _codec(charset or "UTF-8")), charset, returns)


def _fetch(a: _Args, _: str) -> c.Arguments:
    seq = sequence_set(a.s)
    a.s.sp()
    attributes = fetch_attributes(a.s)
    modifiers = a.parameters() if a.s.try_char(" ") else ()
    return c.Fetch(seq, attributes, modifiers)


def _store(a: _Args, _: str) -> c.Arguments:
    s = a.s
    seq = sequence_set(s)
    s.sp()
    modifiers: tuple[tuple[str, object], ...] = ()
    if s.peek() == ord("("):
        modifiers = a.parameters()
        s.sp()
    mode = "+" if s.try_char("+") else "-" if s.try_char("-") else ""
    item = s.atom().upper()
    if item not in ("FLAGS", "FLAGS.SILENT"):
        raise GrammarError("expected FLAGS or FLAGS.SILENT")
    silent = item == "FLAGS.SILENT"
    s.sp()
    if s.peek() == ord("("):
        flags = flag_list(s)
    else:
        flags_list = [flag(s)]
        while s.try_char(" "):
            flags_list.append(flag(s))
        flags = tuple(flags_list)
    return c.Store(seq, mode, silent, flags, modifiers)


def _transfer(a: _Args, _: str) -> c.Arguments:
    seq = sequence_set(a.s)
    a.s.sp()
    return c.Transfer(seq, a.mailbox())


def _uid_expunge(a: _Args, _: str) -> c.Arguments:
    return c.Expunge(sequence_set(a.s))


def _id(a: _Args, _: str) -> c.Arguments:
    s = a.s
    if s.try_keyword("NIL"):
        return c.Id()
    items = s.paren_list(lambda: s.nstring())
    if len(items) % 2 or len(items) > 60:
        raise GrammarError("ID takes up to 30 field/value pairs")
    pairs = []
    for name, value in zip(items[::2], items[1::2], strict=True):
        if name is None:
            raise GrammarError("ID field names are strings")
        pairs.append((name.decode("utf-8", "replace"),
                      None if value is None else value.decode("utf-8", "replace")))
    return c.Id(tuple(pairs))


def _compress(a: _Args, _: str) -> c.Arguments:
    return c.Compress(a.s.atom().upper())


def _quota(a: _Args, name: str) -> c.Arguments:
    root = a.s.astring().decode("utf-8", "replace")
    if name == "GETQUOTA":
        return c.Quota(root)
    a.s.sp()
    words = a.s.paren_list(a.s.atom)
    if len(words) % 2:
        raise GrammarError("SETQUOTA takes resource/limit pairs")
    limits = []
    for resource, limit in zip(words[::2], words[1::2], strict=True):
        if not limit.isdigit():
            raise GrammarError("a quota limit is a number")
        limits.append((resource.upper(), int(limit)))
    return c.Quota(root, tuple(limits))


def _returns(a: _Args) -> tuple[str, ...] | None:
    """ESEARCH/ESORT `RETURN (options) ` (RFC 4731, 5267); None without it."""
    if not a.s.try_keyword("RETURN"):
        return None
    a.s.sp()
    returns = a.options()
    a.s.sp()
    return returns


def _charset(a: _Args) -> str:
    """A CHARSET argument (and the space after it); unknown ones get NO [BADCHARSET]."""
    charset = a.s.astring().decode("ascii", "replace").upper()
    a.s.sp()
    try:
        codecs.lookup(_codec(charset))
    except LookupError:
        raise BadCharset(f"unknown charset {charset}") from None
    return charset


def _sort(a: _Args, _: str) -> c.Arguments:
    s = a.s
    returns = _returns(a)
    words = [w.upper() for w in s.paren_list(s.atom, allow_empty=False)]
    criteria: list[tuple[str, bool]] = []
    reverse = False
    for word in words:
        if word == "REVERSE" and not reverse:
            reverse = True
            continue
        if word not in SORT_KEYS:
            raise GrammarError(f"unknown sort key {word}")
        criteria.append((word, reverse))
        reverse = False
    if reverse:
        raise GrammarError("REVERSE needs a sort key after it")
    s.sp()
    charset = _charset(a)
    return c.Sort(tuple(criteria), charset, search_keys(s, _codec(charset)), returns)


def _thread(a: _Args, _: str) -> c.Arguments:
    algorithm = a.s.atom().upper()
    if algorithm not in THREAD_ALGORITHMS:
        raise GrammarError(f"unknown thread algorithm {algorithm}")
    a.s.sp()
    charset = _charset(a)
    return c.Thread(algorithm, charset, search_keys(a.s, _codec(charset)))


def _codec(charset: str) -> str:
    return "utf-8" if charset in ("UTF-8", "US-ASCII") else charset


_HANDLERS: dict[str, Callable[[_Args, str], c.Arguments]] = {
    "ID": _id, "COMPRESS": _compress, "GETQUOTA": _quota, "SETQUOTA": _quota,
    "GETQUOTAROOT": _mailbox, "SORT": _sort, "THREAD": _thread,
    "AUTHENTICATE": _authenticate, "LOGIN": _login, "ENABLE": _enable,
    "SELECT": _mailbox, "EXAMINE": _mailbox, "CREATE": _mailbox, "DELETE": _mailbox,
    "SUBSCRIBE": _mailbox, "UNSUBSCRIBE": _mailbox, "RENAME": _rename, "LIST": _list,
    "LSUB": _list, "STATUS": _status, "APPEND": _append, "SEARCH": _search, "FETCH": _fetch,
    "STORE": _store, "COPY": _transfer, "MOVE": _transfer, "EXPUNGE": _uid_expunge,
}
