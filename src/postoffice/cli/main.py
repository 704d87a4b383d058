"""The `postoffice` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from postoffice import __version__
from postoffice.cli import (
    alias,
    check,
    db,
    domain,
    feedback,
    init,
    mailbox,
    queue,
    send,
    serve,
    sieve,
    suppress,
    tenant,
    user,
)
from postoffice.cli.common import add_data_option
from postoffice.errors import PostofficeError

GROUPS = (init, serve, db, domain, tenant, user, alias, queue, mailbox, sieve, check, feedback,
          send, suppress)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postoffice", description="Self-hosted email infrastructure.")
    parser.add_argument("--version", action="version", version=f"postoffice {__version__}")
    add_data_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from postoffice.storage.interfaces import StorageError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except (PostofficeError, StorageError, OSError) as exc:
        print(f"postoffice: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
