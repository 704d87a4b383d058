"""`postoffice db migrate`: bring the database schema up to date; `postoffice db purge`:
remove what is past retention now (docs/operations.md, Retention)."""

from __future__ import annotations

import argparse
import dataclasses

from postoffice.cli.common import add_data_option, data_dir, print_json, store_for
from postoffice.clock import SYSTEM_CLOCK
from postoffice.config import load
from postoffice.storage.retention import PurgeReport

_LABELS = {
    "events": "events",
    "messages": "messages",
    "queue_items": "queue items (with their messages)",
    "answers": "idempotent API answers",
    "expired": "expired suppressions, vacation answers, soft-bounce runs",
    "summaries": "message summaries",
    "blobs": "message bodies",
    "large_files": "  of which large files",
    "packs_compacted": "pack files compacted",
    "packs_dropped": "pack files removed",
    "orphan_packs": "unreferenced pack files removed",
    "bytes_freed": "bytes freed",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database maintenance")
    commands = p.add_subparsers(dest="db_command", required=True)
    migrate = commands.add_parser("migrate", help="apply pending schema migrations")
    migrate.set_defaults(handler=migrate_db)
    add_data_option(migrate)
    purge = commands.add_parser(
        "purge", help="remove message logs, events and bodies past retention, now")
    purge.add_argument("--dry-run", action="store_true",
                       help="only count what would be removed")
    purge.add_argument("--json", action="store_true")
    purge.set_defaults(handler=purge_db)
    add_data_option(purge)


def migrate_db(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        applied = store.migrate()
        version = store.schema_version()
    if applied:
        print(f"applied migrations {', '.join(map(str, applied))}; schema version {version}")
    else:
        print(f"schema is up to date (version {version})")
    return 0


def purge_db(args: argparse.Namespace) -> int:
    batch = load(data_dir(args)).retention.batch
    with store_for(args) as store:
        report: PurgeReport = store.purge(SYSTEM_CLOCK.now(), batch, dry_run=args.dry_run)
    values = dataclasses.asdict(report)
    if args.json:
        print_json(values)
        return 0
    print("would remove (dry run):" if report.dry_run else "removed:")
    width = max(map(len, _LABELS.values()))
    for key, label in _LABELS.items():
        print(f"  {label:<{width}}  {values[key]}")
    if report.dry_run:
        print("(bodies counted are those nothing references now; a real run also removes"
              " the bodies of the messages it purges)")
    return 0
