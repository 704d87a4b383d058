"""The MX's checks on mail from the outside: SPF from MAIL FROM on (it runs while the client
sends RCPT and DATA), then at the end of DATA DKIM, ARC and DMARC on the content, the verdict
(`policy.inbound`: accept, Junk, reject, try again) and the header fields that record it
(Authentication-Results, Received-SPF, X-Spam-* for Junk), which go on top of the message.

The evaluators are the pure flows of `auth/`, run here on the shared resolver, each within
`[inbound] check_timeout` (DKIM and ARC at the same time); running out of time is a temporary
DNS failure, which never passes and never rejects for good. Sessions that authenticated,
trusted relay clients and `[inbound] skip_networks` (local programs) are not checked."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from postoffice.auth import arc, bimi, dkim, dmarc, dnsbl
from postoffice.auth.dns import Flow
from postoffice.auth.dnsbl import DnsblResult
from postoffice.auth.iprev import IprevResult, iprev
from postoffice.auth.results import (
    AuthenticationResults,
    MethodResult,
    Property,
    remove_own_results,
)
from postoffice.auth.spf import SpfResult, SpfVerdict, check_mail_from, received_spf_header
from postoffice.clock import Clock
from postoffice.config import InboundSettings
from postoffice.pipeline import rspamd
from postoffice.pipeline.session import SessionInfo, Transaction, from_outside
from postoffice.policy import spam
from postoffice.policy.inbound import Verdict, decide

log = logging.getLogger("postoffice.inbound")
BODY_PREFIX = 64 * 1024
"""How much of the header section and of the body the content rules look at."""
T = TypeVar("T")
Runner = Callable[[Flow[Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ClientChecks:
    iprev: IprevResult | None
    """None when the lookups took too long."""
    dnsbl: tuple[DnsblResult, ...]


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    header: bytes
    """The fields to put on top of the stored message."""
    authres: str = ""
    """The Authentication-Results value (authserv-id first), for sealing forwarded copies."""
    chain: arc.ArcResult | None = None
    """What ARC validation found (None: it timed out), for sealing forwarded copies."""
    spam_score: float | None = None
    """The spam filter's score (Sieve's spamtest reads it)."""


class InboundChecks:
    def __init__(
        self, *, settings: InboundSettings, authserv_id: str, run: Runner, clock: Clock,
        fetch_logo: Callable[[str], Awaitable[bytes]] | None = None,
    ) -> None:
        self._settings = settings
        self._fetch_logo = fetch_logo
        """Fetches a BIMI Indicator (cached); None: no BIMI-Location is added."""
        self.authserv_id = authserv_id
        self._run = run
        self._clock = clock
        self._skip = [ipaddress.ip_network(n, strict=False) for n in settings.skip_networks]
        self._running: set[asyncio.Task[Any]] = set()
        """SPF checks in flight (a task needs a reference until it ends)."""

    def applies(self, session: SessionInfo) -> bool:
        return self._settings.checks and from_outside(session, self._skip)

    def connected(self, session: SessionInfo) -> None:
        """At connect: the client's FCrDNS and blocklist listings, awaited at end of DATA."""
        if self.applies(session):
            session.client_checks = self._spawn(self._client_checks(session.client_ip))

    def start(self, session: SessionInfo, txn: Transaction) -> None:
        """At MAIL FROM: start SPF, to be awaited at the end of DATA."""
        if self.applies(session):
            flow = check_mail_from(session.client_ip, txn.mail_from, session.helo,
                                   receiver=self.authserv_id, now=self._clock.now())
            txn.spf = self._spawn(self._timed(flow))

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def _client_checks(self, client_ip: str) -> ClientChecks:
        try:
            ip = ipaddress.ip_address(client_ip)
        except ValueError:
            return ClientChecks(None, ())
        rev = await self._timed(iprev(ip))
        zones = list(self._settings.dnsbl)
        listed = await self._timed(dnsbl.check(ip, zones)) if zones else ()
        return ClientChecks(rev, listed or ())

    async def client(self, session: SessionInfo) -> ClientChecks:
        """The connect-time results (none for sessions that are not checked)."""
        task = session.client_checks
        if task is None:
            return ClientChecks(None, ())
        result: ClientChecks = await task
        return result

    def rewrite_head(self, section: bytes) -> bytes:
        """The incoming header section without results that claim to be ours (RFC 8601 5)
        and without the BIMI fields only a receiver may add."""
        return bimi.remove_receiver_fields(remove_own_results(section, self.authserv_id))

    async def judge(self, session: SessionInfo, txn: Transaction, content: bytes) -> Judgement:
        spf = await self._spf(session, txn)
        now = int(self._clock.now())
        signatures, chain = await asyncio.gather(  # independent lookups: at the same time
            self._timed(dkim.verify(content, now=now)), self._timed(arc.validate(content, now=now)))
        author = dmarc.author_domain(content)
        dmarc_result = None
        if isinstance(author, dmarc.AuthorDomain):
            dmarc_result = await self._timed(dmarc.evaluate(
                author.domain, dmarc.SpfCheck.for_envelope(str(spf.result), txn.mail_from, session.helo),
                [dmarc.DkimCheck(str(r.status), r.domain) for r in signatures or ()]))
        author_domain = author.domain if isinstance(author, dmarc.AuthorDomain) else None
        verdict = decide(
            from_problem=None if author_domain else str(author),
            dmarc=_word(dmarc_result.result) if dmarc_result else (
                "temperror" if author_domain else "none"),
            disposition=str(dmarc_result.disposition) if dmarc_result else "none",
            temperror=any_temperror(spf, signatures),
            reject_as_junk=self._settings.dmarc_reject == "quarantine",
        )
        client = await self.client(session)
        methods = []
        if client.iprev is not None:
            methods.append(MethodResult("iprev", client.iprev.result, comment=client.iprev.name,
                                        properties=(Property("policy", "iprev", session.client_ip),)))
        methods.append(spf_method(spf))
        if signatures is None:
            methods.append(MethodResult("dkim", "temperror", reason="DNS lookups timed out"))
        else:
            methods += [dkim_method(r) for r in signatures] or [MethodResult("dkim", "none")]
        if chain is not None:
            methods.append(MethodResult("arc", str(chain.status), reason=chain.reason or None))
        if dmarc_result is not None:
            methods.append(dmarc_result.method_result())
        location = b""
        if dmarc_result is not None and author_domain is not None:
            indicator = await self._bimi(author_domain, dmarc_result)
            if indicator is not None:
                methods.append(indicator.method_result())
                location = indicator.location_field() or b""
        end = content.find(b"\r\n\r\n")
        head, body = (content, b"") if end < 0 else (content[: end + 2], content[end + 4 :])
        report = spam.score(spam.Evidence(
            client_ip=session.client_ip, helo=session.helo,
            header=head[:BODY_PREFIX], body=body[:BODY_PREFIX],
            spf=str(spf.result),
            dkim=tuple(str(r.status) for r in signatures or ()),
            dkim_aligned_pass=author_domain is not None and any(
                r.passed and dmarc.aligned(author_domain, r.domain, dmarc.Alignment.RELAXED)
                for r in signatures or ()),
            dmarc=_word(dmarc_result.result) if dmarc_result else "",
            dmarc_disposition=str(dmarc_result.disposition) if dmarc_result else "none",
            arc=str(chain.status) if chain is not None else "",
            iprev=client.iprev.result if client.iprev is not None else "",
            dnsbl={r.zone: self._settings.dnsbl.get(r.zone, 0.0) for r in client.dnsbl if r.listed},
            our_names=(self.authserv_id,),
        ))
        if self._settings.rspamd_url:
            report = await self._rspamd(report, session, txn, content)
        s = self._settings
        action = spam.combined(verdict.action, spam.verdict_for(report, s.junk_score, s.reject_score))
        if action != verdict.action:
            reply = (f"550 5.7.1 Message refused as spam (score {report.score:.1f})"
                     if action == "reject" else "")
            verdict = Verdict(action, reply, f"spam score {report.score:.1f}")
        results = AuthenticationResults(self.authserv_id, tuple(methods))
        header = results.render()
        header += received_spf_header(spf, receiver=self.authserv_id)
        if action == "accept":
            header += location  # a brand logo only on mail that reaches the Inbox
        header += spam.header_fields(report, junk_score=s.junk_score, junk=action == "junk")
        log.info("checked client=%s from=<%s> spf=%s dkim=%s dmarc=%s score=%.1f verdict=%s (%s)",
                 session.client_ip, txn.mail_from, spf.result,
                 ",".join(str(r.status) for r in signatures or ()) or "none",
                 _word(dmarc_result.result) if dmarc_result else "none", report.score,
                 verdict.action, verdict.reason)
        return Judgement(verdict, header, results.value, chain, report.score)

    async def _bimi(self, author_domain: str, result: dmarc.DmarcResult) -> bimi.BimiResult | None:
        """BIMI for DMARC-passing mail: the record, then the Indicator fetched and checked."""
        if str(result.result) != "pass":
            return None
        found = await self._timed(bimi.evaluate(author_domain, result))
        if found is None or found.result is not bimi.BimiStatus.PASS:
            return found
        location = found.record.location if found.record else None
        if self._fetch_logo is None or not location:
            return None
        try:
            problems = bimi.check_svg(await self._fetch_logo(location))
        except Exception as exc:  # the fetcher's FetchError: any failure means no logo
            problems = [str(exc)]
        return found.indicator_checked(problems)

    async def _rspamd(self, report: spam.SpamReport, session: SessionInfo, txn: Transaction,
                      content: bytes) -> spam.SpamReport:
        """Rspamd's score added to ours; its trouble is logged and changes nothing."""
        try:
            result = await rspamd.check(
                self._settings.rspamd_url, content, ip=session.client_ip, helo=session.helo,
                mail_from=txn.mail_from, rcpts=[*txn.local, *(r.address for r in txn.relay)],
                timeout=self._settings.check_timeout)
        except rspamd.RspamdError as exc:
            log.warning("rspamd gave no answer: %s", exc)
            return report
        return report.plus("RSPAMD", result.score, f"Rspamd: {result.action}")

    async def _spf(self, session: SessionInfo, txn: Transaction) -> SpfResult:
        result = await txn.spf if txn.spf is not None else None
        if isinstance(result, SpfResult):
            return result
        return SpfResult(result=SpfVerdict.TEMPERROR, domain=txn.mail_from.rpartition("@")[2]
                         or session.helo, ip=ipaddress.ip_address(session.client_ip),
                         sender=txn.mail_from,
                         helo=session.helo, problem="DNS lookups timed out")

    async def _timed(self, flow: Flow[T]) -> T | None:
        """The flow's result, or None when its lookups took longer than the budget."""
        try:
            result: T = await asyncio.wait_for(self._run(flow), self._settings.check_timeout)
            return result
        except TimeoutError:
            return None


def any_temperror(spf: SpfResult, signatures: list[dkim.DkimResult] | None) -> bool:
    """Whether SPF or DKIM failed for DNS reasons (None: the DKIM lookups timed out)."""
    return (str(spf.result) == "temperror" or signatures is None
            or any(str(r.status) == "temperror" for r in signatures))


def _word(result: object) -> str:
    return str(result)


def spf_method(result: SpfResult) -> MethodResult:
    """The spf= entry of Authentication-Results."""
    if result.identity == "helo":
        prop = Property("smtp", "helo", result.helo or result.domain)
    else:
        prop = Property("smtp", "mailfrom", result.sender)
    return MethodResult("spf", str(result.result), properties=(prop,))


def dkim_method(result: dkim.DkimResult) -> MethodResult:
    """The dkim= entry of Authentication-Results for one signature."""
    if not result.domain:
        return MethodResult("dkim", str(result.status), reason=result.reason or None)
    return MethodResult("dkim", str(result.status), reason=result.reason or None, properties=(
        Property("header", "d", result.domain), Property("header", "s", result.selector),
        Property("header", "b", result.header_b)))
