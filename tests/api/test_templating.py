"""Template rendering: sandboxed, HTML autoescaped, missing variables an error."""

from __future__ import annotations

import pytest

from postoffice.api.templating import RenderError, check, render


def test_render_escapes_html_only() -> None:
    out = render("Hi {{ name }}", "Dear {{ name }},", "<p>Dear {{ name }}</p>",
                 {"name": "<b>Ann</b> & co"})
    assert out.subject == "Hi <b>Ann</b> & co"
    assert out.text == "Dear <b>Ann</b> & co,"
    assert out.html == "<p>Dear &lt;b&gt;Ann&lt;/b&gt; &amp; co</p>"
    assert render("{{ n * 2 }}", None, None, {"n": 21}).subject == "42"


@pytest.mark.parametrize(("subject", "text", "html", "variables", "field"), [
    ("Hi {{ name }}", None, None, {}, "subject"),
    ("", "{{ items[5] }}", None, {"items": []}, "text"),
    ("", None, "{{ ''.__class__.__mro__ }}", {}, "html"),
    ("", None, "{{ 1 / 0 }}", {}, "html"),
])
def test_render_errors_name_the_part(subject: str, text: str | None, html: str | None,
                                     variables: dict[str, object], field: str) -> None:
    with pytest.raises(RenderError) as raised:
        render(subject, text, html, variables)
    assert raised.value.field == field


def test_check_finds_syntax_errors_with_the_line() -> None:
    check("ok {{ x }}", "fine", None)
    with pytest.raises(RenderError) as raised:
        check("", "line one\n{% if %}", None)
    assert raised.value.field == "text" and "line 2" in raised.value.message
    with pytest.raises(RenderError):
        check("x" * (512 * 1024 + 1), None, None)


@pytest.mark.parametrize("source, says", [
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "characters"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% if j > i %}{% endif %}"
     "{{ ''|upper }}{% endfor %}{% endfor %}", "s to render"),
    ("{{ 'x' * 1000000000 }}", "more than"),
    ("{{ [1] * 1000000000 }}", "more than"),
    ("{{ 10 ** 100000000 }}", "exponent"),
])
def test_costly_templates_are_stopped(source: str, says: str) -> None:
    """A template written to loop or grow for ever is an error of its field within the
    budget, and the worker goes on."""
    import time

    from postoffice.api import templating
    started = time.perf_counter()
    with pytest.raises(templating.RenderError) as error:
        templating.render("s", source, None, {})
    assert time.perf_counter() - started < templating.MAX_SECONDS + 2.0
    assert error.value.field == "text" and says in error.value.message, error.value.message
    assert templating.render("Hi {{ n }}", "{{ n * 3 }}", None, {"n": 2}).text == "6"
