"""Modified UTF-7 for mailbox names (RFC 3501 5.1.3), used with IMAP4rev1 clients.

"&" starts a shifted run of base64 (alphabet "+," instead of "+/") over UTF-16BE, "-" ends it;
"&-" is a literal "&". Printable ASCII (0x20-0x7e) other than "&" stands for itself.
"""

from __future__ import annotations

import base64
import binascii


class Mutf7Error(ValueError):
    """Text that is not valid modified UTF-7."""


def encode(name: str) -> str:
    """Encode a mailbox name for an IMAP4rev1 client."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ","))
            out.append("-")
            run.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def decode(text: str) -> str:
    """Decode a modified UTF-7 mailbox name; raises Mutf7Error on anything non-canonical."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if not 0x20 <= ord(char) <= 0x7E:
            raise Mutf7Error(f"character {char!r} must be encoded")
        if char != "&":
            out.append(char)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise Mutf7Error("unterminated '&' run")
        run = text[i + 1:end]
        i = end + 1
        if not run:
            out.append("&")
            continue
        out.append(_decode_run(run))
    result = "".join(out)
    if encode(result) != text:
        raise Mutf7Error("not in canonical modified UTF-7")
    return result


def _decode_run(run: str) -> str:
    b64 = run.replace(",", "/")
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        return raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError):
        raise Mutf7Error(f"bad base64 run {run!r}") from None
