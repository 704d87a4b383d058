"""`postoffice domain add|ls|rm`: the domains this server receives mail for."""

from __future__ import annotations

import argparse
import datetime as dt

from postoffice.auth.dkim.keys import zone_file_value
from postoffice.cli.common import (
    add_data_option,
    existing_data_dir,
    iso,
    normalize_domain,
    print_json,
    print_table,
    store_for,
)
from postoffice.errors import UsageError
from postoffice.mta.delivery_policy import publish_settings
from postoffice.mta.dkim import Keyring
from postoffice.policy import published
from postoffice.policy.published import Record


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
    dns = commands.add_parser("dns", help="the DNS records to publish for a domain")
    dns.add_argument("name")
    dns.add_argument("--json", action="store_true", help='a list of {"type", "name", "value"}')
    dns.set_defaults(handler=dns_records)
    for parser in (add, ls, rm, dns):
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
        store.add_domain(name)
    selectors = Keyring(existing_data_dir(args)).create(name, dt.date.today())
    print(f"domain {name} added; DKIM selectors {', '.join(selectors)}")
    print(f"publish its records: postoffice domain dns {name}")
    return 0


def dns_records(args: argparse.Namespace) -> int:
    from postoffice import config as cfg

    name = normalize_domain(args.name)
    data = existing_data_dir(args)
    with store_for(args) as store:
        if not store.is_local_domain(name):
            raise UsageError(f"{name} is not a local domain")
    config = cfg.load(data)
    publish = publish_settings(config, name)
    dkim = [Record(r.type, r.name, r.value) for r in Keyring(data).records(name)]
    records = published.records(name, publish, dkim)
    policy_url = f"https://mta-sts.{name}{published.MTA_STS_PATH}"
    policy = published.mta_sts_policy(publish)
    if args.json:
        print_json([{"type": r.type, "name": r.name, "value": r.value} for r in records]
                   + [{"type": "HTTPS", "name": policy_url, "value": policy}])
    else:
        for r in records:
            value = zone_file_value(r.value) if r.type == "TXT" else r.value
            print(f"{r.name}. IN {r.type} {value}")
        print(f"\n; MTA-STS policy, served by the http listener for mta-sts.{name} (put HTTPS with a"
              f"\n; valid certificate in front of it) at {policy_url}:")
        for line in policy.splitlines():
            print(f";   {line}")
    return 0


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
