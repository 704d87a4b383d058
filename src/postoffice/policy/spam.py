"""The spam score of an incoming message, from what the MX knows about it: the authentication
results, the client (iprev, DNSBL listings, HELO) and the message's header section with a bounded
prefix of its body. Each rule that matches adds its weight; docs/spam-filtering.md has the table,
the thresholds and how Rspamd's score adds to ours.

Weights are on SpamAssassin's scale (Junk from 5, reject from 15): no single sign of a mistake a
legitimate sender can make (a broken SPF record, a forwarder, a missing Message-ID) reaches 5 on
its own; two or three together do. Unknown or temporary results ("", "temperror") score nothing.

Pure: nothing here raises on malformed input; a part that cannot be parsed matches no rule."""

from __future__ import annotations

import email.errors
import email.header
import email.message
import email.parser
import email.policy
import email.utils
import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from postoffice.policy.inbound import Action

T = TypeVar("T")
SpamVerdict = Literal["accept", "junk", "reject"]
MANY_URLS = 25

# name: (weight, reason). DNSBL_<ZONE> rules take their weight from [inbound] dnsbl.
RULES: dict[str, tuple[float, str]] = {
    "SPF_FAIL": (3.5, "SPF fail: the sender's domain says this IP may not send its mail"),
    "SPF_SOFTFAIL": (1.5, "SPF softfail: the sender's domain doubts this IP"),
    "DKIM_FAIL": (2.0, "a DKIM signature did not verify, and none passed"),
    "NO_DKIM": (0.5, "no DKIM signature"),
    "DKIM_ALIGNED_PASS": (-1.0, "a DKIM signature by the author's domain verified"),
    "DMARC_FAIL": (2.5, "DMARC fail under the author domain's policy none"),
    "DMARC_PASS": (-1.0, "DMARC pass"),
    "ARC_FAIL": (1.0, "the ARC chain is broken"),
    "IPREV_FAIL": (1.5, "the client IP has no forward-confirmed reverse DNS name"),
    "HELO_IS_OURS": (5.0, "HELO claims to be this server"),
    "HELO_IP_LITERAL_MISMATCH": (2.0, "HELO is an IP address other than the client's"),
    "HELO_NOT_FQDN": (1.0, "HELO is not a fully qualified domain name"),
    "MISSING_DATE": (1.0, "no Date field"),
    "MISSING_MESSAGE_ID": (1.0, "no Message-ID field"),
    "FROM_DISPLAY_NAME_ADDRESS_MISMATCH": (
        2.5, "the From display name shows another address or domain than the From address"),
    "FROM_LOOKALIKE_DOMAIN": (
        3.0, "the From domain mixes scripts in one label (a homograph: Cyrillic a in paypal)"),
    "SUBJECT_ALL_CAPS": (1.0, "the Subject is in capitals only"),
    "HTML_ONLY": (0.5, "the text is HTML without a plain text alternative"),
    "MANY_URLS": (0.5, f"more than {MANY_URLS} distinct URLs"),
    "URL_SHORTENER": (1.5, "a link through a URL shortener hides its destination"),
}
SHORTENERS = frozenset({
    "bit.ly", "tinyurl.com", "is.gd", "v.gd", "ow.ly", "cutt.ly", "rb.gy", "shorturl.at",
    "tiny.cc", "rebrand.ly", "t.ly", "s.id", "goo.gl", "bl.ink", "shorte.st", "adf.ly",
})
"""Public shorteners anyone can use; t.co is left out (Twitter's own notifications use it)."""
_BARE_DOMAIN_TLDS = frozenset({
    "com", "net", "org", "info", "biz", "io", "co", "us", "uk", "de", "fr", "it", "es", "nl",
    "ru", "cn", "jp", "br", "in", "au", "ca", "eu", "ch", "online", "site", "xyz", "top", "shop",
    "app",
})
"""A domain-like word in a display name counts only with one of these TLDs, so that "J.Smith"
is not taken for a domain; an address (x@y) counts whatever its TLD."""

