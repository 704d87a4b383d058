"""MTA-STS (RFC 8461): records, policies, MX matching, cache decisions and what a policy allows.

Theory of operation
-------------------
A domain that publishes MTA-STS has a TXT record ``_mta-sts.<domain>`` (``v=STSv1; id=...;``,
section 3.1) and a policy file at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``
(section 3.2). Fetching is ``postoffice.mta.mta_sts``'s job; everything here is pure:

* :func:`select_txt` picks the one ``v=STSv1`` record among a name's TXT records and returns its
  ``id`` (None without one); several or a malformed one raise :class:`PolicyError`: "no
  policy" as well.
* :func:`parse_policy` reads a policy file (CRLF or LF lines, unknown keys ignored) into a
  :class:`Policy`, or raises :class:`PolicyError` naming what is wrong.
* :func:`mx_matches`: an ``mx`` pattern against an MX host name (``*.example.com`` matches
  exactly one more label; case and trailing dots do not matter).
* :func:`cache_decision` (section 5.1 and 3.3): a cached policy that has not expired is used
  when the TXT record cannot be had (lookup failed, gone, malformed) or still has the cached
  ``id``; a new ``id``, an expired policy or one older than ``refresh_after`` is fetched again;
  :func:`after_failed_fetch` keeps an unexpired cached policy when that fetch fails.
* :func:`apply`: which MX hosts may be used, and how (:class:`Decision`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = [
    "MAX_AGE_LIMIT",
    "NO_MATCH_STATUS",
    "REFRESH_AFTER",
    "CacheAction",
    "CachedPolicy",
    "Decision",
    "Mode",
    "Policy",
    "PolicyError",
    "after_failed_fetch",
    "apply",
    "cache_decision",
    "mx_matches",
    "parse_policy",
    "parse_txt",
    "select_txt",
]

MAX_AGE_LIMIT = 31_557_600
"""The largest ``max_age`` (one year, RFC 8461 3.2)."""
REFRESH_AFTER = 86_400.0
"""Seconds after which a cached policy is fetched again even if its ``id`` is unchanged
(RFC 8461 3.3 suggests refreshing once a day, so that policies do not lapse)."""
NO_MATCH_STATUS = "4.7.5"
"""Enhanced status of a delivery held back because no MX host satisfies an enforced policy."""

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"
_TXT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_TXT_EXT = re.compile(rf"{_NAME}=[\x21-\x3a\x3c\x3e-\x7e]+")
_TXT_START = re.compile(r"v=STSv1[ \t]*;")
_LINE = re.compile(rf"({_NAME}):[ \t]*(.*?)[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


class PolicyError(ValueError):
    """A record or policy that cannot be used; the message says why."""


class Mode(StrEnum):
    """What the domain asks of senders."""

    ENFORCE = "enforce"
    """Deliver only to matching MX hosts, over verified TLS."""
    TESTING = "testing"
    """Deliver as usual; report what would have failed."""
    NONE = "none"
    """As if there were no policy (how a domain withdraws one)."""


@dataclass(frozen=True)
class Policy:
    """A parsed policy file."""

    mode: Mode
    mx: tuple[str, ...]
    """MX host patterns (lower case, no trailing dot), ``*.`` wildcards allowed."""
    max_age: int
    """Seconds the policy may be cached."""

    def matches(self, host: str) -> bool:
        """True when ``host`` matches one of the ``mx`` patterns."""
        return any(mx_matches(pattern, host) for pattern in self.mx)

    def to_text(self) -> str:
        """The policy as a file (what the persistent cache stores)."""
        lines = ["version: STSv1", f"mode: {self.mode}"]
        lines += [f"mx: {pattern}" for pattern in self.mx]
        lines.append(f"max_age: {self.max_age}")
        return "".join(line + "\r\n" for line in lines)


# --------------------------------------------------------------------------- TXT record


def parse_txt(text: str) -> str:
    """The ``id`` of an ``_mta-sts`` TXT record (RFC 8461 3.1 grammar; extensions allowed)."""
    if not text.startswith("v=STSv1"):
        raise PolicyError(f"TXT record does not start with v=STSv1: {text!r}")
    head, *fields = text[len("v=STSv1") :].split(";")
    if head.strip(" \t") or not fields:
        raise PolicyError(f"TXT record: expected 'v=STSv1;' at the start of {text!r}")
    if not fields[-1].strip(" \t"):
        fields.pop()  # the optional final ';'
    found: str | None = None
    for field in (f.strip(" \t") for f in fields):
        if field.startswith("id="):
            if found is not None:
                raise PolicyError(f"TXT record: id given twice in {text!r}")
            if not _TXT_ID.fullmatch(field[3:]):
                raise PolicyError(f"TXT record: bad id {field[3:]!r} (1-32 letters or digits)")
            found = field[3:]
        elif not _TXT_EXT.fullmatch(field):
            raise PolicyError(f"TXT record: malformed field {field!r}")
    if found is None:
        raise PolicyError(f"TXT record without id: {text!r}")
    return found


def select_txt(texts: Sequence[str]) -> str | None:
    """The ``id`` of the one ``v=STSv1`` record among ``texts`` (other records are discarded
    first); None without one. Several, or a malformed one, raise :class:`PolicyError`: both
    mean "no policy" too (RFC 8461 3.1)."""
    records = [t for t in texts if _TXT_START.match(t)]
    if not records:
        return None
    if len(records) > 1:
        raise PolicyError(f"{len(records)} v=STSv1 TXT records (exactly one is allowed)")
    return parse_txt(records[0])


# --------------------------------------------------------------------------- policy file


def _pattern(value: str) -> str:
    """An ``mx`` value in normal form: lower case, no trailing dot, ``*.`` only leftmost."""
    pattern = value.lower().removesuffix(".")
    rest = pattern[2:] if pattern.startswith("*.") else pattern
    labels = rest.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise PolicyError(f"mx: {value!r} is not a host name or *.domain pattern")
    return pattern


def parse_policy(body: bytes | str) -> Policy:
    """A policy file (RFC 8461 3.2) as a :class:`Policy`; :class:`PolicyError` says what is
    wrong. Blank lines and trailing spaces are tolerated; unknown keys are ignored."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"policy is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    single: dict[str, str] = {}
    mx: list[str] = []
    for number, raw in enumerate(body.split("\n"), 1):
        line = raw.removesuffix("\r")
        if not line.strip(" \t"):
            continue
        if _CONTROL.search(line):
            raise PolicyError(f"line {number}: control character in {line!r}")
        match = _LINE.fullmatch(line)
        if match is None:
            raise PolicyError(f"line {number}: expected 'key: value', got {line!r}")
        key, value = match.groups()
        if key == "mx":
            mx.append(_pattern(value))
        elif key in ("version", "mode", "max_age"):
            if key in single:
                raise PolicyError(f"line {number}: {key} given twice")
            single[key] = value
    for key in ("version", "mode", "max_age"):
        if key not in single:
            raise PolicyError(f"policy has no {key}")
    if single["version"] != "STSv1":
        raise PolicyError(f"version: {single['version']!r} is not STSv1")
    try:
        mode = Mode(single["mode"])
    except ValueError:
        raise PolicyError(f"mode: {single['mode']!r} is not enforce, testing or none") from None
    age = single["max_age"]
    if not (age.isascii() and age.isdigit() and len(age) <= 10) or int(age) > MAX_AGE_LIMIT:
        raise PolicyError(f"max_age: {age!r} is not a number of seconds 0..{MAX_AGE_LIMIT}")
    if not mx and mode is not Mode.NONE:
        raise PolicyError(f"mode {mode} needs at least one mx pattern")
    return Policy(mode, tuple(dict.fromkeys(mx)), int(age))


