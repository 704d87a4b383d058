"""Message templates and idempotent API answers: records and Store methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Template:
    tenant: str
    name: str
    subject: str
    """A Jinja2 template of the Subject."""
    text: str | None
    """A Jinja2 template of the plain-text body."""
    html: str | None
    """A Jinja2 template of the HTML body (rendered with autoescape)."""
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredAnswer:
    request: str
    """SHA-256 of the request the answer is for."""
    status: int
    response: str
    """The JSON body."""


class TemplateStore(Protocol):
    def put_template(self, tenant: str, name: str, *, subject: str, text: str | None,
                     html: str | None) -> Template:
        """Creates or replaces."""
        ...
    def get_template(self, tenant: str, name: str) -> Template | None: ...
    def list_templates(self, tenant: str) -> list[Template]: ...
    def delete_template(self, tenant: str, name: str) -> None:
        """NotFound unless the tenant has it."""
        ...
    def claim_key(self, tenant: str, key: str, request: str, *,
                  stale_after: float = 600.0) -> StoredAnswer | None:
        """Take an Idempotency-Key for a request about to run: None when taken now; else
        what the key holds (status 0: the first call with it is still running). A claim
        older than `stale_after` seconds that never got its answer (a crash) is taken over."""
        ...
    def store_answer(self, tenant: str, key: str, answer: StoredAnswer) -> None:
        """The answer of the call that claimed the key."""
        ...
    def release_key(self, tenant: str, key: str) -> None:
        """Give a claimed key up without an answer (the call failed: a retry may run)."""
        ...
    def forget_answers(self, before: float) -> int:
        """Drop answers older than `before`; how many."""
        ...
