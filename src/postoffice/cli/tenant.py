"""`postoffice tenant add|ls|limits` and `postoffice apikey create|ls|revoke`: the tenants
(organisations) of this install and the API keys their applications use."""

from __future__ import annotations

import argparse

from postoffice.cli.common import add_data_option, iso, print_json, print_table, store_for
from postoffice.errors import UsageError
from postoffice.policy import api_keys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tenant", help="tenants (organisations): domains, keys and limits")
    commands = p.add_subparsers(dest="tenant_command", required=True)
    add = commands.add_parser("add", help="add a tenant")
    add.add_argument("name")
    add.add_argument("--retention-days", type=_days, default=60,
                     help="keep message logs and events this long (default 60)")
    add.set_defaults(handler=add_tenant)
    ls = commands.add_parser("ls", help="list tenants")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_tenants)
    limits = commands.add_parser("limits", help="set a tenant's sending limits and retention")
    limits.add_argument("name")
    limits.add_argument("--hourly", type=_limit, help="recipients per hour, or none")
    limits.add_argument("--daily", type=_limit, help="recipients per day, or none")
    limits.add_argument("--retention-days", type=_days)
    limits.set_defaults(handler=set_limits)
    for parser in (add, ls, limits):
        add_data_option(parser)

    k = sub.add_parser("apikey", help="API keys of a tenant")
    key_commands = k.add_subparsers(dest="apikey_command", required=True)
    create = key_commands.add_parser("create", help="make a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scope", choices=api_keys.SCOPES, default="send",
                        help="send (default), read (also logs and stats) or admin (everything)")
    create.add_argument("--name", default="", help="a note on what uses the key")
    create.add_argument("--json", action="store_true", help='print {"key", "id", "tenant", "scope"}')
    create.set_defaults(handler=create_key)
    kls = key_commands.add_parser("ls", help="list a tenant's keys (never the keys themselves)")
    kls.add_argument("--tenant", required=True)
    kls.add_argument("--json", action="store_true")
    kls.set_defaults(handler=list_keys)
    revoke = key_commands.add_parser("revoke", help="revoke a key (by its id)")
    revoke.add_argument("--tenant", required=True)
    revoke.add_argument("id")
    revoke.set_defaults(handler=revoke_key)
    for parser in (create, kls, revoke):
        add_data_option(parser)


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 36500:
        raise argparse.ArgumentTypeError(f"invalid number of days: {value!r}")
    return int(value)


def _limit(value: str) -> int:
    """A limit; -1 stands for "none" (no limit)."""
    if value.lower() == "none":
        return -1
    if not value.isdigit() or len(value) > 12:
        raise argparse.ArgumentTypeError(f"invalid limit: {value!r} (a number, or none)")
    return int(value)


def add_tenant(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        try:
            store.add_tenant(args.name, retention_days=args.retention_days)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(f"tenant {args.name} added")
    return 0


def list_tenants(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        tenants = store.list_tenants()
        domains = store.list_domains()
    owned = {t.name: [d.name for d in domains if d.tenant == t.name] for t in tenants}
    if args.json:
        print_json([{"name": t.name, "created_at": iso(t.created_at),
                     "retention_days": t.retention_days, "hourly_limit": t.hourly_limit,
                     "daily_limit": t.daily_limit, "domains": owned[t.name]} for t in tenants])
    else:
        print_table(None, ("tenant", "domains", "hourly", "daily", "retention"), [
            (t.name, ", ".join(owned[t.name]), t.hourly_limit or "-", t.daily_limit or "-",
             f"{t.retention_days} days") for t in tenants])
    return 0


def set_limits(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        tenant = store.get_tenant(args.name)
        if tenant is None:
            raise UsageError(f"no tenant {args.name}")
        hourly = tenant.hourly_limit if args.hourly is None else _or_none(args.hourly)
        daily = tenant.daily_limit if args.daily is None else _or_none(args.daily)
        retention = args.retention_days or tenant.retention_days
        store.set_tenant_limits(args.name, hourly=hourly, daily=daily, retention_days=retention)
    print(f"tenant {args.name}: hourly {hourly or 'none'}, daily {daily or 'none'},"
          f" retention {retention} days")
    return 0


def _or_none(limit: int) -> int | None:
    return None if limit < 0 else limit


def create_key(args: argparse.Namespace) -> int:
    new = api_keys.make_key()
    with store_for(args) as store:
        key = store.add_api_key(args.tenant, new.id, new.digest, args.scope, args.name)
    if args.json:
        print_json({"key": new.key, "id": key.id, "tenant": key.tenant, "scope": key.scope})
    else:
        print(new.key)
        print(f"(key {key.id} of tenant {key.tenant}, scope {key.scope}: it is shown only once)")
    return 0


def list_keys(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        if store.get_tenant(args.tenant) is None:
            raise UsageError(f"no tenant {args.tenant}")
        keys = store.list_api_keys(args.tenant)
    if args.json:
        print_json([{"id": k.id, "tenant": k.tenant, "scope": k.scope, "name": k.name,
                     "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at),
                     "last_used_at": iso(k.last_used_at)} for k in keys])
    else:
        print_table(None, ("id", "scope", "name", "created", "last used", "revoked"), [
            (k.id, k.scope, k.name, iso(k.created_at), iso(k.last_used_at) or "-",
             iso(k.revoked_at) or "-") for k in keys])
    return 0


def revoke_key(args: argparse.Namespace) -> int:
    with store_for(args) as store:
        store.revoke_api_key(args.tenant, args.id)
    print(f"key {args.id} of tenant {args.tenant} revoked")
    return 0
