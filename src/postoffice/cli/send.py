"""`postoffice send`: send one message through the HTTP API (postoffice.client), as an
application would: composed from flags, or a whole message with --raw."""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
from pathlib import Path
from typing import Any

from postoffice.cli.common import add_data_option, data_dir, print_json
from postoffice.errors import PostofficeError, UsageError

KEY_ENV = "POSTOFFICE_API_KEY"
STRUCTURED = (("from_", "--from"), ("subject", "--subject"), ("text", "--text"),
              ("text_file", "--text-file"), ("html_file", "--html-file"), ("attach", "--attach"),
              ("header", "--header"), ("reply_to", "--reply-to"))
"""Flags that compose a message, so cannot go with --raw."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("send", help="send a message through the HTTP API",
                       description="Send one message through the HTTP API of a running server.")
    p.add_argument("--from", dest="from_", metavar="ADDRESS",
                   help='the author, "addr@domain" or "Name <addr@domain>" (required unless --raw)')
    for flag, what in (("--to", "a recipient"), ("--cc", "a Cc recipient"),
                       ("--bcc", "a hidden recipient"), ("--reply-to", "a Reply-To address")):
        p.add_argument(flag, action="append", default=[], metavar="ADDRESS",
                       help=f"{what} (repeatable)")
    p.add_argument("--subject", metavar="TEXT")
    text = p.add_mutually_exclusive_group()
    text.add_argument("--text", metavar="TEXT", help="the plain text body")
    text.add_argument("--text-file", metavar="FILE", help="the plain text body from a file (UTF-8)")
    p.add_argument("--html-file", metavar="FILE", help="an HTML body from a file (UTF-8)")
    p.add_argument("--attach", action="append", default=[], metavar="FILE",
                   help="attach a file (repeatable)")
    p.add_argument("--header", action="append", default=[], metavar='"NAME: VALUE"',
                   help="an extra header field (repeatable)")
    p.add_argument("--category", default="", metavar="NAME",
                   help="a category for the log and statistics")
    p.add_argument("--lane", choices=("transactional", "bulk"),
                   help="the delivery lane (default: chosen from the message)")
    p.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE",
                   help="kept with the message in the log (repeatable)")
    p.add_argument("--raw", metavar="FILE",
                   help="send this whole message (- for standard input); the recipients are "
                        "--to/--cc/--bcc when given, else its To, Cc and Bcc fields")
    p.add_argument("--api", metavar="URL",
                   help="the API (default: the running server's http listener, from the data "
                        "directory's run/listeners.json, else postoffice.toml)")
    p.add_argument("--key", metavar="KEY", help=f"the API key (default: ${KEY_ENV})")
    p.add_argument("--json", action="store_true", help="print the API's answer")
    add_data_option(p)
    p.set_defaults(handler=send)


def send(args: argparse.Namespace) -> int:
    from postoffice.client import ApiError, Client

    key = args.key or os.environ.get(KEY_ENV)
    if not key:
        raise UsageError(f"no API key: pass --key or set {KEY_ENV} "
                         "(make one with `postoffice apikey create`)")
    metadata = _pairs(args.metadata, "=", "--metadata", "KEY=VALUE")
    options: dict[str, Any] = {"category": args.category, "lane": args.lane,
                               "metadata": metadata}
    raw = None
    if args.raw is not None:
        given = [flag for name, flag in STRUCTURED if getattr(args, name)]
        if given:
            raise UsageError(f"{given[0]} cannot be used with --raw")
        raw = _read_bytes(args.raw)
        if not raw.strip():
            raise UsageError(f"--raw {args.raw}: the message is empty")
    composed = _structured(args) if raw is None else {}
    client = Client(api_url(args), key)
    try:
        if raw is not None:
            answer = client.send_raw(raw, args.to, args.cc, args.bcc, **options)
        else:
            answer = client.send(**composed, **options)
    except ApiError as error:
        raise PostofficeError(str(error)) from None
    if args.json:
        print_json(answer)
        return 0
    statuses = [r.get("status") for r in answer.get("recipients", [])]
    suppressed = [str(r.get("address")) for r in answer.get("recipients", [])
                  if r.get("status") == "suppressed"]
    line = f"queued {answer.get('id')} to {len(statuses) - len(suppressed)} recipient(s)"
    if suppressed:
        line += f"; suppressed: {', '.join(suppressed)}"
    print(line)
    return 0


def _structured(args: argparse.Namespace) -> dict[str, Any]:
    if not args.from_:
        raise UsageError("--from is required (or --raw FILE for a whole message)")
    if not (args.to or args.cc or args.bcc):
        raise UsageError("--to is required (at least one --to, --cc or --bcc)")
    text = args.text
    if args.text_file is not None:
        text = _read_text(args.text_file, "--text-file")
    html = _read_text(args.html_file, "--html-file") if args.html_file is not None else None
    attachments = []
    for name in args.attach:
        path = Path(name)
        content_type = mimetypes.guess_type(path.name)[0]
        attachments.append((path.name, _read_bytes(name, "--attach"), content_type))
    return {"from_": args.from_, "to": args.to, "cc": args.cc, "bcc": args.bcc,
            "reply_to": args.reply_to, "subject": args.subject or "", "text": text,
            "html": html, "attachments": attachments,
            "headers": _pairs(args.header, ":", "--header", '"Name: value"')}


def _pairs(values: list[str], separator: str, flag: str, form: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition(separator)
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"{flag} {value!r}: expected {form}")
        if name in out:
            raise UsageError(f"{flag} {name!r} given twice")
        out[name] = rest.strip() if separator == ":" else rest
    return out


def _read_bytes(name: str, flag: str = "--raw") -> bytes:
    if name == "-" and flag == "--raw":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise UsageError(f"{flag} {name}: {error.strerror or error}") from None


def _read_text(name: str, flag: str) -> str:
    try:
        return _read_bytes(name, flag).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{flag} {name}: not UTF-8 text") from None


def api_url(args: argparse.Namespace) -> str:
    """--api, else the http listener of the server running on the data directory, else the
    one its postoffice.toml configures."""
    if args.api:
        return str(args.api).rstrip("/")
    data = data_dir(args)
    try:
        document = json.loads((data / "run" / "listeners.json").read_text())
        entry = document["listeners"]["http"]
        host, port = str(entry["host"]), int(entry["port"])
        scheme = "https" if entry.get("tls") == "implicit" else "http"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        if not (data / "postoffice.toml").exists():
            raise UsageError(f"no --api given and {data} is not a postoffice data directory "
                             "(pass --api URL or --data DIR)") from None
        from postoffice import config as cfg

        address = cfg.load(data).listener_addresses().get("http")
        if address is None:
            raise UsageError("no --api given and the http listener is off in "
                             f"{data / 'postoffice.toml'}") from None
        (host, port), scheme = address, "http"
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"
