"""SPF (RFC 7208): is this client allowed to send mail for this domain?

The check is a DNS flow: it yields the lookups it needs and returns an :class:`SpfResult`::

    result = run_sync(check_mail_from("192.0.2.1", "alice@example.org", "mx.example.org"), zone)
    result = await run_async(check_mail_from(ip, mail_from, helo, receiver=hostname), resolver)
    result.result            # SpfVerdict.PASS, FAIL, SOFTFAIL, NEUTRAL, NONE, TEMPERROR, PERMERROR
    result.mechanism         # the term that decided, e.g. "include:_spf.example.org"
    result.explanation       # for fail: the exp= text (or a default)
    result.trace             # every lookup, and which term made it
    received_spf_header(result)   # b"Received-SPF: pass (...) client-ip=...;\\r\\n"

Modules: :mod:`.record` (selecting and parsing records), :mod:`.macros` (section 7),
:mod:`.names` (domain checks), :mod:`.evaluate` (``check_host()``, limits),
:mod:`.result` and :mod:`.header` (Received-SPF).
"""

from postoffice.auth.spf.evaluate import (
    MAX_DNS_TERMS,
    MAX_MX_RECORDS,
    MAX_PTR_NAMES,
    MAX_VOID_LOOKUPS,
    check_helo,
    check_host,
    check_mail_from,
)
from postoffice.auth.spf.header import received_spf_header
from postoffice.auth.spf.macros import (
    MacroContext,
    MacroString,
    SpfSyntaxError,
    expand,
    parse_macro_string,
)
from postoffice.auth.spf.record import (
    Mechanism,
    MechanismKind,
    SpfRecord,
    is_spf_record,
    parse_record,
    select_record,
)
from postoffice.auth.spf.result import SpfResult, SpfVerdict, TraceEntry, default_explanation

__all__ = [
    "MAX_DNS_TERMS",
    "MAX_MX_RECORDS",
    "MAX_PTR_NAMES",
    "MAX_VOID_LOOKUPS",
    "MacroContext",
    "MacroString",
    "Mechanism",
    "MechanismKind",
    "SpfRecord",
    "SpfResult",
    "SpfSyntaxError",
    "SpfVerdict",
    "TraceEntry",
    "check_helo",
    "check_host",
    "check_mail_from",
    "default_explanation",
    "expand",
    "is_spf_record",
    "parse_macro_string",
    "parse_record",
    "received_spf_header",
    "select_record",
]