def mx_matches(pattern: str, host: str) -> bool:
    """True when MX ``host`` matches ``pattern`` (RFC 8461 4.1): equal, or ``*.rest`` with one
    label in place of the ``*``. Case-insensitive; trailing dots ignored."""
    pattern = pattern.lower().removesuffix(".")
    host = host.lower().removesuffix(".")
    if not pattern or not host:
        return False
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and label != "*" and rest == pattern[2:]
    return "*" not in pattern and host == pattern


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class CachedPolicy:
    """A policy as fetched: with the TXT ``id`` it was fetched for and when."""

    policy: Policy
    id: str
    fetched_at: float
    expires_at: float

    @classmethod
    def fetched(cls, policy: Policy, id: str, now: float) -> CachedPolicy:
        """A policy fetched at ``now``: valid for its ``max_age``."""
        return cls(policy, id, now, now + policy.max_age)

    def valid(self, now: float) -> bool:
        """True until ``max_age`` seconds after the fetch."""
        return now < self.expires_at


class CacheAction(StrEnum):
    """What to do before delivering to a domain."""

    USE_CACHED = "use cached"
    REFETCH = "refetch"
    NO_POLICY = "no policy"


def cache_decision(
    cached: CachedPolicy | None,
    txt_id: str | None,
    now: float,
    refresh_after: float = REFRESH_AFTER,
) -> CacheAction:
    """``txt_id``: the id of the domain's TXT record now, None when there is no usable one (the
    lookup failed, the record is gone or malformed): then only an unexpired cached policy
    counts (RFC 8461 3.3, 8.3). A record is fetched when its id is new to us, or the cached
    policy has expired or is older than ``refresh_after``."""
    valid = cached is not None and cached.valid(now)
    if txt_id is None:
        return CacheAction.USE_CACHED if valid else CacheAction.NO_POLICY
    if valid and cached is not None and cached.id == txt_id:
        if now - cached.fetched_at < refresh_after:
            return CacheAction.USE_CACHED
    return CacheAction.REFETCH


