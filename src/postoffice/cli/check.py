"""`postoffice check spf|message`: evaluate SPF, or every check the MX runs on a message (SPF,
DKIM, ARC, DMARC, BIMI), with the full trace of lookups, against live DNS or a zone file
(`--dns-zone`, the RFC 7208 suite's zonedata shape in YAML or JSON), so that a verdict can be
reproduced without the network.

Exit status. `check spf`: 0 when the result is pass, neutral, none or softfail, 1 for fail,
temperror or permerror. `check message`: 0 when the MX would accept the message, 1 when it
would reject it, file it in Junk or ask to try again (`policy.inbound`). Both: 2 for usage
errors (a bad address, an unreadable file)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

from postoffice.auth.dns import DnsAnswer, DnsQuery, Flow, MxRecord, PtrRecord, TxtRecord, run_sync
from postoffice.auth.results import AuthenticationResults, MethodResult
from postoffice.auth.spf import SpfResult, check_mail_from, received_spf_header
from postoffice.cli.common import add_data_option, print_json
from postoffice.pipeline.inbound import any_temperror, dkim_method, spf_method

T = TypeVar("T")
USAGE = 2
ACCEPTED_SPF = ("pass", "neutral", "none", "softfail")


class CheckUsageError(Exception):
    """Bad arguments or input files: exit status 2."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="evaluate SPF (and more) as the MX would")
    commands = p.add_subparsers(dest="check_command", required=True)
    spf = commands.add_parser("spf", help="SPF for a client IP and sender")
    spf.add_argument("--ip", required=True, help="the client's IP address")
    spf.add_argument("--sender", required=True, help="MAIL FROM address (empty: the HELO identity)")
    spf.add_argument("--helo", default="", help="the HELO/EHLO name")
    add_common(spf)
    spf.set_defaults(handler=check_spf)
    message = commands.add_parser("message", help="every check the MX runs on a message")
    message.add_argument("file", type=Path, help="the message (RFC 5322, as received)")
    message.add_argument("--ip", required=True, help="the client's IP address")
    message.add_argument("--mail-from", required=True, help="MAIL FROM address (\"\" for null)")
    message.add_argument("--helo", default="", help="the HELO/EHLO name")
    message.add_argument("--now", type=int, default=None,
                         help="the time to check signatures at (seconds since the epoch)")
    add_common(message)
    message.set_defaults(handler=check_message)


def add_common(parser: argparse.ArgumentParser) -> None:
    add_data_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--dns-zone", metavar="FILE", type=Path,
                        help="answer DNS from this file (YAML or JSON zonedata) instead of the network")
    parser.add_argument("--receiver", default="postoffice",
                        help="the authserv-id / receiver name to write (default: postoffice)")


class Dns:
    """Runs flows against a zone file or live DNS, recording every lookup."""

    def __init__(self, zone_file: Path | None) -> None:
        self.lookups: list[tuple[DnsQuery, DnsAnswer]] = []
        self._zone: Any = None
        if zone_file is not None:
            self._zone = load_zone(zone_file)

    def run(self, flow: Flow[T]) -> T:
        traced = _traced(flow, self.lookups)
        if self._zone is not None:
            return run_sync(traced, self._zone)
        from postoffice.mta.dns import Resolver, ResolverConfig, run_async

        async def live() -> T:
            resolver = Resolver(ResolverConfig())
            try:
                return await run_async(traced, resolver)
            finally:
                await resolver.close()

        return asyncio.run(live())


