"""`postoffice feedback classify FILE [--json]`: what a received message reports (a bounce,
a delay notice, a complaint, an auto-reply or none of these) and, per recipient, the status,
reply code, diagnostic, reason class and whether the address itself is bad.

JSON shape: {"kind": "bounce|delay|complaint|autoreply|none", "recipients": [{"address",
"status", "reply_code", "diagnostic", "reason", "hard"}]}; reasons are `policy.bounces.Reason`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from postoffice.cli.common import print_json
from postoffice.errors import UsageError
from postoffice.policy.bounces import ClassifiedRecipient, Feedback, classify_message


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("feedback", help="bounces, delay notices, complaints and auto-replies")
    commands = p.add_subparsers(dest="feedback_command", required=True)
    classify = commands.add_parser("classify", help="classify one received message")
    classify.add_argument("file", help="the message (any line ends); - for standard input")
    classify.add_argument("--json", action="store_true", help="print the result as JSON")
    classify.set_defaults(handler=run_classify)


def read_message(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def run_classify(args: argparse.Namespace) -> int:
    feedback = classify_message(read_message(args.file))
    if args.json:
        print_json(feedback_json(feedback))
    else:
        for line in feedback_lines(feedback):
            print(line)
    return 0


def feedback_json(feedback: Feedback) -> dict[str, Any]:
    return {"kind": str(feedback.kind),
            "recipients": [recipient_json(r) for r in feedback.recipients]}


def recipient_json(recipient: ClassifiedRecipient) -> dict[str, Any]:
    return {"address": recipient.address, "status": recipient.status,
            "reply_code": recipient.reply_code, "diagnostic": recipient.diagnostic,
            "reason": str(recipient.reason), "hard": recipient.hard}


def feedback_lines(feedback: Feedback) -> list[str]:
    """The human-readable form: the kind, then one line per recipient (and its diagnostic)."""
    lines = [f"kind: {feedback.kind}"]
    complaint = feedback.complaint
    if complaint is not None:
        for label, value in (("feedback-type", complaint.feedback_type),
                             ("original-mail-from", complaint.original_mail_from),
                             ("source-ip", complaint.source_ip),
                             ("arrival-date", complaint.arrival_date),
                             ("user-agent", complaint.user_agent)):
            if value:
                lines.append(f"{label}: {value}")
    for r in feedback.recipients:
        if r.action == "complained":
            lines.append(f"{r.address}  complained")
            continue
        hard = "hard" if r.hard else "soft"
        lines.append(f"{r.address}  reason={r.reason} ({hard})  status={r.status or '-'}"
                     f"  reply={r.reply_code or '-'}")
        if r.diagnostic:
            lines.append(f"    {r.diagnostic}")
    return lines
