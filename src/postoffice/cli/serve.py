"""`postoffice serve`: run every listener until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys

from postoffice.cli.common import add_data_option, existing_data_dir, print_table

LOGIN_HINT = {
    "smtp": "MX: mail for local domains, no login",
    "submission": "STARTTLS, then AUTH PLAIN/LOGIN as a mailbox address",
    "submissions": "implicit TLS, AUTH PLAIN/LOGIN as a mailbox address",
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
        print(
            "Log in with a mailbox address (postmaster@<your domain>) and the password printed by\n"
            "`postoffice init`; set a new one with `postoffice user passwd ADDRESS`.\n"
            f"Data directory: {config.data_dir}. Stop with Ctrl-C.",
            flush=True,
        )

    return app.serve(config, on_ready=ready)
