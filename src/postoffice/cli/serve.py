"""`postoffice serve`: run every listener until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys

from postoffice.cli.common import add_data_option, existing_data_dir, print_table

LOGIN_HINT = {
    "smtp": "MX for local domains, no login",
    "submission": "STARTTLS, then AUTH PLAIN/LOGIN",
    "submissions": "TLS, then AUTH PLAIN/LOGIN",
    "http": "GET /healthz",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the servers")
    add_data_option(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postoffice import app
    from postoffice import config as cfg

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = cfg.load(existing_data_dir(args))

    def ready(bound: list[app.BoundListener]) -> None:
        rows = [
            (b.name, f"{b.host}:{b.port}", app.TLS_MODE.get(b.name, "none"), LOGIN_HINT.get(b.name, ""))
            for b in bound
        ]
        print_table(f"postoffice {config.server.hostname} is listening", ("listener", "address", "tls", "how to use"), rows)
        users = _some_users(config.data_dir)
        d = config.delivery
        capture = d.sandbox_mailbox or _capture_mailbox(config.data_dir)
        if d.paused:
            print("Outbound delivery is paused ([delivery] paused = true): mail stays queued.")
        elif d.sandbox:
            print(f"Sandbox mode: outbound mail is captured in {capture}, nothing is sent.")
        elif d.sandbox_unroutable:
            print(f"Mail to domains without working DNS is captured in {capture} "
                  "([delivery] sandbox_unroutable).")
        print(
            f"Log in as a mailbox address ({users}) with the password `postoffice init` or\n"
            "`postoffice user add` printed; `postoffice user passwd ADDRESS` sets a new one.\n"
            f"Data directory: {config.data_dir}. Stop with Ctrl-C.",
            flush=True,
        )

    return app.serve(config, on_ready=ready)


def _some_users(data_dir: object) -> str:
    from postoffice.storage import open_store

    store = open_store(data_dir)  # type: ignore[arg-type]
    try:
        users = [u.address for u in store.list_users()]
    finally:
        store.close()
    if not users:
        return "none yet: `postoffice user add ADDRESS`"
    return ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")


def _capture_mailbox(data_dir: object) -> str:
    from postoffice.storage import open_store

    store = open_store(data_dir)  # type: ignore[arg-type]
    try:
        domains = store.list_domains()
    finally:
        store.close()
    return f"postmaster@{domains[0].name}" if domains else "postmaster@<first local domain>"