_ADDRESS = re.compile(r"[\w.+-]+@((?:[\w-]+\.)+[\w-]+)")
_DOMAIN = re.compile(r"(?<![\w.@-])((?:[a-z0-9-]+\.)+([a-z]{2,}))(?![\w-])", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s\"'<>()\[\]{}\\]+", re.IGNORECASE)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?", re.IGNORECASE)


Rule = tuple[str, float, str]


@dataclass(frozen=True)
class SpamReport:
    score: float
    rules: tuple[Rule, ...]
    """(name, weight, reason) of each rule that matched, in table order."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self.rules)

    def plus(self, name: str, weight: float, reason: str) -> SpamReport:
        """The report with one more rule (Rspamd's score, say)."""
        return _report(self.rules + ((name, weight, reason),))


@dataclass(frozen=True)
class Evidence:
    """What the MX knows about a message. Result words are spelled as in Authentication-Results;
    "" means not checked."""

    client_ip: str
    helo: str
    header: bytes
    """The header section as received."""
    body: bytes = b""
    """A bounded prefix of the body."""
    spf: str = ""
    dkim: tuple[str, ...] = ()
    """One result per DKIM signature (pass, fail, permerror, ...)."""
    dkim_aligned_pass: bool = False
    """A passing signature's d= is aligned with the author's domain (as DMARC judges it)."""
    dmarc: str = ""
    dmarc_disposition: str = "none"
    """What the author domain's DMARC policy asks for this message: none, quarantine, reject."""
    arc: str = ""
    iprev: str = ""
    dnsbl: Mapping[str, float] = field(default_factory=dict)
    """The DNSBL zones that list the client, with the weight each adds."""
    our_names: tuple[str, ...] = ()
    """This server's host names (HELO_IS_OURS)."""


def score(evidence: Evidence) -> SpamReport:
    names = [*_auth_rules(evidence), *_helo_rules(evidence), *_content_rules(evidence)]
    rules = [(name, *RULES[name]) for name in RULES if name in names]
    rules += [(dnsbl_rule(zone), weight, f"the client IP is listed on {zone}")
              for zone, weight in evidence.dnsbl.items()]
    return _report(tuple(rules))


def verdict_for(report: SpamReport, junk_score: float, reject_score: float) -> SpamVerdict:
    if report.score >= reject_score:
        return "reject"
    if report.score >= junk_score:
        return "junk"
    return "accept"


def combined(auth: Action, spam: SpamVerdict) -> Action:
    """The authentication verdict (`policy.inbound.decide`) with the spam verdict: the stronger
    stands, reject over Junk over accept; a temporary failure over all (the retry is checked
    again, with every result)."""
    rank = ("accept", "junk", "reject", "tempfail")
    return auth if rank.index(auth) >= rank.index(spam) else spam


def header_fields(report: SpamReport, *, junk_score: float, junk: bool | None = None) -> bytes:
    """X-Spam-Score, X-Spam-Status (SpamAssassin's shape) and, for Junk, X-Spam-Flag: YES.
    `junk` defaults to the score reaching `junk_score`; the caller sets it when another rule
    (a DMARC quarantine policy) files the message in Junk."""
    is_junk = report.score >= junk_score if junk is None else junk
    tests = ",".join(sorted(report.names)) or "none"
    status = f"{'Yes' if is_junk else 'No'}, score={report.score:.1f} required={junk_score:.1f}"
    fields = f"X-Spam-Score: {report.score:.1f}\r\n" + _fold(f"X-Spam-Status: {status} tests={tests}")
    if is_junk:
        fields += "X-Spam-Flag: YES\r\n"
    return fields.encode("ascii")


def dnsbl_rule(zone: str) -> str:
    """DNSBL_ZEN_SPAMHAUS_ORG for zen.spamhaus.org."""
    return "DNSBL_" + re.sub(r"[^A-Z0-9]+", "_", zone.strip(".").upper())


def _report(rules: tuple[Rule, ...]) -> SpamReport:
    return SpamReport(round(sum(weight for _, weight, _ in rules), 3), rules)


def _fold(line: str, width: int = 78) -> str:
    """One field, folded after commas so that lines stay under `width` where they can."""
    out, current = [], ""
    for piece in re.findall(r"[^,]*,?", line):
        if current and len(current) + len(piece) > width:
            out.append(current)
            current = "\t"
        current += piece
    out.append(current)
    return "\r\n".join(out) + "\r\n"


# ----------------------------------------------------------------------------- authentication

def _auth_rules(e: Evidence) -> Iterator[str]:
    if e.spf == "fail":
        yield "SPF_FAIL"
    elif e.spf == "softfail":
        yield "SPF_SOFTFAIL"
    if not e.dkim or all(r == "none" for r in e.dkim):
        yield "NO_DKIM"
    elif "pass" not in e.dkim and any(r in ("fail", "permerror") for r in e.dkim):
        yield "DKIM_FAIL"
    if e.dkim_aligned_pass and "pass" in e.dkim:
        yield "DKIM_ALIGNED_PASS"
    if e.dmarc == "pass":
        yield "DMARC_PASS"
    elif e.dmarc == "fail" and e.dmarc_disposition == "none":
        yield "DMARC_FAIL"
    if e.arc == "fail":
        yield "ARC_FAIL"
    if e.iprev in ("fail", "permerror"):
        yield "IPREV_FAIL"


# ----------------------------------------------------------------------------- HELO

def _helo_rules(e: Evidence) -> Iterator[str]:
    helo = e.helo.strip().rstrip(".").lower()
    if helo and helo in {n.strip().rstrip(".").lower() for n in e.our_names}:
        yield "HELO_IS_OURS"
    literal = _address_literal(helo)
    if literal is not None:
        if literal != _ip(e.client_ip):
            yield "HELO_IP_LITERAL_MISMATCH"
        if not helo.startswith("["):
            yield "HELO_NOT_FQDN"  # a bare address is not a name, nor a proper literal
    elif not _is_fqdn(helo):
        yield "HELO_NOT_FQDN"


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address_literal(helo: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of "[192.0.2.1]", "[IPv6:2001:db8::1]" or a bare address, else None."""
    inner = helo[1:-1] if helo.startswith("[") and helo.endswith("]") else helo
    if inner.startswith("ipv6:"):
        inner = inner[5:]
    return _ip(inner)


def _is_fqdn(name: str) -> bool:
    labels = name.split(".")
    return (len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())


# ----------------------------------------------------------------------------- content

def _content_rules(e: Evidence) -> Iterator[str]:
    message = _parse(e.header, e.body)
    if message is None:
        return
    urls = _safely(_urls, message) or set()
    checks: dict[str, Callable[[email.message.Message], object]] = {
        "MISSING_DATE": lambda m: m.get("Date") is None,
        "MISSING_MESSAGE_ID": lambda m: m.get("Message-ID") is None,
        "FROM_DISPLAY_NAME_ADDRESS_MISMATCH": _display_name_mismatch,
        "FROM_LOOKALIKE_DOMAIN": _lookalike_from,
        "SUBJECT_ALL_CAPS": lambda m: _all_caps(_decoded(m.get("Subject", ""))),
        "HTML_ONLY": _html_only,
        "MANY_URLS": lambda m: len(urls) > MANY_URLS,
        "URL_SHORTENER": lambda m: any(_host(url) in SHORTENERS for url in urls),
    }
    yield from (name for name, check in checks.items() if _safely(check, message))


def _safely(check: Callable[[email.message.Message], T], message: email.message.Message) -> T | None:
    """The check's answer, or None when the stdlib chokes on a malformed part: a rule that
    cannot be evaluated does not match."""
    try:
        return check(message)
    except Exception:
        return None


def _parse(header: bytes, body: bytes) -> email.message.Message | None:
    if header.endswith((b"\r\n\r\n", b"\n\n")):
        section = header
    else:
        section = header + (b"\r\n" if header.endswith(b"\n") else b"\r\n\r\n")
    try:
        return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(section + body)
    except Exception:  # the stdlib parser is lenient; this is a last guard
        return None


def _decoded(value: object) -> str:
    """A header value with RFC 2047 encoded words decoded (as is when they are broken)."""
    text = str(value)
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return text


def _all_caps(subject: str) -> bool:
    cased = [c for c in subject if c.isupper() or c.islower()]
    return len(cased) >= 10 and len(subject.split()) >= 2 and all(c.isupper() for c in cased)


def _display_name_mismatch(message: email.message.Message) -> bool:
    value = message.get("From")
    if value is None:
        return False
    pairs = email.utils.getaddresses([str(value)])
    if not pairs:
        return False
    name, address = pairs[0]
    actual = address.rpartition("@")[2].lower().rstrip(".")
    if not actual:
        return False
    name = _decoded(name)
    shown = [m.group(1) for m in _ADDRESS.finditer(name)]
    if not shown:
        without = _ADDRESS.sub(" ", name)
        shown = [m.group(1) for m in _DOMAIN.finditer(without)
                 if m.group(2).lower() in _BARE_DOMAIN_TLDS]
    return any(not _same_site(domain.lower().rstrip("."), actual) for domain in shown)


def _lookalike_from(message: email.message.Message) -> bool:
    value = message.get("From")
    if value is None:
        return False
    pairs = email.utils.getaddresses([_utf8_text(value)])
    domain = pairs[0][1].rpartition("@")[2] if pairs else ""
    return any(len(_scripts(_unicode_label(label))) > 1 for label in domain.split("."))


def _utf8_text(value: object) -> str:
    """A header value as text; raw 8-bit bytes (SMTPUTF8 mail) read as UTF-8."""
    if isinstance(value, email.header.Header):
        parts = email.header.decode_header(value)
        return "".join(
            part.decode(charset if charset and charset != "unknown-8bit" else "utf-8", "replace")
            if isinstance(part, bytes) else part
            for part, charset in parts)
    return _decoded(value)


def _unicode_label(label: str) -> str:
    if label.lower().startswith("xn--"):
        try:
            return label.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            return label
    return label


def _scripts(label: str) -> set[str]:
    """The scripts of a label's letters (LATIN, CYRILLIC, GREEK, ...), from Unicode names."""
    return {unicodedata.name(ch, "UNKNOWN").split(" ")[0] for ch in label if ch.isalpha()}


def _same_site(a: str, b: str) -> bool:
    """Equal, or sharing their last two labels (mail.example.com and example.com). Without the
    public suffix list this errs towards "same" (a.co.uk and b.co.uk), never towards a match."""
    return a == b or a.split(".")[-2:] == b.split(".")[-2:]


def _body_part(message: email.message.Message) -> email.message.Message:
    """The part a reader sees as the text: the root of multipart/mixed or related, else the
    message itself."""
    part = message
    for _ in range(5):
        if part.get_content_type() not in ("multipart/mixed", "multipart/related"):
            break
        children = part.get_payload()
        if not isinstance(children, list) or not children:
            break
        first = children[0]
        if not isinstance(first, email.message.Message):
            break
        part = first
    return part


def _html_only(message: email.message.Message) -> bool:
    part = _body_part(message)
    kind = part.get_content_type()
    if kind == "text/html":
        return True
    if kind != "multipart/alternative":
        return False
    children = part.get_payload()
    if not isinstance(children, list):
        return False
    kinds = {c.get_content_type() for c in children if isinstance(c, email.message.Message)}
    return "text/plain" not in kinds


def _urls(message: email.message.Message) -> set[str]:
    urls: set[str] = set()
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        urls.update(m.group(0).rstrip(".,;:!?") for m in _URL.finditer(_text(part)))
    return urls


def _text(part: email.message.Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: the raw text is all we have
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, UnicodeError):
        return payload.decode("utf-8", "replace")


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    host = host.split(":", 1)[0].lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host
