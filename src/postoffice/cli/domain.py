"""`postoffice domain add|ls|rm|dns|check`: the domains this server receives mail for, and the
DNS records they publish.

`domain check` exits 0 when every record passes, 1 when one is missing or wrong, 2 for usage
errors (not a local domain, no data directory, a configuration that cannot be used)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import TYPE_CHECKING

from postoffice.auth.dkim.keys import record_name, zone_file_value
from postoffice.cli.common import (
    add_data_option,
    existing_data_dir,
    iso,
    normalize_domain,
    print_json,
    print_table,
    store_for,
)
from postoffice.errors import ConfigError, UsageError
from postoffice.mta.delivery_policy import publish_settings
from postoffice.mta.dkim import Keyring
from postoffice.mta.domain_check import Expected, all_pass
from postoffice.mta.record_checks import Row, Status
from postoffice.policy.published import Record

if TYPE_CHECKING:
    from postoffice.config import Config
    from postoffice.mta.dns import Resolver

USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("domain", help="local domains")
    commands = p.add_subparsers(dest="domain_command", required=True)
    add = commands.add_parser("add", help="add a local domain")
    add.add_argument("name")
    add.add_argument("--tenant", default="default", help="the tenant that owns it (default: default)")
    add.set_defaults(handler=add_domain)
    ls = commands.add_parser("ls", help="list local domains")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_domains)
    rm = commands.add_parser("rm", help="remove a local domain (it must have no users)")
    rm.add_argument("name")
    rm.set_defaults(handler=remove_domain)
    dns = commands.add_parser("dns", help="the DNS records to publish for a domain")
    dns.add_argument("name")
    dns.add_argument("--json", action="store_true", help='a list of {"type", "name", "value"}')
    dns.set_defaults(handler=dns_records)
    check = commands.add_parser("check", help="look the records up and say what to change")
    check.add_argument("name")
    check.add_argument("--json", action="store_true",
                       help='a list of {"type", "name", "status", "expected", "found", "advice"}')
    check.set_defaults(handler=check_records)
    for parser in (add, ls, rm, dns, check):
        add_data_option(parser)

    dkim = sub.add_parser("dkim", help="DKIM signing keys")
    dkim_commands = dkim.add_subparsers(dest="dkim_command", required=True)
    rotate = dkim_commands.add_parser("rotate", help="make a new RSA and Ed25519 key pair")
    rotate.add_argument("name")
    rotate.set_defaults(handler=rotate_keys)
    add_data_option(rotate)


def add_domain(args: argparse.Namespace) -> int:
    name = normalize_domain(args.name)
    with store_for(args) as store:
        store.add_domain(name, tenant=args.tenant)
    selectors = Keyring(existing_data_dir(args)).create(name, dt.date.today())
    print(f"domain {name} added; DKIM selectors {', '.join(selectors)}")
    print(f"publish its records: postoffice domain dns {name}")
    return 0


def expected_records(args: argparse.Namespace) -> tuple[Config, Expected]:
    """The configuration, and what the local domain `args.name` should publish."""
    from postoffice import config as cfg

    name = normalize_domain(args.name)
    data = existing_data_dir(args)
    with store_for(args) as store:
        if not store.is_local_domain(name):
            raise UsageError(f"{name} is not a local domain")
    keyring = Keyring(data)
    dkim = tuple(Record(r.type, r.name, r.value) for r in keyring.records(name))
    active = frozenset(record_name(k.selector, name) for k in keyring.active(name))
    config = cfg.load(data)
    return config, Expected(name, publish_settings(config, name), dkim, active)


def dns_records(args: argparse.Namespace) -> int:
    _, expected = expected_records(args)
    name, records, policy = expected.domain, expected.records(), expected.policy
    if args.json:
        print_json([{"type": r.type, "name": r.name, "value": r.value} for r in records]
                   + [{"type": "HTTPS", "name": expected.policy_url, "value": policy}])
    else:
        for r in records:
            value = zone_file_value(r.value) if r.type == "TXT" else r.value
            print(f"{r.name}. IN {r.type} {value}")
        print(f"\n; MTA-STS policy, served by the http listener for mta-sts.{name} (put HTTPS with a"
              f"\n; valid certificate in front of it) at {expected.policy_url}:")
        for line in policy.splitlines():
            print(f";   {line}")
    return 0


def check_records(args: argparse.Namespace) -> int:
    from postoffice.mta.dns import Resolver, ResolverConfig

    try:
        config, expected = expected_records(args)
        dns = config.dns
        resolver = Resolver(ResolverConfig(nameservers=dns.nameservers, lifetime=dns.timeout))
    except (UsageError, ConfigError) as exc:
        print(f"postoffice: error: {exc}", file=sys.stderr)
        return USAGE
    rows = asyncio.run(_check(expected, resolver))
    if args.json:
        print_json([row.to_json() for row in rows])
    else:
        print_rows(rows)
    return 0 if all_pass(rows) else 1


async def _check(expected: Expected, resolver: Resolver) -> list[Row]:
    from postoffice.mta.domain_check import check_domain

    try:
        return await check_domain(expected, resolver)
    finally:
        await resolver.close()


def print_rows(rows: list[Row]) -> None:
    width = max(len(row.type) for row in rows)
    for row in rows:
        print(f"{row.status:<8} {row.type:<{width}} {row.name}")
        lines = [] if row.status is Status.PASS else [("expected", _short(row.expected))]
        if row.found and row.status is not Status.PASS:
            lines.append(("found", _short(row.found)))
        if row.advice:
            lines.append(("note", row.advice.removeprefix("note: ")) if row.status is Status.PASS
                         else ("change", row.advice))
        for label, text in lines:
            print(f"{'':9}{label + ':':<10}{text}")
    failing = sum(row.status is not Status.PASS for row in rows)
    print(f"\n{failing} of {len(rows)} need a change" if failing else f"\nall {len(rows)} pass")


def _short(value: str, limit: int = 120) -> str:
    """One line (a policy file's lines joined by "; "), long values (DKIM keys) cut short."""
    text = " ".join("; ".join(line for line in value.splitlines() if line.strip()).split())
    return text if len(text) <= limit else f"{text[: limit - 40]} ... {text[-35:]}"


def rotate_keys(args: argparse.Namespace) -> int:
    name = normalize_domain(args.name)
    with store_for(args) as store:
        if not store.is_local_domain(name):
            raise UsageError(f"{name} is not a local domain")
    selectors = Keyring(existing_data_dir(args)).create(name, dt.date.today())
    print(f"new DKIM selectors for {name}: {', '.join(selectors)} (signing with them within a minute)")
    print("publish the new records first: postoffice domain dns " + name)
    return 0


def list_domains(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        domains = store.list_domains()
    if args.json:
        print_json([{"name": d.name, "created_at": iso(d.created_at), "tenant": d.tenant}
                    for d in domains])
    else:
        print_table(None, ("domain", "tenant", "created"),
                    [(d.name, d.tenant, iso(d.created_at)) for d in domains])
    return 0


def remove_domain(args: argparse.Namespace) -> int:
    name = normalize_domain(args.name)
    with store_for(args) as store:
        store.remove_domain(name)
    print(f"domain {name} removed")
    return 0
