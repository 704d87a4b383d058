"""`postoffice mailbox ls|show`: what local delivery put in a mailbox."""

from __future__ import annotations

import argparse
import sys

from postoffice.cli.common import (
    add_data_option,
    iso,
    normalize_address,
    print_json,
    print_table,
    store_for,
)
from postoffice.errors import UsageError
from postoffice.message import headers
from postoffice.storage.interfaces import Store

SUMMARY_BYTES = 16 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("mailbox", help="local mailboxes")
    commands = p.add_subparsers(dest="mailbox_command", required=True)
    ls = commands.add_parser("ls", help="list the messages in a mailbox folder")
    ls.add_argument("address")
    ls.add_argument("--folder", default="INBOX")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_mailbox)
    show = commands.add_parser("show", help="print one message, raw")
    show.add_argument("address")
    show.add_argument("uid", type=int)
    show.add_argument("--folder", default="INBOX")
    show.set_defaults(handler=show_message)
    for parser in (ls, show):
        add_data_option(parser)


def _summary(store: Store, digest: str) -> dict[str, str]:
    with store.blobs.open(digest) as f:
        head = f.read(SUMMARY_BYTES)
    end = headers.header_end(head)
    fields = headers.parse_fields(head[: end if end > 0 else len(head)])
    return {
        name.lower(): (headers.field_values(fields, name) or [""])[0]
        for name in ("From", "To", "Subject", "Date", "Message-ID")
    }


def list_mailbox(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        if store.get_user(address) is None:
            raise UsageError(f"no mailbox {address}")
        entries = store.list_mailbox(address, args.folder)
        rows = [(e, _summary(store, e.blob)) for e in entries]
    if args.json:
        print_json([
            {
                "uid": e.uid,
                "folder": e.folder,
                "message_id": e.message_id,
                "size": e.size,
                "flags": list(e.flags),
                "internal_date": iso(e.internal_date),
                "from": s["from"],
                "to": s["to"],
                "subject": s["subject"],
                "date": s["date"],
                "header_message_id": s["message-id"],
            }
            for e, s in rows
        ])
    else:
        print_table(
            f"{address} {args.folder}: {len(rows)} message(s)",
            ("uid", "received", "from", "subject", "size", "flags"),
            [(e.uid, iso(e.internal_date), s["from"], s["subject"], e.size, " ".join(e.flags)) for e, s in rows],
        )
    return 0


def show_message(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        entry = store.get_mailbox_entry(address, args.uid, args.folder)
        if entry is None:
            raise UsageError(f"no message with UID {args.uid} in {address} {args.folder}")
        with store.blobs.open(entry.blob) as f:
            while chunk := f.read(65536):
                sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    return 0
