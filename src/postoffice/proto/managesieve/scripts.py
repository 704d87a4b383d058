"""What a script and a script name must be: our Sieve checker's verdict, RFC 5804 section 1.6."""

from __future__ import annotations

import re
import unicodedata

from postoffice.sieve import SUPPORTED, SieveError, check, parse
from postoffice.sieve.interpreter import MAX_REDIRECTS

__all__ = ["EXTENSIONS", "MAX_REDIRECTS", "name_problem", "script_problem"]

EXTENSIONS = tuple(sorted(SUPPORTED))
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def script_problem(source: str) -> str | None:
    """Why `source` would not run ("line 3: ..."); None for a valid script."""
    try:
        check(parse(source))
    except SieveError as error:
        return str(error)
    return None


def name_problem(data: bytes, max_octets: int) -> str | None:
    """Why `data` is not a script name (UTF-8 in NFC, no control characters or line or
    paragraph separators, not empty); None for a valid name."""
    try:
        name = data.decode("utf-8")
    except UnicodeDecodeError:
        return "Script names are UTF-8"
    if not name:
        return "Empty script name"
    if len(data) > max_octets:
        return f"Script names are at most {max_octets} octets"
    if _FORBIDDEN.search(name):
        return "Invalid character in script name"
    if unicodedata.normalize("NFC", name) != name:
        return "Script names must be in Unicode NFC"
    return None
