"""THREAD (RFC 5256): ORDEREDSUBJECT and REFERENCES, and the THREAD response form.

A thread is a nested tuple `(message, children)`: `message` is the view, None for a dummy (a
message referred to but not searched); `children` are threads. `render_threads` numbers them
by sequence number or UID.
Trees are walked without recursion, so a long reply chain cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from postoffice.proto.imap.header_values import message_ids
from postoffice.proto.imap.sort import (
    collation_key,
    sent_time,
    subject_parts,
)
from postoffice.proto.imap.view import MessageView

ThreadNode = tuple[MessageView | None, tuple["ThreadNode", ...]]


def thread(algorithm: str, messages: Sequence[MessageView]) -> list[ThreadNode]:
    """The messages threaded by `algorithm`: ORDEREDSUBJECT or REFERENCES."""
    ordered = sorted(messages, key=lambda m: m.seq)
    if algorithm.upper() == "ORDEREDSUBJECT":
        return _ordered_subject(ordered)
    if algorithm.upper() == "REFERENCES":
        return _References(ordered).threads()
    raise ValueError(f"unknown threading algorithm {algorithm}")


def _subject(view: MessageView) -> tuple[str, bool]:
    subjects = view.header("Subject")
    return subject_parts(subjects[0]) if subjects else ("", False)


def _date_key(view: MessageView) -> tuple[float, int]:
    return sent_time(view), view.seq


# -- ORDEREDSUBJECT ------------------------------------------------------------------------

def _ordered_subject(messages: list[MessageView]) -> list[ThreadNode]:
    """Sorted by base subject then sent date; one thread per base subject, its first message
    the parent of all the others; threads in the order of their first message's date."""
    keyed = sorted(((collation_key(_subject(m)[0]), _date_key(m), m) for m in messages),
                   key=lambda item: (item[0], item[1]))
    threads = []
    for _, group in groupby(keyed, key=lambda item: item[0]):
        members = [item[2] for item in group]
        threads.append(members)
    threads.sort(key=lambda members: _date_key(members[0]))
    return [(first, tuple((m, ()) for m in rest)) for first, *rest in threads]


# -- REFERENCES ----------------------------------------------------------------------------

class _Node:
    __slots__ = ("view", "parent", "children")

    def __init__(self, view: MessageView | None = None) -> None:
        self.view = view
        self.parent: _Node | None = None
        self.children: list[_Node] = []


def _references(view: MessageView) -> list[str]:
    refs = message_ids(" ".join(view.header("References")))
    if refs:
        return refs
    in_reply_to = message_ids(" ".join(view.header("In-Reply-To")))
    return in_reply_to[:1]


