"""`postoffice init`: a new data directory with config, database, TLS certificate and a mailbox."""

from __future__ import annotations

import argparse
import datetime

from postoffice import config as cfg
from postoffice.cli.common import add_data_option, data_dir, normalize_domain
from postoffice.credentials import generate_password, hash_password
from postoffice.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="create a data directory")
    add_data_option(p)
    p.add_argument("--domain", default="example.test", help="first local domain (default: example.test)")
    p.add_argument("--hostname", help="server name for banners and Received (default: mail.DOMAIN)")
    p.add_argument(
        "--ports",
        choices=sorted(cfg.LISTENER_PRESETS),
        default="dev",
        help="dev: 2525/2587/2465/8025 on 127.0.0.1; standard: 25/587/465/80 on all "
        "addresses; any: free ports on 127.0.0.1 (see run/listeners.json)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postoffice.server.tls import generate_self_signed
    from postoffice.storage import open_store

    directory = data_dir(args)
    domain = normalize_domain(args.domain)
    hostname = normalize_domain(args.hostname) if args.hostname else f"mail.{domain}"
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory}: exists and is not empty; refusing to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / cfg.CONFIG_FILE).write_text(
        cfg.render(hostname, cfg.LISTENER_PRESETS[args.ports], development=args.ports == "dev"),
        encoding="utf-8",
    )
    config = cfg.load(directory)
    generate_self_signed(hostname, config.path(config.tls.cert), config.path(config.tls.key))
    password = generate_password()
    postmaster = f"postmaster@{domain}"
    store = open_store(directory)
    try:
        store.add_domain(domain)
        store.add_user(postmaster, hash_password(password))
    finally:
        store.close()
    from postoffice.mta import verp_keys
    from postoffice.mta.dkim import Keyring

    selectors = Keyring(directory).create(domain, datetime.date.today())
    verp_keys.load_or_create(directory)
    print(f"Initialised {directory} for {domain} (server name {hostname}).")
    print(f"DKIM keys {', '.join(selectors)}; records to publish: postoffice domain dns {domain}")
    print(f"Mailbox {postmaster} created; its password (shown only now): {password}")
    return 0
