"""``$!directives`` in expected replies: validation and the per-reply defaults.

A list without directives gets imaptest's defaults:

* ``N FETCH ($!unordered=2 ...)``
* ``N FETCH (... FLAGS ($!unordered $!noextra $!ignore=\\recent $!ignore=$HasAttachment
  $!ignore=$HasNoAttachment ...))``
* ``LIST ($!unordered ...)`` and ``LSUB ($!unordered ...)`` (the attribute list)
* ``STATUS mailbox ($!unordered=2 ...)``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postoffice.testing.imaptest.values import Atom, Nil, Value

__all__ = ["add_default_directives", "is_directive"]

_KNOWN = re.compile(r"unordered(=\d+)?|ordered|noextra|extra|ignore=.*|ban=.*", re.S)
_FLAGS_DEFAULTS = [
    "$!unordered",
    "$!noextra",
    "$!ignore=\\recent",
    "$!ignore=$HasAttachment",
    "$!ignore=$HasNoAttachment",
]


def is_directive(value: Value) -> bool:
    return isinstance(value, Atom) and value.text.startswith("$!")


@dataclass
class _Context:
    parent: _Context | None
    reply_name: str
    prev_atom: str | None = None
    index: int = 0
    """Position in the parent list (modulo the parent's chain size)."""
    chain: int = 1


def _defaults(ctx: _Context) -> list[str]:
    parent = ctx.parent
    if parent is None:
        return []
    top_child = parent.parent is None
    if ctx.reply_name in ("list", "lsub") and top_child and ctx.index == 1:
        return ["$!unordered"]
    if ctx.reply_name in ("status", "fetch") and top_child and ctx.index == 2:
        return ["$!unordered=2"]
    if (
        ctx.reply_name == "fetch"
        and parent.parent is not None
        and parent.parent.parent is None
        and parent.index == 2
        and ctx.prev_atom == "flags"
    ):
        return list(_FLAGS_DEFAULTS)
    return []


def _walk(ctx: _Context, values: list[Value]) -> None:
    count = 0
    for value in values:
        if not is_directive(value):
            break
        assert isinstance(value, Atom)
        name = value.text[2:]
        if not _KNOWN.fullmatch(name):
            raise ValueError(f"unknown or broken directive: $!{name}")
        if name.startswith("unordered="):
            ctx.chain = int(name[10:])
        count += 1
    if count == 0:
        values[0:0] = [Atom(d) for d in _defaults(ctx)]
    prev_atom: str | None = None
    for position, value in enumerate(values):
        if isinstance(value, Atom):
            prev_atom = value.text.lower()
        elif isinstance(value, Nil):
            prev_atom = "nil"
        elif isinstance(value, list):
            index = position if ctx.chain == 1 else position % ctx.chain
            _walk(_Context(ctx, ctx.reply_name.lower(), prev_atom, index), value)


def add_default_directives(values: list[Value]) -> str:
    """Insert the default directives into ``values`` (in place); returns the reply's name."""
    name = ""
    if values and isinstance(values[0], Atom):
        name = values[0].text
        if name[:1] == "$" or name[:1].isdigit():
            name = values[1].text if len(values) > 1 and isinstance(values[1], Atom) else ""
    _walk(_Context(None, name), values)
    return name
