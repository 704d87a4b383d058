"""Running one imaptest script against an IMAP server.

The run follows imaptest: every connection logs in (unless ``state: nonauth``); the first one
checks the required capabilities, deletes ``$mailbox`` and every mailbox whose name starts with
it (``$mailbox2``, ``$mailbox/child``, ...), creates it, appends ``messages:`` messages from the
mbox with their INTERNALDATE, and every connection selects it, as far as ``state:`` asks. Then
the command groups run in order, each on its connection: its commands are sent (pipelined),
and every untagged reply received before the last tagged reply is matched, in any order, against
the group's expected replies (``*`` must appear, ``!`` must not, ``?`` may). Only the group's
connection is read meanwhile, so events for another connection are matched by that
connection's next command, as imaptest does. A final ``LOGOUT`` is added when the script has none.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from postoffice.testing.imaptest.connection import Connection, ConnectionClosed, Response, quote
from postoffice.testing.imaptest.matcher import FULL, Matcher
from postoffice.testing.imaptest.outcome import Outcome, ScriptFailed, ScriptSkipped
from postoffice.testing.imaptest.script import STATES, Command, Group, LiteralPart, Script
from postoffice.testing.imaptest.session import MessageSource, Session, mailbox_url
from postoffice.testing.imaptest.values import (
    Atom,
    String,
    Value,
    format_values,
    parse_values,
    upper,
)

__all__ = ["run_script"]

_PREFIX_REPLIES = ("OK", "NO", "BAD", "BYE")


def run_script(
    script: Script,
    *,
    host: str,
    port: int,
    users: list[tuple[str, str]],
    mailbox: str = "imaptest",
    capabilities: Iterable[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    tls_context: ssl.SSLContext | None = None,
) -> Outcome:
    """Replay ``script`` against the IMAP server at ``host``:``port``.

    ``users`` are (login, password); the first is used by every connection, the second by a
    connection the script gives ``user N: $user2``. ``capabilities``, when given, replaces what
    the server advertises for the ``capabilities:`` check. ``env`` decides ``!ifenv`` blocks.
    With ``tls_context`` the connections use implicit TLS.
    """
    session = Session(host, port, timeout, tls_context)
    run = _Run(script, session, users, mailbox, capabilities, env or {})
    try:
        run.execute()
    except ScriptSkipped as exc:
        return Outcome("skipped", str(exc))
    except ScriptFailed as exc:
        return Outcome("failed", f"{script.name}: {exc}")
    except (OSError, KeyError, ValueError) as exc:
        return Outcome("failed", f"{script.name}: {run.where()}{type(exc).__name__}: {exc}")
    finally:
        session.close()
    return Outcome("passed")


@dataclass
class _GroupState:
    group: Group
    found: list[bool]
    best: list[tuple[int, str]]
    pending: dict[str, Command] = field(default_factory=dict)
    first_tag: str = ""
    sent: list[str] = field(default_factory=list)
    mismatches: int = 0
    first_extra: str | None = None


def _show(text: str, limit: int = 600) -> str:
    text = text.replace("\r\n", "\n").replace("\n", "\n      ")
    return text if len(text) <= limit else text[:limit] + " [...]"


class _Run:
    def __init__(
        self,
        script: Script,
        session: Session,
        users: list[tuple[str, str]],
        mailbox: str,
        capabilities: Iterable[str] | None,
        env: Mapping[str, str],
    ) -> None:
        self.script = script
        self.session = session
        self.users = users
        self.mailbox = mailbox
        self.capabilities = None if capabilities is None else {upper(c) for c in capabilities}
        self.groups = script.groups(env)
        self.count = max([script.connections] + [g.connection + 1 for g in self.groups])
        self.source = MessageSource(script.mbox)
        self.matcher = Matcher({"mailbox": mailbox, "mailbox_url": mailbox_url(mailbox)})
        self.current: _GroupState | None = None

    def where(self) -> str:
        if self.current is None:
            return "preparation: "
        command = self.current.group.commands[0] if self.current.group.commands else None
        line = command.line if command else self.current.group.untagged[0].line
        return f"line {line}: "

    # -- preparation ------------------------------------------------------------------------

    def credentials(self, index: int) -> tuple[str, str]:
        if not self.users:
            raise ValueError("run_script needs at least one user")
        name = self.script.users.get(index)
        if name in ("$user2", "${user2}"):
            if len(self.users) < 2:
                raise ScriptSkipped("the script needs a second user")
            return self.users[1]
        return (name, self.users[0][1]) if name else self.users[0]

    def execute(self) -> None:
        logins = [self.credentials(i) for i in range(self.count)]
        for index, (user, password) in enumerate(logins):
            suffix = "" if index == 0 else str(index + 1)
            local, _, domain = user.partition("@")
            self.matcher.variables.update(
                {
                    f"user{suffix}": user,
                    f"username{suffix}": local,
                    f"domain{suffix}": domain or self.session.host,
                    f"password{suffix}": password,
                }
            )
        self.session.connect(self.count)
        self.prepare(logins)
        for group in self.groups:
            self.run_group(group)

    def check_capabilities(self, conn: Connection) -> None:
        have = self.capabilities
        if have is None:
            if not conn.capabilities:
                self.session.command(conn, "CAPABILITY")
            have = conn.capabilities
        missing = [c for c in self.script.capabilities if upper(c) not in have]
        if missing:
            raise ScriptSkipped(f"server lacks {' '.join(missing)}")

    def prepare(self, logins: list[tuple[str, str]]) -> None:
        session, conns = self.session, self.session.connections
        first = conns[0]
        level = STATES.index(self.script.state)
        if level == 0:
            self.check_capabilities(first)
            return
        for conn, (user, password) in zip(conns, logins, strict=True):
            session.login(conn, user, password)
        self.check_capabilities(first)
        session.delete_mailboxes(first, self.mailbox)
        if level >= STATES.index("created") and upper(self.mailbox) != "INBOX":
            session.command(first, f"CREATE {quote(self.mailbox)}")
        if level >= STATES.index("appended"):
            remaining = self.script.messages
            while (remaining is None and not self.source.at_end) or (remaining or 0) > 0:
                message = self.source.take()
                text = f"APPEND {quote(self.mailbox)} {quote(message.internaldate)}"
                session.command(first, text, literal=message.data)
                remaining = None if remaining is None else remaining - 1
        if level >= STATES.index("selected"):
            for conn, login in zip(conns, logins, strict=True):
                if login[0] == logins[0][0]:  # another user has no test mailbox
                    session.command(conn, f"SELECT {quote(self.mailbox)}")

    # -- command groups ---------------------------------------------------------------------

    def fail(self, state: _GroupState, problem: str, *details: str) -> ScriptFailed:
        group = state.group
        lines = [f"{self.where()}{problem}"]
        lines += [f"  command:  {c.text}" for c in group.commands[:4]]
        lines += [f"  sent:     {_show(s)}" for s in state.sent[:4]]
        lines += [f"  {d}" for d in details]
        conn = self.session.connections[group.connection]
        lines.append(f"  server sent on connection {group.connection + 1}:")
        lines += [f"    {_show(r)}" for r in conn.log[-40:]]
        return ScriptFailed("\n".join(lines))

    def run_group(self, group: Group) -> None:
        conn = self.session.connections[group.connection]
        count = len(group.untagged)
        state = _GroupState(group, [False] * count, [(0, "")] * count)
        self.current = state
        conn.log = []
        if not group.commands:  # matched against the greeting
            self.untagged(state, conn, conn.banner)
            self.finish(state)
            return
        self.matcher.reset_seqmap(conn.exists)
        for command in group.commands:
            tag = conn.next_tag()
            state.pending[tag] = command
            state.first_tag = state.first_tag or tag
            try:
                self.send(state, conn, tag, command)
            except KeyError as exc:
                raise self.fail(state, f"uninitialized variable: {exc.args[0]}") from None
        try:
            while state.pending:
                self.dispatch(state, conn, conn.read())
        except ConnectionClosed:
            self.disconnected(state, conn)
        except TimeoutError:
            raise self.fail(state, "timed out waiting for the tagged reply") from None
        self.finish(state)
        if group.sleep:
            time.sleep(group.sleep)

    def disconnected(self, state: _GroupState, conn: Connection) -> None:
        if not (state.group.bye and conn.seen_bye):
            raise self.fail(state, "unexpected disconnection")
        for command in state.pending.values():
            if command.reply != [Atom("")]:
                raise self.fail(state, 'only "" may be expected as reply when BYE happens')

    def send(self, state: _GroupState, conn: Connection, tag: str, command: Command) -> None:
        parts = [p if isinstance(p, LiteralPart) else self.matcher.expand(p) for p in command.parts]
        first = parts[0]
        assert isinstance(first, str)
        if len(parts) == 1 and (
            upper(first) == "APPEND"
            or (upper(first).startswith("APPEND ") and not _has_body(first[7:]))
        ):
            message = self.source.take()
            if upper(first) == "APPEND":
                first = f"APPEND {quote(self.mailbox)} {quote(message.internaldate)}"
            parts = [first + " ", LiteralPart(message.data.decode("latin-1")), ""]
        state.sent.append(f"{tag} " + "".join(p if isinstance(p, str) else p.inline() for p in parts))
        buffer = f"{tag} "
        for part in parts:
            if isinstance(part, str):
                buffer += part
                continue
            conn.send(buffer + part.marker())
            if not self.await_continuation(state, conn, tag):
                return
            buffer = part.data
        conn.send(buffer + "\r\n")

    def await_continuation(self, state: _GroupState, conn: Connection, tag: str) -> bool:
        """Read until the server asks for the literal (True) or answers the command (False)."""
        while True:
            response = conn.read()
            if response.kind == "continuation":
                return True
            self.dispatch(state, conn, response)
            if tag not in state.pending:
                return False

    def dispatch(self, state: _GroupState, conn: Connection, response: Response) -> None:
        if response.kind == "untagged":
            self.untagged(state, conn, response)
        elif response.kind == "tagged":
            command = state.pending.pop(response.tag, None)
            if command is None:
                raise self.fail(state, f"reply for an unknown tag: {response.raw}")
            assert command.reply is not None
            score = self.with_tag(response.tag, command.reply, response.values, prefix=True)
            if score != FULL:
                raise self.fail(
                    state,
                    "unexpected tagged reply",
                    f"expected: {format_values(command.reply)}",
                    f"got:      {response.raw}",
                )

    def with_tag(self, tag: str, expected: list[Value], given: list[Value], prefix: bool) -> int:
        variables = self.matcher.variables
        if tag:
            variables["tag"] = tag
        try:
            return self.matcher.match_args(expected, given, FULL, prefix)
        finally:
            if tag:
                variables.pop("tag", None)

    def untagged(self, state: _GroupState, conn: Connection, response: Response) -> None:
        group, values = state.group, response.values
        if group.untagged or not (self.script.ignore_extra_untagged or self.logging_out(group)):
            self.match_untagged(state, response)
        if len(values) >= 2 and isinstance(values[0], Atom) and isinstance(values[1], Atom):
            if values[0].text.isdigit() and upper(values[1].text) == "EXPUNGE":
                self.matcher.expunged(int(values[0].text))

    @staticmethod
    def logging_out(group: Group) -> bool:
        return group.bye or any(upper(c.text) == "LOGOUT" for c in group.commands)

    def match_untagged(self, state: _GroupState, response: Response) -> None:
        group, matcher = state.group, self.matcher
        first = response.values[0] if response.values else None
        prefix = isinstance(first, Atom) and upper(first.text) in _PREFIX_REPLIES
        tag = state.first_tag if state.first_tag in state.pending else ""
        matcher.revert_point()
        found_some = False
        for i, expected in enumerate(group.untagged):
            if state.found[i]:
                continue
            score = self.with_tag(tag, expected.values, response.values, prefix)
            if score == FULL:
                if expected.existence == "must_not":
                    raise self.fail(
                        state,
                        "unexpected untagged reply",
                        f"must not match: {expected.text}",
                        f"reply:          {_show(response.raw)}",
                    )
                state.found[i] = found_some = True
                matcher.revert_point()
                if group.ordered:
                    break
                continue
            if score > state.best[i][0]:
                state.best[i] = (score, response.raw)
            matcher.revert()
            if group.ordered and expected.existence == "must":
                break
        if not found_some:
            state.mismatches += 1
            if not self.script.ignore_extra_untagged and state.first_extra is None:
                state.first_extra = response.raw

    def finish(self, state: _GroupState) -> None:
        missing = [
            i
            for i, expected in enumerate(state.group.untagged)
            if expected.existence == "must" and not state.found[i]
        ]
        if missing:
            first = state.group.untagged[missing[0]]
            raise self.fail(
                state,
                f"missing {len(missing)} untagged replies ({state.mismatches} did not match)",
                f"expected:   {_show(first.text)}",
                f"expanded:   {_show(self.matcher.expand(first.text, unset_ok=True))}",
                f"best match: {_show(state.best[missing[0]][1])}",
            )
        if state.first_extra is not None:
            raise self.fail(
                state,
                f"{state.mismatches} unexpected untagged replies",
                f"first: {_show(state.first_extra)}",
            )


def _has_body(args: str) -> bool:
    """Whether ``APPEND args`` already carries the message (a literal or CATENATE)."""
    try:
        values = parse_values(args)
    except ValueError:
        return False
    if not values:
        return False
    rest = values[1:]  # after the mailbox: [flags] [date-time] message
    if rest and isinstance(rest[0], list):
        rest = rest[1:]
    if rest and isinstance(rest[0], String) and not rest[0].literal:
        rest = rest[1:]
    if not rest:
        return False
    nxt = rest[0]
    return (isinstance(nxt, String) and nxt.literal) or (
        isinstance(nxt, Atom) and upper(nxt.text) == "CATENATE"
    )
