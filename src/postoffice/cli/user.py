"""`postoffice user add|ls|rm|passwd|quota`: mailboxes and the accounts that log in to them."""

from __future__ import annotations

import argparse
import re

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
    quota = commands.add_parser("quota", help="show or set a user's storage quota")
    quota.add_argument("address")
    quota.add_argument("limit", nargs="?", help="bytes, a size like 500M or 2G (K=1024), or none")
    quota.add_argument("--json", action="store_true")
    quota.set_defaults(handler=user_quota)
    for parser in (add, ls, rm, passwd, quota):
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


_SIZE = re.compile(r"(\d+)([KMGT]?)", re.IGNORECASE | re.ASCII)
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
MAX_QUOTA = 2**63 - 1


def parse_limit(text: str) -> int | None:
    """Octets for `text` (bytes, or with a binary suffix K, M, G, T); None for "none"."""
    if text.strip().lower() == "none":
        return None
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"invalid quota {text!r} (expected bytes, a size like 500M or 2G, or none)")
    value = int(match[1]) << 10 * "BKMGT".index((match[2] or "B").upper())
    if value > MAX_QUOTA:
        raise UsageError(f"quota {text!r} is too large")
    return value


def human_size(octets: int) -> str:
    value, unit = float(octets), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    number = str(octets) if unit == 0 else f"{value:.1f}".removesuffix(".0")
    return f"{number} {_UNITS[unit]}"


def user_quota(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    change = args.limit is not None
    limit = parse_limit(args.limit) if change else None
    with store_for(args) as store:
        if change:
            store.set_quota(address, limit)
        quota = store.quota(address)
    if args.json:
        print_json({"address": address, "used_bytes": quota.used, "limit_bytes": quota.limit})
    elif change:
        print(f"quota of {address} set to {human_size(quota.limit)}" if quota.limit is not None
              else f"quota of {address} removed (no limit)")
    elif quota.limit is None:
        print(f"{address}: {human_size(quota.used)} used, no limit")
    else:
        share = quota.used / quota.limit * 100 if quota.limit else 100.0
        print(f"{address}: {human_size(quota.used)} of {human_size(quota.limit)} used ({share:.0f}%)")
    return 0
