"""`postoffice suppress add|rm|ls|import|export --tenant NAME`: a tenant's suppression list
(addresses that get no more mail: hard bounces, complaints, unsubscribes, by hand)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from postoffice.cli.common import add_data_option, iso, print_json, print_table, store_for
from postoffice.errors import UsageError
from postoffice.storage import suppression_csv
from postoffice.storage.interfaces import NotFound
from postoffice.storage.suppressions import REASONS, Suppression, SuppressionQuery


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("suppress", help="suppression lists: addresses that get no more mail")
    commands = p.add_subparsers(dest="suppress_command", required=True)
    add = commands.add_parser("add", help="suppress addresses")
    add.add_argument("address", nargs="+")
    add.add_argument("--reason", choices=REASONS, default="manual")
    add.add_argument("--category", default="", help="only this category (default: all)")
    add.add_argument("--days", type=float, help="expire after this many days (default: never)")
    add.set_defaults(handler=add_suppressions)
    rm = commands.add_parser("rm", help="stop suppressing addresses")
    rm.add_argument("address", nargs="+")
    rm.add_argument("--category", help="only this category's suppression (default: every one)")
    rm.set_defaults(handler=remove_suppressions)
    ls = commands.add_parser("ls", help="list the suppressions in force, newest first")
    ls.add_argument("--address")
    ls.add_argument("--reason", choices=REASONS)
    ls.add_argument("--category")
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_suppressions)
    imp = commands.add_parser("import", help="add the suppressions of a CSV file (- for stdin):"
                              " address,reason,category,created_at,expires_at")
    imp.add_argument("file")
    imp.set_defaults(handler=import_csv)
    exp = commands.add_parser("export", help="write the list as CSV (to stdout, or FILE)")
    exp.add_argument("file", nargs="?")
    exp.set_defaults(handler=export_csv)
    for parser in (add, rm, ls, imp, exp):
        parser.add_argument("--tenant", required=True)
        add_data_option(parser)


def _checked_tenant(store: Any, tenant: str) -> None:
    if store.get_tenant(tenant) is None:
        raise UsageError(f"no tenant {tenant}")


def add_suppressions(args: argparse.Namespace) -> int:
    now = time.time()
    expires = now + args.days * 86400.0 if args.days is not None else None
    items = [Suppression(args.tenant, a, args.reason, args.category, detail="added by hand",
                         created_at=now, expires_at=expires) for a in args.address]
    with store_for(args) as store:
        _checked_tenant(store, args.tenant)
        try:
            store.add_suppressions(items)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(f"suppressed {len(items)} address(es) for tenant {args.tenant}")
    return 0


def remove_suppressions(args: argparse.Namespace) -> int:
    missing = []
    with store_for(args) as store:
        _checked_tenant(store, args.tenant)
        for address in args.address:
            try:
                store.remove_suppression(args.tenant, address, args.category)
            except NotFound:
                missing.append(address)
    if missing:
        raise UsageError(f"not suppressed: {', '.join(missing)}")
    print(f"removed {len(args.address)} address(es) from the list of tenant {args.tenant}")
    return 0


def list_suppressions(args: argparse.Namespace) -> int:
    query = SuppressionQuery(address=args.address, reason=args.reason, category=args.category,
                             limit=args.limit)
    with store_for(args) as store:
        _checked_tenant(store, args.tenant)
        found = store.list_suppressions(args.tenant, query)
    if args.json:
        print_json([{"address": s.address, "reason": s.reason, "category": s.category,
                     "detail": s.detail, "source_message": s.source_message,
                     "created_at": iso(s.created_at), "expires_at": iso(s.expires_at)}
                    for s in found])
    else:
        print_table(None, ("address", "reason", "category", "created", "expires"), [
            (s.address, s.reason, s.category or "(all)", iso(s.created_at),
             iso(s.expires_at) or "never") for s in found])
    return 0


def import_csv(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    items, errors = suppression_csv.parse(text, args.tenant, time.time())
    with store_for(args) as store:
        _checked_tenant(store, args.tenant)
        written = store.add_suppressions(items) if items else 0
    for error in errors:
        print(f"line {error.line}: {error.message}", file=sys.stderr)
    print(f"imported {written} suppression(s); {len(errors)} line(s) with errors")
    return 1 if errors else 0


def export_csv(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        _checked_tenant(store, args.tenant)
        found = suppression_csv.everything(store, args.tenant)
    text = suppression_csv.render(found)
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
