"""`postoffice sieve put|get|ls|activate|rm`: a user's Sieve filters, as ManageSieve sees them.

A script is checked with the same parser and checker the MDA runs before it is stored; at most
one script per user is active (the one delivery runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from postoffice.cli.common import add_data_option, normalize_address, print_json, store_for
from postoffice.errors import UsageError
from postoffice.proto.managesieve.config import ServerConfig
from postoffice.proto.managesieve.scripts import name_problem
from postoffice.sieve import SieveError, check, parse
from postoffice.storage import InUse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sieve", help="Sieve filter scripts")
    commands = p.add_subparsers(dest="sieve_command", required=True)
    put = commands.add_parser("put", help="check and store a script (replacing one of that name)")
    put.add_argument("address")
    put.add_argument("name")
    put.add_argument("file", help="the script's source; - for standard input")
    put.add_argument("--activate", action="store_true", help="make it the active script")
    put.set_defaults(handler=put_script)
    get = commands.add_parser("get", help="print a script's source (default: the active one)")
    get.add_argument("address")
    get.add_argument("name", nargs="?")
    get.set_defaults(handler=get_script)
    ls = commands.add_parser("ls", help="list a user's scripts")
    ls.add_argument("address")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_scripts)
    activate = commands.add_parser("activate", help="make a script the active one")
    activate.add_argument("address")
    activate.add_argument("name", nargs="?")
    activate.add_argument("--none", action="store_true", help="deactivate every script")
    activate.set_defaults(handler=activate_script)
    rm = commands.add_parser("rm", help="remove a script (not the active one)")
    rm.add_argument("address")
    rm.add_argument("name")
    rm.set_defaults(handler=remove_script)
    for parser in (put, get, ls, activate, rm):
        add_data_option(parser)


def _name(name: str) -> str:
    problem = name_problem(name.encode("utf-8", "surrogateescape"), ServerConfig().max_name)
    if problem:
        raise UsageError(f"invalid script name {name!r}: {problem}")
    return name


def _read_source(file: str) -> str:
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file}: a Sieve script must be UTF-8") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def put_script(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    name = _name(args.name)
    source = _read_source(args.file)
    try:
        check(parse(source))
    except SieveError as exc:
        where = "standard input" if args.file == "-" else args.file
        raise UsageError(f"{where}: {_one_line(str(exc))}; script not stored") from None
    with store_for(args) as store:
        store.put_sieve_script(address, name, source)
        if args.activate:
            store.activate_sieve_script(address, name)
    print(f"script {name} of {address} stored{' and active' if args.activate else ''}")
    return 0


def get_script(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        if args.name is None:
            script = store.active_sieve_script(address)
            if script is None:
                raise UsageError(f"{address} has no active script")
        else:
            script = store.get_sieve_script(address, args.name)
            if script is None:
                raise UsageError(f"{address} has no script {args.name}")
    sys.stdout.write(script.source)
    return 0


def list_scripts(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        scripts = store.list_sieve_scripts(address)
    if args.json:
        # The store does not report when a script was last changed.
        print_json([{"name": s.name, "active": s.active, "updated_at": s.updated_at, "last_error": s.last_error}
                    for s in scripts])
        return 0
    width = max((len(s.name) for s in scripts), default=0)
    for s in scripts:
        error = f"error: {_one_line(s.last_error)}" if s.last_error else ""
        print(f"{s.name:<{width}}  {'active' if s.active else '':<6}  {error}".rstrip())
    return 0


def activate_script(args: argparse.Namespace) -> int:
    if (args.name is None) == (not args.none):
        raise UsageError("give either a script NAME or --none")
    address = normalize_address(args.address)
    with store_for(args) as store:
        store.activate_sieve_script(address, args.name)
    print(f"script {args.name} of {address} is active" if args.name
          else f"no script of {address} is active")
    return 0


def remove_script(args: argparse.Namespace) -> int:
    address = normalize_address(args.address)
    with store_for(args) as store:
        try:
            store.delete_sieve_script(address, args.name)
        except InUse:
            raise UsageError(f"script {args.name} of {address} is active (activate another one,"
                             f" or none with `postoffice sieve activate {address} --none`)") from None
    print(f"script {args.name} of {address} removed")
    return 0
