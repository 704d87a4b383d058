"""`postoffice alias add|ls|rm`: addresses that forward to others (local or remote).

Remote copies leave with an SRS envelope sender in the alias's domain and an ARC set sealed
with its DKIM key (docs/operations.md, Aliases and forwarding)."""

from __future__ import annotations

import argparse

from postoffice.cli.common import (
    add_data_option,
    iso,
    normalize_address,
    print_json,
    print_table,
    store_for,
)
from postoffice.errors import UsageError
from postoffice.policy import srs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("alias", help="aliases and forwarding")
    commands = p.add_subparsers(dest="alias_command", required=True)
    add = commands.add_parser("add", help="add an alias forwarding to one or more addresses")
    add.add_argument("alias", help="an address in a local domain")
    add.add_argument("targets", nargs="+", metavar="TARGET", help="local or remote addresses")
    add.set_defaults(handler=add_alias)
    ls = commands.add_parser("ls", help="list aliases")
    ls.add_argument("--domain")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_aliases)
    rm = commands.add_parser("rm", help="remove an alias")
    rm.add_argument("alias")
    rm.set_defaults(handler=remove_alias)
    for parser in (add, ls, rm):
        add_data_option(parser)


def add_alias(args: argparse.Namespace) -> int:
    address = normalize_address(args.alias)
    if srs.is_srs(address):
        raise UsageError(f"{address}: SRS addresses are reserved for forwarding")
    targets = [normalize_address(t) for t in args.targets]
    if address in targets:
        raise UsageError(f"alias {address} cannot forward to itself")
    with store_for(args) as store:
        domain = address.rpartition("@")[2]
        if not store.is_local_domain(domain):
            raise UsageError(f"{domain} is not a local domain (add it with `postoffice domain add {domain}`)")
        alias = store.add_alias(address, targets)
    print(f"alias {alias.address} added: {', '.join(alias.targets)}")
    return 0


def list_aliases(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        aliases = store.list_aliases(args.domain.lower() if args.domain else None)
    if args.json:
        print_json([{"address": a.address, "targets": list(a.targets), "created_at": iso(a.created_at)}
                    for a in aliases])
    else:
        print_table(None, ("alias", "targets", "created"),
                    [(a.address, ", ".join(a.targets), iso(a.created_at)) for a in aliases])
    return 0


def remove_alias(args: argparse.Namespace) -> int:
    address = normalize_address(args.alias)
    with store_for(args) as store:
        store.remove_alias(address)
    print(f"alias {address} removed")
    return 0
