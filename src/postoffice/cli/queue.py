"""`postoffice queue ls`: messages waiting for outbound delivery."""

from __future__ import annotations

import argparse

from postoffice.cli.common import add_data_option, iso, print_json, print_table, store_for


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("queue", help="the outbound queue")
    commands = p.add_subparsers(dest="queue_command", required=True)
    ls = commands.add_parser("ls", help="list queued recipients")
    ls.add_argument("--status", help="only items with this status (queued, held, deferred, ...)")
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_queue)
    add_data_option(ls)


def list_queue(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        items = store.list_queue(status=args.status, limit=args.limit)
    if args.json:
        print_json([
            {
                "id": item.id,
                "message_id": item.message_id,
                "sender": item.mail_from,
                "recipient": item.recipient,
                "status": item.status,
                "lane": item.lane,
                "size": item.size,
                "attempts": item.attempts,
                "created_at": iso(item.created_at),
                "next_attempt_at": iso(item.next_attempt_at),
                "last_error": item.last_error,
                "notify": list(item.notify),
                "orcpt": item.orcpt,
            }
            for item in items
        ])
    else:
        print_table(
            f"{len(items)} queued recipient(s)",
            ("message", "from", "to", "status", "lane", "size", "attempts", "next attempt"),
            [
                (i.message_id, i.mail_from or "<>", i.recipient, i.status, i.lane, i.size,
                 i.attempts, iso(i.next_attempt_at))
                for i in items
            ],
        )
    return 0
