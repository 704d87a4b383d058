"""`postoffice serve`: run every listener until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from postoffice.cli.common import add_data_option, existing_data_dir, print_table

LOGIN_HINT = {
    "smtp": "MX for local domains, no login",
    "submission": "STARTTLS, then AUTH PLAIN/LOGIN",
    "submissions": "TLS, then AUTH PLAIN/LOGIN",
    "http": "HTTP API /v1 (Bearer key: postoffice apikey create --tenant default); /healthz",
    "imap": "IMAP: STARTTLS, then LOGIN (plain login from loopback)",
    "imaps": "IMAP over TLS",
    "pop3": "POP3: STLS, then USER/PASS or AUTH PLAIN",
    "pop3s": "POP3 over TLS",
    "managesieve": "Sieve filters: STARTTLS, then AUTHENTICATE PLAIN",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the servers")
    add_data_option(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postoffice import app
    from postoffice import config as cfg
    from postoffice.server import logs

    logs.configure(getattr(logging, str(args.log_level).upper(), logging.INFO), sys.stderr)
    config = cfg.load(existing_data_dir(args))

    def ready(bound: list[app.BoundListener]) -> None:
        rows = [
            (b.name, f"{b.host}:{b.port}", app.TLS_MODE.get(b.name, "none"), LOGIN_HINT.get(b.name, ""))
            for b in bound
        ]
        print_table(f"postoffice {config.server.hostname} is listening", ("listener", "address", "tls", "how to use"), rows)
        d = config.delivery
        users, capture = _about(config.data_dir, d.sandbox_mailbox)
        if d.paused:
            print("Outbound delivery is paused ([delivery] paused = true): mail stays queued.")
        elif d.sandbox:
            print(f"Sandbox mode: outbound mail is captured in {capture}, nothing is sent.")
        else:
            if d.sandbox_tenants:
                print(f"Sandbox for tenants {', '.join(d.sandbox_tenants)}: their outbound mail "
                      f"is captured in {capture}.")
            if d.sandbox_unroutable:
                print(f"Mail to domains without working DNS is captured in {capture} "
                      "([delivery] sandbox_unroutable).")
        print(
            f"Log in as a mailbox address ({users}) with the password `postoffice init` or\n"
            "`postoffice user add` printed; `postoffice user passwd ADDRESS` sets a new one.\n"
            f"Data directory: {config.data_dir}. Stop with Ctrl-C.",
            flush=True,
        )

    return app.serve(config, on_ready=ready)


def _about(data_dir: Path, configured_capture: str) -> tuple[str, str]:
    """(some users to log in as, the sandbox capture mailbox) for the startup message."""
    from postoffice.mta.engine import capture_mailbox
    from postoffice.storage import StorageError, open_store

    store = open_store(data_dir)
    try:
        users = [u.address for u in store.list_users()]
        try:
            capture = capture_mailbox(store, configured_capture)
        except StorageError as exc:
            capture = f"nowhere ({exc})"
    finally:
        store.close()
    if not users:
        return "none yet: `postoffice user add ADDRESS`", capture
    more = f" and {len(users) - 3} more" if len(users) > 3 else ""
    return ", ".join(users[:3]) + more, capture
