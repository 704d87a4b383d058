"""`postoffice queue ls|show|retry|hold|release|bounce|delete`: the outbound queue."""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

from postoffice.cli.common import add_data_option, iso, print_json, print_table, store_for
from postoffice.errors import UsageError
from postoffice.message import headers
from postoffice.storage.interfaces import QueueFilter, QueueItem

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
ACTIONS = {
    "retry": "try now instead of waiting for the next scheduled attempt",
    "hold": "keep from delivery until released",
    "release": "return held items to the queue",
    "bounce": "give up: fail the items and send the senders a failure notice",
    "delete": "remove the items silently (no notice to anyone)",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("queue", help="the outbound queue")
    commands = p.add_subparsers(dest="queue_command", required=True)
    ls = commands.add_parser("ls", help="list queue items (oldest first, paged)")
    _filters(ls)
    ls.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
    ls.add_argument("--after", type=int, default=0, metavar="ID", help="start after this item id")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_queue)
    show = commands.add_parser("show", help="one item with its message's envelope and headers")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_item)
    parsers = [ls, show]
    for action, text in ACTIONS.items():
        a = commands.add_parser(action, help=text)
        a.add_argument("ids", type=int, nargs="*", metavar="ID")
        _filters(a)
        a.add_argument("--all", action="store_true", help="every item (when no ID or filter)")
        a.add_argument("--json", action="store_true")
        a.set_defaults(handler=act, action=action)
        parsers.append(a)
    for parser in parsers:
        add_data_option(parser)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", help="queued, deferred, held, delivered or failed")
    parser.add_argument("--domain", help="recipient domain")
    parser.add_argument("--lane", help="transactional or bulk")
    parser.add_argument("--tenant")
    parser.add_argument("--older-than", metavar="AGE", help="e.g. 30m, 4h, 2d")


def _duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"--older-than: expected a duration like 30m, 4h or 2d, got {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _where(args: argparse.Namespace) -> QueueFilter:
    older = getattr(args, "older_than", None)
    return QueueFilter(
        ids=tuple(getattr(args, "ids", ()) or ()),
        status=args.status,
        domain=args.domain.lower() if args.domain else None,
        lane=args.lane,
        tenant=args.tenant,
        created_before=time.time() - _duration(older) if older else None,
    )


def _as_json(item: QueueItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "message_id": item.message_id,
        "sender": item.mail_from,
        "recipient": item.recipient,
        "domain": item.domain,
        "tenant": item.tenant,
        "lane": item.lane,
        "status": item.status,
        "size": item.size,
        "attempts": item.attempts,
        "created_at": iso(item.created_at),
        "next_attempt_at": iso(item.next_attempt_at),
        "last_attempt_at": iso(item.last_attempt_at),
        "last_error": item.last_error,
        "notify": list(item.notify),
        "orcpt": item.orcpt,
    }


def list_queue(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        items = store.list_queue(limit=args.limit, where=_where(args), after_id=args.after)
    if args.json:
        print_json([_as_json(i) for i in items])
    else:
        print_table(
            f"{len(items)} queue item(s)",
            ("id", "from", "to", "status", "lane", "size", "attempts", "next attempt", "last error"),
            [
                (i.id, i.mail_from or "<>", i.recipient, i.status, i.lane, i.size, i.attempts,
                 iso(i.next_attempt_at), (i.last_error or "")[:60])
                for i in items
            ],
        )
    return 0


def show_item(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        item = store.get_queue_item(args.id)
        if item is None:
            raise UsageError(f"no queue item {args.id}")
        message = store.get_message(item.message_id)
        head = b""
        if message is not None:
            with store.blobs.open(message.blob) as f:
                head = f.read(64 * 1024)
    end = headers.header_end(head)
    fields = headers.parse_fields(head[: end if end > 0 else len(head)])
    document = _as_json(item)
    if message is not None:
        document["message"] = {
            "received_at": iso(message.received_at),
            "source": message.source,
            "client_ip": message.client_ip,
            "auth_identity": message.auth_identity,
            "ret": message.ret,
            "envid": message.envid,
            "body": message.body,
            "smtputf8": message.smtputf8,
        }
    document["headers"] = [[name, value] for name, value in fields]
    if args.json:
        print_json(document)
    else:
        for key, value in document.items():
            if key not in ("headers", "message"):
                print(f"{key}: {value}")
        for key, value in document.get("message", {}).items():
            print(f"message.{key}: {value}")
        print()
        for name, value in fields:
            print(f"{name}: {value}")
    return 0


def act(args: argparse.Namespace) -> int:
    where = _where(args)
    if where == QueueFilter() and not args.all:
        raise UsageError(f"queue {args.action}: name item IDs, a filter, or --all")
    now = time.time()
    with store_for(args) as store:
        if args.action == "retry":
            changed = store.retry_now(where, now)
        elif args.action == "hold":
            changed = store.hold(where)
        elif args.action == "release":
            changed = store.release(where, now)
        elif args.action == "bounce":
            changed = store.bounce(where, now, "5.0.0 returned to the sender by the postmaster")
        else:
            changed = store.delete(where)
    if args.json:
        print_json({"action": args.action, "changed": changed})
    else:
        print(f"{args.action}: {changed} item(s)")
    return 0
