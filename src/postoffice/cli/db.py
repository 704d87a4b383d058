"""`postoffice db migrate`: bring the database schema up to date."""

from __future__ import annotations

import argparse

from postoffice.cli.common import add_data_option, store_for


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="database maintenance")
    commands = p.add_subparsers(dest="db_command", required=True)
    migrate = commands.add_parser("migrate", help="apply pending schema migrations")
    migrate.set_defaults(handler=migrate_db)
    add_data_option(migrate)


def migrate_db(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        applied = store.migrate()
        version = store.schema_version()
    if applied:
        print(f"applied migrations {', '.join(map(str, applied))}; schema version {version}")
    else:
        print(f"schema is up to date (version {version})")
    return 0
