"""Templates (Jinja2 in a sandbox): the subject and text rendered as written, the HTML with
autoescape, so a recipient's variables can never inject markup. A variable the template uses
but the call does not give is an error, not an empty string."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

MAX_SOURCE = 512 * 1024
"""Octets of one template source."""
MAX_OUTPUT = 4 * 1024 * 1024
"""Characters of one rendered part."""

_PLAIN = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


class RenderError(ValueError):
    """A template that does not compile or render; `field` is "subject", "text" or "html"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


def check(subject: str, text: str | None, html: str | None) -> None:
    """Raise RenderError for a part that is too long or does not compile."""
    for field, source in (("subject", subject), ("text", text), ("html", html)):
        if source is not None:
            _compiled(field, source)


def render(subject: str, text: str | None, html: str | None,
           variables: dict[str, Any]) -> Rendered:
    return Rendered(_render("subject", subject, variables),
                    None if text is None else _render("text", text, variables),
                    None if html is None else _render("html", html, variables))


def _render(field: str, source: str, variables: dict[str, Any]) -> str:
    try:
        out = _compiled(field, source).render(variables)
    except TemplateError as error:
        raise RenderError(field, error.message or type(error).__name__) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as error:
        raise RenderError(field, f"{type(error).__name__}: {error}") from None
    if len(out) > MAX_OUTPUT:
        raise RenderError(field, f"renders to more than {MAX_OUTPUT} characters")
    return out


def _compiled(field: str, source: str) -> Template:
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE:
        raise RenderError(field, f"longer than {MAX_SOURCE} octets")
    try:
        return _compile(field == "html", source)
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(field, f"{error.message}{where}") from None


@lru_cache(maxsize=256)
def _compile(html: bool, source: str) -> Template:
    return (_HTML if html else _PLAIN).from_string(source)