def load_zone(path: Path) -> Any:
    import yaml

    from postoffice.auth.zonedata import ZoneDataError, zone_from_suite_data

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CheckUsageError(f"--dns-zone {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CheckUsageError(f"--dns-zone {path}: not YAML or JSON: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise CheckUsageError(f"--dns-zone {path}: expected a mapping of names to records")
    try:
        return zone_from_suite_data(data)
    except ZoneDataError as exc:
        raise CheckUsageError(f"--dns-zone {path}: {exc}") from None


def _traced(flow: Flow[T], log: list[tuple[DnsQuery, DnsAnswer]]) -> Generator[Any, Any, T]:
    """`flow`, with every question and its answer appended to `log`."""
    try:
        asked = next(flow)
        while True:
            answer = yield asked
            if isinstance(asked, tuple):
                log.extend(zip(asked, answer, strict=True))
            else:
                log.append((asked, answer))
            asked = flow.send(answer)
    except StopIteration as stop:
        result: T = stop.value
        return result


def describe(answer: DnsAnswer) -> str:
    if answer.error is not None:
        return str(answer.error).lower()
    return ", ".join(_record_text(r) for r in answer.records) or "(empty)"


def _record_text(record: object) -> str:
    if isinstance(record, TxtRecord):
        return repr(record.text)
    if isinstance(record, MxRecord):
        return f"{record.preference} {record.exchange}"
    if isinstance(record, PtrRecord):
        return record.target
    return str(record)


def handled(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except CheckUsageError as exc:
            print(f"postoffice: error: {exc}", file=sys.stderr)
            return USAGE

    return run


def unfold(value: str) -> str:
    return " ".join(value.split())


def client_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CheckUsageError(f"--ip: not an IP address: {text!r}") from None


def spf_json(result: SpfResult) -> dict[str, object]:
    return {
        "result": str(result.result),
        "domain": result.domain,
        "identity": result.identity,
        "mechanism": result.mechanism,
        "explanation": result.explanation,
        "problem": result.problem,
        "lookups": result.lookups,
        "void_lookups": result.void_lookups,
        "trace": [str(entry).strip() for entry in result.trace],
    }


@handled
def check_spf(args: argparse.Namespace) -> int:
    ip = client_ip(args.ip)
    dns = Dns(args.dns_zone)
    result = dns.run(check_mail_from(ip, args.sender, args.helo, receiver=args.receiver))
    results = AuthenticationResults(args.receiver, (spf_method(result),))
    header = results.render().decode()
    received = received_spf_header(result, receiver=args.receiver).decode()
    if args.json:
        print_json(dict(spf_json(result), authentication_results=results.value,
                        received_spf=unfold(received.partition(":")[2])))
    else:
        print(f"SPF for client {ip}, MAIL FROM <{args.sender}>, HELO {args.helo or '-'}:")
        for entry in result.trace:
            print(f"  {entry}")
        detail = f" ({result.mechanism})" if result.mechanism else ""
        print(f"result: {result.result}{detail}")
        if result.explanation:
            print(f"explanation: {result.explanation}")
        if result.problem:
            print(f"problem: {result.problem}")
        sys.stdout.write(header + received)
    return 0 if str(result.result) in ACCEPTED_SPF else 1


@handled
def check_message(args: argparse.Namespace) -> int:
    import time

    from postoffice.auth import arc, bimi, dkim, dmarc
    from postoffice.policy.inbound import decide

    ip = client_ip(args.ip)
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        raise CheckUsageError(f"{args.file}: {exc.strerror or exc}") from None
    content = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    now = args.now if args.now is not None else int(time.time())
    dns = Dns(args.dns_zone)
    spf = dns.run(check_mail_from(ip, args.mail_from, args.helo, receiver=args.receiver))
    signatures = dns.run(dkim.verify(content, now=now))
    chain = dns.run(arc.validate(content, now=now))
    author = dmarc.author_domain(content)
    from_problem = None if isinstance(author, dmarc.AuthorDomain) else str(author)
    dmarc_result = bimi_result = None
    if isinstance(author, dmarc.AuthorDomain):
        dmarc_result = dns.run(dmarc.evaluate(
            author.domain, dmarc.SpfCheck.for_envelope(str(spf.result), args.mail_from, args.helo),
            [dmarc.DkimCheck(str(r.status), r.domain) for r in signatures]))
        bimi_result = dns.run(bimi.evaluate(author.domain, dmarc_result))
    verdict = decide(
        from_problem=from_problem,
        dmarc=str(dmarc_result.result) if dmarc_result else "none",
        disposition=str(dmarc_result.disposition) if dmarc_result else "none",
        temperror=any_temperror(spf, signatures),
    )
    methods = [spf_method(spf)]
    methods += [dkim_method(r) for r in signatures] or [MethodResult("dkim", "none")]
    methods.append(MethodResult("arc", str(chain.status), reason=chain.reason or None))
    if dmarc_result is not None:
        methods.append(dmarc_result.method_result())
    if bimi_result is not None:
        methods.append(bimi_result.method_result())
    header = AuthenticationResults(args.receiver, tuple(methods))
    document = {
        "spf": spf_json(spf),
        "dkim": [{"result": str(r.status), "domain": r.domain, "selector": r.selector,
                  "algorithm": r.algorithm, "reason": r.reason} for r in signatures],
        "arc": {"result": str(chain.status), "instances": chain.instances, "reason": chain.reason},
        "dmarc": ({"result": str(dmarc_result.result), "from_domain": dmarc_result.from_domain,
                   "policy": str(dmarc_result.policy or "none"),
                   "disposition": str(dmarc_result.disposition), "detail": dmarc_result.detail}
                  if dmarc_result else {"result": "none", "policy": "none", "disposition": "none",
                                        "detail": f"no author domain: {from_problem}"}),
        "bimi": ({"result": str(bimi_result.result), "detail": bimi_result.detail}
                 if bimi_result else {"result": "none"}),
        "verdict": {"action": verdict.action, "reply": verdict.reply, "reason": verdict.reason},
        "authentication_results": header.value,
        "lookups": [f"{q} -> {describe(a)}" for q, a in dns.lookups],
    }
    if args.json:
        print_json(document)
    else:
        print("DNS lookups:")
        for line in document["lookups"]:
            print(f"  {line}")
        sys.stdout.write(header.render().decode())
        reply = f" ({verdict.reply})" if verdict.reply else ""
        print(f"verdict: {verdict.action}{reply}: {verdict.reason}")
    return 0 if verdict.action == "accept" else 1
