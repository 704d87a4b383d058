"""`postoffice user add|ls|rm|passwd`: mailboxes and the accounts that log in to them."""

from __future__ import annotations

import argparse

from postoffice.cli.common import (
    add_data_option,
    iso,
    normalize_address,
    print_json,
    print_table,
    read_password,
    store_for,
)
from postoffice.credentials import generate_password, hash_password
from postoffice.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="mailbox users")
    commands = p.add_subparsers(dest="user_command", required=True)
    add = commands.add_parser("add", help="add a user (prints a generated password)")
    add.add_argument("address")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument(
        "--allow-sender",
        action="append",
        default=[],
        metavar="ADDRESS|@DOMAIN",
        help="another identity this user may send as (repeatable)",
    )
    add.set_defaults(handler=add_user)
    ls = commands.add_parser("ls", help="list users")
    ls.add_argument("--domain")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_users)
    rm = commands.add_parser("rm", help="remove a user and their mailbox")
    rm.add_argument("address")
    rm.set_defaults(handler=remove_user)
    passwd = commands.add_parser("passwd", help="set a user's password")
    passwd.add_argument("address")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(handler=set_password)
    for parser in (add, ls, rm, passwd):
        add_data_option(parser)


def _allowed(values: list[str]) -> list[str]:
    out = []
    for value in values:
        if value.startswith("@"):
            out.append("@" + normalize_address("x" + value).split("@", 1)[1])
        else:
            out.append(normalize_address(value))
    return out


def add_user(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    password = read_password(args.password_stdin)
    generated = password is None
    password = password or generate_password()
    with store_for(args) as store:
        domain = address.rpartition("@")[2]
        if not store.is_local_domain(domain):
            raise UsageError(f"{domain} is not a local domain (add it with `postoffice domain add {domain}`)")
        store.add_user(address, hash_password(password), _allowed(args.allow_sender))
    print(f"user {address} added")
    if generated:
        print(f"password (shown only now): {password}")
    return 0


def list_users(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        users = store.list_users(args.domain.lower() if args.domain else None)
    if args.json:
        print_json([
            {"address": u.address, "allowed_senders": list(u.allowed_senders), "created_at": iso(u.created_at)}
            for u in users
        ])
    else:
        print_table(None, ("address", "may also send as", "created"), [
            (u.address, ", ".join(u.allowed_senders), iso(u.created_at)) for u in users
        ])
    return 0


def remove_user(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        store.remove_user(address)
    print(f"user {address} removed")
    return 0


def set_password(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    password = read_password(args.password_stdin)
    generated = password is None
    password = password or generate_password()
    with store_for(args) as store:
        store.set_password(address, hash_password(password))
    print(f"password of {address} changed")
    if generated:
        print(f"new password (shown only now): {password}")
    return 0
