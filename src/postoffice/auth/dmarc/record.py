"""DMARC policy records (RFC 7489 6.3, 6.4): ``v=DMARC1; p=reject; rua=mailto:d@example.org``.

A record is a tag list (:mod:`postoffice.auth.taglist`) whose first tag is ``v=DMARC1`` (the
value compared exactly). Tag names and keywords compare case-insensitively (quoted strings in
the RFC's ABNF). Unknown tags are ignored, so DMARCbis's ``psd=`` and ``t=`` pass unnoticed;
its ``np=`` (also RFC 9091) is read.

Errors come in two weights:

* Fatal (:class:`DmarcRecordError`): not a tag list, not ``v=DMARC1`` first, or no usable
  ``p=``. A missing or invalid ``p=`` (or an invalid ``sp=``) is fatal unless ``rua=`` names at
  least one valid URI: then the record is read as ``p=none`` (RFC 7489 6.6.3 step 6), so that the
  domain still gets its reports.
* Ignored: any other tag with a bad value keeps its default (RFC 7489 6.3: "syntax errors in the
  remainder of the record SHOULD be discarded in favor of default values"); each is listed in
  :attr:`DmarcRecord.problems` for diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from postoffice.auth.taglist import TagListError, parse_tags

__all__ = [
    "Alignment",
    "DmarcRecord",
    "DmarcRecordError",
    "Policy",
    "RecordFault",
    "ReportUri",
    "is_dmarc_record",
    "parse_record",
]

_VERSION = re.compile(r"[ \t\r\n]*[vV][ \t\r\n]*=[ \t\r\n]*DMARC1[ \t\r\n]*(;|\Z)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s,!]+\Z")
_SIZE = re.compile(r"(.*)!([0-9]+)([kmgtKMGT]?)\Z", re.DOTALL)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_FAILURE_OPTIONS = ("0", "1", "d", "s")
_REPORT_FORMATS = ("afrf",)


class Policy(StrEnum):
    """A Requested Mail Receiver policy (``p=``, ``sp=``, ``np=``) and a disposition."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Alignment(StrEnum):
    """Identifier alignment mode (``adkim=``, ``aspf=``)."""

    RELAXED = "r"
    """Same Organizational Domain."""
    STRICT = "s"
    """Exactly the same domain."""


class RecordFault(StrEnum):
    """Why a text is not a usable DMARC record."""

    EMPTY = "empty"
    NOT_DMARC = "not-dmarc"
    """Does not start with ``v=DMARC1``."""
    SYNTAX = "syntax"
    """Not a tag list."""
    MISSING_POLICY = "missing-policy"
    """No ``p=`` (and no valid ``rua=`` to fall back on)."""
    BAD_POLICY = "bad-policy"
    """``p=`` or ``sp=`` has a value that is not a policy (and no valid ``rua=``)."""


class DmarcRecordError(ValueError):
    """The text is not a usable DMARC record; :attr:`fault` says why."""

    def __init__(self, fault: RecordFault, detail: str) -> None:
        super().__init__(detail)
        self.fault = fault


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One ``rua=``/``ruf=`` destination."""

    uri: str
    """The URI (``mailto:dmarc@example.org``); RFC 7489 only requires ``mailto:`` support."""
    max_size: int | None = None
    """The largest report the domain wants there, in bytes (``!10m``); None: no limit."""


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed DMARC record, defaults filled in."""

    policy: Policy
    """``p=``: for the domain the record is published for."""
    subdomain_policy: Policy | None = None
    """``sp=``: for its subdomains (None: ``p=`` applies)."""
    nonexistent_policy: Policy | None = None
    """``np=`` (RFC 9091, DMARCbis): for subdomains that do not exist (None: ``sp=``/``p=``)."""
    percent: int = 100
    """``pct=``: the share of failing mail the policy is applied to."""
    adkim: Alignment = Alignment.RELAXED
    """``adkim=``: DKIM alignment mode."""
    aspf: Alignment = Alignment.RELAXED
    """``aspf=``: SPF alignment mode."""
    rua: tuple[ReportUri, ...] = ()
    """``rua=``: where aggregate reports go."""
    ruf: tuple[ReportUri, ...] = ()
    """``ruf=``: where failure reports go."""
    failure_options: tuple[str, ...] = ("0",)
    """``fo=``: when failure reports are wanted (``0``, ``1``, ``d``, ``s``)."""
    report_formats: tuple[str, ...] = ("afrf",)
    """``rf=``: failure report formats."""
    interval: int = 86400
    """``ri=``: seconds between aggregate reports."""
    problems: tuple[str, ...] = ()
    """Tag values that were invalid and replaced by defaults (or the ``p=none`` fallback)."""


