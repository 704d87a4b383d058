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
    def stored_answer(self, tenant: str, key: str) -> StoredAnswer | None: ...
    def store_answer(self, tenant: str, key: str, answer: StoredAnswer) -> StoredAnswer:
        """Keeps the first answer for a key: returns it (the one given, or one stored by an
        earlier call that raced this one)."""
        ...
    def forget_answers(self, before: float) -> int:
        """Drop answers older than `before`; how many."""
        ...
