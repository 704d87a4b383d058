"""`postoffice domain add|ls|rm`: the domains this server receives mail for."""

from __future__ import annotations

import argparse

from postoffice.cli.common import (
    add_data_option,
    iso,
    normalize_domain,
    print_json,
    print_table,
    store_for,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("domain", help="local domains")
    commands = p.add_subparsers(dest="domain_command", required=True)
    add = commands.add_parser("add", help="add a local domain")
    add.add_argument("name")
    add.set_defaults(handler=add_domain)
    ls = commands.add_parser("ls", help="list local domains")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_domains)
    rm = commands.add_parser("rm", help="remove a local domain (it must have no users)")
    rm.add_argument("name")
    rm.set_defaults(handler=remove_domain)
    for parser in (add, ls, rm):
        add_data_option(parser)


def add_domain(args: argparse.Namespace) -> int:
    name = normalize_domain(args.name)
    with store_for(args) as store:
        store.add_domain(name)
    print(f"domain {name} added")
    return 0


def list_domains(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        domains = store.list_domains()
    if args.json:
        print_json([{"name": d.name, "created_at": iso(d.created_at)} for d in domains])
    else:
        print_table(None, ("domain", "created"), [(d.name, iso(d.created_at)) for d in domains])
    return 0


def remove_domain(args: argparse.Namespace) -> int:
    name = normalize_domain(args.name)
    with store_for(args) as store:
        store.remove_domain(name)
    print(f"domain {name} removed")
    return 0
