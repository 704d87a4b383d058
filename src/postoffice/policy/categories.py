"""Categories: a sender's name for a kind of mail ("digest", "receipts"). Stats, webhooks and
suppressions (an unsubscribe from one category) go by it. The API takes it as a field; mail
submitted over SMTP names it in a header field (`FIELD`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

PATTERN: Final = r"^[A-Za-z0-9._:-]*$"
MAX_LENGTH: Final = 100
FIELD: Final = "X-Postoffice-Category"
RULE: Final = f"at most {MAX_LENGTH} of A-Z a-z 0-9 . _ : -"

_VALID = re.compile(PATTERN[:-1] + r"\Z")


def valid(category: str) -> bool:
    return len(category) <= MAX_LENGTH and _VALID.match(category) is not None


def from_fields(fields: Sequence[tuple[str, str]]) -> str | None:
    """The category a message's header names ("" for none); None when the field is not a
    valid category or appears more than once."""
    values = [value.strip() for name, value in fields if name.strip().lower() == FIELD.lower()]
    if not values:
        return ""
    if len(values) > 1 or not valid(values[0]):
        return None
    return values[0]
