"""What every command shares: the data directory, output as tables or JSON, one-line errors."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from postoffice.errors import UsageError

DATA_ENV = "POSTOFFICE_DATA"


def add_data_option(parser: argparse.ArgumentParser, top: bool = False) -> None:
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help=f"data directory (default: ${DATA_ENV}, then ./var)",
    )


def data_dir(args: argparse.Namespace) -> Path:
    value = getattr(args, "data", None) or os.environ.get(DATA_ENV) or "var"
    return Path(value)


def existing_data_dir(args: argparse.Namespace) -> Path:
    path = data_dir(args)
    if not (path / "postoffice.toml").exists():
        raise UsageError(f"{path}: not a postoffice data directory (run `postoffice init`)")
    return path


@contextmanager
def store_for(args: argparse.Namespace) -> Iterator[Any]:
    from postoffice.storage import open_store

    store = open_store(existing_data_dir(args))
    try:
        yield store
    finally:
        store.close()


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(soft_wrap=True).print(table)


def read_password(from_stdin: bool) -> str | None:
    """The password from stdin (first line), or None to generate one."""
    if not from_stdin:
        return None
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise UsageError("--password-stdin: no password on standard input")
    return line


def normalize_address(address: str) -> str:
    local, sep, domain = address.strip().rpartition("@")
    if not sep or not local or not domain or " " in address.strip() or "." not in domain:
        raise UsageError(f"invalid address: {address!r} (expected local@domain)")
    return f"{local}@{normalize_domain(domain)}".lower()


def normalize_domain(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise UsageError(f"invalid domain name: {name!r}") from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or any(
        not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
        or label.startswith("-") or label.endswith("-")
        for label in labels
    ):
        raise UsageError(f"invalid domain name: {name!r}")
    return ascii_name