def after_failed_fetch(cached: CachedPolicy | None, now: float) -> CachedPolicy | None:
    """What applies when a fetch failed: the cached policy while it has not expired, else none
    (RFC 8461 3.3: deliver as if the domain had no policy)."""
    return cached if cached is not None and cached.valid(now) else None


# --------------------------------------------------------------------------- applying


@dataclass(frozen=True)
class Decision:
    """What a policy allows for one delivery."""

    mode: Mode | None
    """The policy's mode; None without a policy."""
    hosts: tuple[str, ...]
    """The MX hosts delivery may use, in the order given."""
    tls: Literal["verify"] | None
    """``"verify"``: STARTTLS required and the certificate verified against the MX host name;
    None: the usual TLS settings apply."""
    mismatched: tuple[str, ...] = ()
    """MX hosts no ``mx`` pattern matches: not used (enforce), or what would fail (testing)."""
    patterns: tuple[str, ...] = ()
    """The policy's ``mx`` patterns (for messages)."""

    @property
    def blocked(self) -> bool:
        """True when an enforced policy leaves no host: delivery must not proceed (retry later)."""
        return self.mode is Mode.ENFORCE and not self.hosts

    @property
    def reason(self) -> str:
        """Why hosts were dropped or would fail ("" when all match)."""
        if not self.mismatched:
            return ""
        what = "not allowed" if self.mode is Mode.ENFORCE else "would fail (testing)"
        return (f"MTA-STS: MX {', '.join(self.mismatched)} {what}: policy allows "
                f"{', '.join(self.patterns)}")


def apply(policy: Policy | None, mx_hosts: Sequence[str]) -> Decision:
    """Which of ``mx_hosts`` may be used under ``policy`` (RFC 8461 5): enforce keeps the
    matching ones and requires verified TLS; testing keeps all and lists those that would
    fail; none, or no policy, changes nothing."""
    hosts = tuple(mx_hosts)
    if policy is None or policy.mode is Mode.NONE:
        return Decision(policy.mode if policy else None, hosts, None)
    mismatched = tuple(h for h in hosts if not policy.matches(h))
    if policy.mode is Mode.TESTING:
        return Decision(policy.mode, hosts, None, mismatched, policy.mx)
    allowed = tuple(h for h in hosts if policy.matches(h))
    return Decision(policy.mode, allowed, "verify", mismatched, policy.mx)
