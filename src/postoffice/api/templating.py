"""Templates (Jinja2 in a sandbox): the subject and text rendered as written, the HTML with
autoescape, so a recipient's variables can never inject markup. A variable the template uses
but the call does not give is an error, not an empty string."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_SOURCE = 512 * 1024
"""Octets of one template source."""
MAX_OUTPUT = 4 * 1024 * 1024
"""Characters of one rendered part."""
MAX_SECONDS = 0.25
"""CPU time one part may take to render: rendering runs on a worker's event loop, so a
template written to loop for ever must not stop the worker. A real one takes microseconds."""


class _TooCostly(Exception):
    pass


class _Deadline(threading.local):
    """When the part this thread is rendering must be done."""

    at = float("inf")

    def tick(self) -> None:
        if time.perf_counter() > self.at:
            raise _TooCostly(f"takes more than {MAX_SECONDS} s to render")


_Budget = _Deadline()


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with the template's calls, attribute lookups and the operators that make
    big values from small ones checked against the budget."""

    intercepted_binops = frozenset({"*", "**"})

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _Budget.tick()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _Budget.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _Budget.tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _Budget.tick()
        if operator == "**" and isinstance(right, int) and abs(right) > 1000:
            raise _TooCostly("an exponent above 1000")
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                if isinstance(sized, (str, list, tuple)) and isinstance(count, int) \
                        and len(sized) * count > MAX_OUTPUT:
                    raise _TooCostly(f"makes a value of more than {MAX_OUTPUT} items")
        return super().call_binop(context, operator, left, right)


_PLAIN = _Sandbox(undefined=StrictUndefined, autoescape=False)
_HTML = _Sandbox(undefined=StrictUndefined, autoescape=True)


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
    template = _compiled(field, source)
    pieces: list[str] = []
    size = 0
    _Budget.at = time.perf_counter() + MAX_SECONDS
    try:
        for piece in template.generate(variables):  # checked as it comes
            size += len(piece)
            if size > MAX_OUTPUT:
                raise RenderError(field, f"renders to more than {MAX_OUTPUT} characters")
            _Budget.tick()
            pieces.append(piece)
    except _TooCostly as error:
        raise RenderError(field, str(error)) from None
    except TemplateError as error:
        raise RenderError(field, error.message or type(error).__name__) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError,
            MemoryError) as error:
        if isinstance(error, RenderError):
            raise
        raise RenderError(field, f"{type(error).__name__}: {error}") from None
    finally:
        _Budget.at = float("inf")
    return "".join(pieces)


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