def _descends_from(node: _Node, ancestor: _Node) -> bool:
    """Whether `node` is `ancestor` or below it."""
    current: _Node | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def _link(parent: _Node, child: _Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _unlink(child: _Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
        child.parent = None


def _postorder(roots: list[_Node]) -> list[_Node]:
    """Every node after all of its descendants."""
    out = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    out.reverse()
    return out


class _References:
    def __init__(self, messages: list[MessageView]) -> None:
        self.by_id: dict[str, _Node] = {}
        self.nodes: list[_Node] = []
        self.dates: dict[int, tuple[float, int]] = {}
        for view in messages:
            self.add(view)

    def node_for(self, message_id: str) -> _Node:
        node = self.by_id.get(message_id)
        if node is None:
            node = self.by_id[message_id] = _Node()
            self.nodes.append(node)
        return node

    def add(self, view: MessageView) -> None:
        """Step 1: link the message and its references."""
        ids = message_ids(" ".join(view.header("Message-ID")[:1]))
        node = self.by_id.get(ids[0]) if ids else None
        if node is not None and node.view is None:
            node.view = view
        else:
            # no id, or a duplicate of an earlier message's: a unique id of its own
            node = _Node(view)
            self.nodes.append(node)
            if ids and ids[0] not in self.by_id:
                self.by_id[ids[0]] = node
        previous: _Node | None = None
        for reference in _references(view):
            current = self.node_for(reference)
            if previous is not None and current.parent is None \
                    and not _descends_from(previous, current):
                _link(previous, current)
            previous = current
        _unlink(node)
        if previous is not None and not _descends_from(previous, node):
            _link(previous, node)

    def key(self, node: _Node) -> tuple[float, int]:
        """A message's sent date and number; a dummy sorts as its first child."""
        while node.view is None and node.children:
            node = node.children[0]
        if node.view is None:
            return (0.0, 0)
        seq = node.view.seq
        if seq not in self.dates:
            self.dates[seq] = _date_key(node.view)
        return self.dates[seq]

    def sort_siblings(self, siblings: list[_Node]) -> None:
        siblings.sort(key=self.key)

    def threads(self) -> list[ThreadNode]:
        roots = [node for node in self.nodes if node.parent is None]  # step 2
        roots = self.prune(roots)  # step 3
        for node in roots:  # step 4
            if node.view is None:
                self.sort_siblings(node.children)
        self.sort_siblings(roots)
        roots = self.merge_subjects(roots)  # step 5
        for node in _postorder(roots):  # step 6
            self.sort_siblings(node.children)
        self.sort_siblings(roots)
        return _as_tuples(roots)

    @staticmethod
    def prune(roots: list[_Node]) -> list[_Node]:
        """Step 3: drop childless dummies; replace a dummy by its children, except at the
        top level where only a dummy with one child is replaced."""
        def level(siblings: list[_Node], top: bool) -> list[_Node]:
            kept: list[_Node] = []
            for node in siblings:
                if node.view is None:
                    if not node.children:
                        continue
                    if not top or len(node.children) == 1:
                        kept.extend(node.children)
                        continue
                kept.append(node)
            return kept
        for node in _postorder(roots):
            node.children = level(node.children, top=False)
        return level(roots, top=True)

    def merge_subjects(self, roots: list[_Node]) -> list[_Node]:
        """Step 5: gather top-level threads with the same base subject."""
        subjects: dict[int, tuple[str, bool]] = {}

        def subject(node: _Node) -> tuple[str, bool]:
            found = subjects.get(id(node))
            if found is None:
                first = node
                while first.view is None and first.children:
                    first = first.children[0]
                base, reply = _subject(first.view) if first.view else ("", False)
                found = subjects[id(node)] = (collation_key(base), reply)
            return found

        table: dict[str, _Node] = {}
        for node in roots:
            base, reply = subject(node)
            if not base:
                continue
            held = table.get(base)
            if held is None or (held.view is not None and (
                    node.view is None or (subject(held)[1] and not reply))):
                table[base] = node
        slots: list[_Node | None] = list(roots)
        where = {id(node): i for i, node in enumerate(roots)}
        for i, slot in enumerate(slots):
            if slot is None:
                continue
            node = slot
            base, reply = subject(node)
            held = table.get(base)
            if not base or held is None or held is node:
                continue
            if held.view is None:
                held.children.extend(node.children if node.view is None else [node])
            elif reply and not subject(held)[1]:
                held.children.append(node)
            else:
                dummy = _Node()
                dummy.children = [held, node]
                subjects[id(dummy)] = (base, False)
                slots[where[id(held)]] = dummy
                where[id(dummy)] = where[id(held)]
                table[base] = dummy
            slots[i] = None
        return [node for node in slots if node is not None]


def _as_tuples(roots: list[_Node]) -> list[ThreadNode]:
    built: dict[int, ThreadNode] = {}
    for node in _postorder(roots):
        children = tuple(built.pop(id(child)) for child in node.children)
        built[id(node)] = (node.view, children)
    return [built[id(node)] for node in roots]


# -- response ----------------------------------------------------------------------------

def render_threads(threads: Sequence[ThreadNode], uid: bool = False) -> bytes:
    """The thread lists of a THREAD response (RFC 5256 section 4), e.g. "(2)(3 6 (4 23)(44 7))":
    a chain of only children is written flat, two or more children as nested lists. Messages
    are numbered by UID when `uid`."""
    out: list[str] = []
    stack: list[ThreadNode | str] = []
    for item in reversed(threads):
        stack += [")", item, "("]
    while stack:
        top = stack.pop()
        if isinstance(top, str):
            out.append(top)
            continue
        node, written = top, False
        while True:
            view, children = node
            if view is not None:
                num = view.uid if uid else view.seq
                out.append(f" {num}" if written else str(num))
                written = True
                if len(children) == 1:
                    node = children[0]
                    continue
            if children:
                if written:
                    out.append(" ")
                for child in reversed(children):
                    stack += [")", child, "("]
            break
    return "".join(out).encode("ascii")
