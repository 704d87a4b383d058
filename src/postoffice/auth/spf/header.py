"""The Received-SPF header field (RFC 7208 section 9.1)."""

from __future__ import annotations

import re

from postoffice.auth.spf.result import SpfResult, SpfVerdict

__all__ = ["received_spf_header"]

_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_WIDTH = 78


def received_spf_header(result: SpfResult, *, receiver: str | None = None) -> bytes:
    """``Received-SPF: <result> (<comment>) key=value; ...`` ending in CRLF, folded between
    words (values are never split). ``receiver`` overrides :attr:`SpfResult.receiver`.

    Keys: ``client-ip``, ``envelope-from`` (MAIL FROM checks), ``helo``, ``receiver``,
    ``identity``, ``mechanism`` (``default`` when no mechanism matched) and ``problem`` (errors).
    Values come from the client (addresses, HELO names): control characters become ``?``."""
    receiver = receiver or result.receiver
    words = ["Received-SPF:", str(result.result)]
    words += _comment(f"{receiver}: {_phrase(result)}")
    pairs = [("client-ip", str(result.ip))]
    if result.identity == "mailfrom":
        pairs.append(("envelope-from", result.sender))
    if result.helo is not None:
        pairs.append(("helo", result.helo))
    pairs.append(("receiver", receiver))
    if result.result in (SpfVerdict.PASS, SpfVerdict.FAIL, SpfVerdict.SOFTFAIL,
                         SpfVerdict.NEUTRAL):
        pairs.append(("mechanism", result.mechanism or "default"))
    if result.problem is not None and result.result in (SpfVerdict.TEMPERROR,
                                                        SpfVerdict.PERMERROR):
        pairs.append(("problem", result.problem))
    pairs.append(("identity", result.identity))
    words += [f"{key}={_value(value)};" for key, value in pairs]
    return _fold(words).encode() + b"\r\n"


def _phrase(result: SpfResult) -> str:
    sender, ip = result.sender, result.ip
    match result.result:
        case SpfVerdict.PASS:
            return f"domain of {sender} designates {ip} as permitted sender"
        case SpfVerdict.FAIL:
            return f"domain of {sender} does not designate {ip} as permitted sender"
        case SpfVerdict.SOFTFAIL:
            return f"domain of transitioning {sender} does not designate {ip} as permitted sender"
        case SpfVerdict.NEUTRAL:
            return f"{ip} is neither permitted nor denied by domain of {sender}"
        case SpfVerdict.NONE:
            return f"domain of {sender} does not designate permitted sender hosts"
        case SpfVerdict.TEMPERROR:
            return f"error in processing during lookup of {sender}"
        case _:
            return f"permanent error in processing domain of {result.domain}"


def _comment(text: str) -> list[str]:
    text = _CONTROLS.sub("?", text)
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    words = text.split()
    words[0], words[-1] = "(" + words[0], words[-1] + ")"
    return words


def _value(value: str) -> str:
    if _DOT_ATOM.fullmatch(value):
        return value
    value = _CONTROLS.sub("?", value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def _fold(words: list[str]) -> str:
    lines: list[str] = []
    line = words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > _WIDTH:
            lines.append(line)
            line = "\t" + word
        else:
            line += " " + word
    lines.append(line)
    return "\r\n".join(lines)