def is_dmarc_record(text: str) -> bool:
    """True if ``text`` starts with the tag ``v=DMARC1`` (how discovery picks records out of the
    TXT records at ``_dmarc.<domain>``, RFC 7489 6.6.3 step 2)."""
    return _VERSION.match(text) is not None


def parse_record(text: str) -> DmarcRecord:
    """The record ``text`` stands for; raises :class:`DmarcRecordError` when it stands for none."""
    if not text.strip():
        raise DmarcRecordError(RecordFault.EMPTY, "empty record")
    if not is_dmarc_record(text):
        raise DmarcRecordError(RecordFault.NOT_DMARC, "record does not start with v=DMARC1")
    try:
        tags = {name.lower(): value for name, value in parse_tags(text)}
    except TagListError as exc:
        raise DmarcRecordError(RecordFault.SYNTAX, str(exc)) from None
    problems: list[str] = []
    rua = _report_uris(tags, "rua", problems)
    ruf = _report_uris(tags, "ruf", problems)
    policy, p_error = _policy(tags, "p")
    sp, sp_error = _policy(tags, "sp")
    if policy is None or p_error or sp_error:
        missing = "p" not in tags
        what = "p= is missing" if missing else (p_error or sp_error)
        if not rua:
            fault = RecordFault.MISSING_POLICY if missing else RecordFault.BAD_POLICY
            raise DmarcRecordError(fault, what)
        problems.append(f"{what}: read as p=none because rua= is valid")
        policy, sp = Policy.NONE, None
    np, np_error = _policy(tags, "np")
    if np_error:
        problems.append(f"{np_error}: ignored")
    return DmarcRecord(
        policy=policy,
        subdomain_policy=sp,
        nonexistent_policy=np,
        percent=_number(tags, "pct", 100, 100, problems),
        adkim=_alignment(tags, "adkim", problems),
        aspf=_alignment(tags, "aspf", problems),
        rua=rua,
        ruf=ruf,
        failure_options=_keywords(tags, "fo", _FAILURE_OPTIONS, ("0",), problems),
        report_formats=_keywords(tags, "rf", _REPORT_FORMATS, ("afrf",), problems),
        interval=_number(tags, "ri", 86400, 2**32 - 1, problems),
        problems=tuple(problems),
    )


def _policy(tags: dict[str, str], name: str) -> tuple[Policy | None, str]:
    """The policy in tag ``name`` (None if absent or invalid) and the error ("" if none)."""
    if name not in tags:
        return None, ""
    try:
        return Policy(tags[name].lower()), ""
    except ValueError:
        return None, f"{name}={tags[name]} is not a policy"


def _alignment(tags: dict[str, str], name: str, problems: list[str]) -> Alignment:
    value = tags.get(name, "r").lower()
    if value in ("r", "s"):
        return Alignment(value)
    problems.append(f"{name}={tags[name]} is not r or s: relaxed used")
    return Alignment.RELAXED


def _number(tags: dict[str, str], name: str, default: int, top: int, problems: list[str]) -> int:
    value = tags.get(name)
    if value is None:
        return default
    if value.isascii() and value.isdigit() and int(value) <= top:
        return int(value)
    problems.append(f"{name}={value} is not a number up to {top}: {default} used")
    return default


def _keywords(
    tags: dict[str, str],
    name: str,
    known: tuple[str, ...],
    default: tuple[str, ...],
    problems: list[str],
) -> tuple[str, ...]:
    if name not in tags:
        return default
    words = [w.strip(" \t\r\n").lower() for w in tags[name].split(":")]
    good = tuple(w for w in words if w in known)
    if len(good) < len(words):
        problems.append(f"{name}={tags[name]} has unknown values: ignored")
    return good or default


def _report_uris(tags: dict[str, str], name: str, problems: list[str]) -> tuple[ReportUri, ...]:
    if name not in tags:
        return ()
    uris: list[ReportUri] = []
    for item in tags[name].split(","):
        item = item.strip(" \t\r\n")
        size: int | None = None
        match = _SIZE.match(item)
        if match:
            item = match.group(1)
            size = int(match.group(2)) * _UNITS[match.group(3).lower()]
        if _URI.match(item):
            uris.append(ReportUri(item, size))
        else:
            problems.append(f"{name}= destination {item!r} is not a URI: ignored")
    return tuple(uris)
