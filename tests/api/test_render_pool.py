"""Batch messages made in render processes: the same messages as on the loop, in a process
with a lower priority, and made again here when a render process dies."""

from __future__ import annotations

import asyncio
import os
import re

from postoffice.api.errors import ErrorDetail
from postoffice.api.render_pool import NICE, RenderPool
from postoffice.api.routes.batch import _Recipe, make_chunk
from postoffice.api.sending import Prepared

RECIPE = _Recipe(
    from_="News <news@example.test>", subject="Hello {{ name }}",
    text="Hi {{ name }},\n{% for i in items %}- {{ i }}\n{% endfor %}",
    html="<p>Hi {{ name }}</p>", reply_to=(), headers=(("X-Campaign", "spring"),),
    attachments=(), mail_from="news@example.test", lane="bulk", hostname="mail.example.test")
RECIPIENTS = [("Ann <ann@far.example>", {"name": "Ann", "items": ["a", "b"]}),
              ("bob@far.example", {"items": []}),  # no name: an error for this one only
              ("Cy <cy@far.example>", {"name": "<Cy>", "items": ["c"]})]


def _unique_parts_removed(content: bytes) -> bytes:
    """The content without what is made unique per message (ids, boundaries, the date)."""
    content = re.sub(rb"[0-9a-f]{12}\.[0-9a-f]{20}", b"ID", content)
    content = re.sub(rb"=_[0-9a-f]{32}", b"BOUNDARY", content)
    return re.sub(rb"Date: [^\r]*", b"Date: D", content)


def _niceness() -> int:
    return os.nice(0)


def _die_elsewhere(parent: int) -> int:
    """Kills a render process; returns the pid it ran in when that is the parent's."""
    if os.getpid() != parent:
        os._exit(3)
    return os.getpid()


def test_a_render_process_makes_what_the_loop_makes() -> None:
    pool = RenderPool(1)
    try:
        made = asyncio.run(pool.run(make_chunk, RECIPE, 10, RECIPIENTS))
        niceness = asyncio.run(pool.run(_niceness))
    finally:
        pool.close()
    here = make_chunk(RECIPE, 10, RECIPIENTS)
    assert [type(m) for m in made] == [Prepared, ErrorDetail, Prepared]
    assert isinstance(made[1], ErrorDetail) and made[1].field == "recipients[11].variables"
    assert made[1] == here[1]
    for there, local in ((made[0], here[0]), (made[2], here[2])):
        assert isinstance(there, Prepared) and isinstance(local, Prepared)
        assert _unique_parts_removed(there.content) == _unique_parts_removed(local.content)
        assert (there.recipients, there.subject, there.lane) == (
            local.recipients, local.subject, local.lane)
    assert b"&lt;Cy&gt;" in made[2].content  # type: ignore[union-attr]
    assert niceness >= _niceness() + NICE or niceness == 19


def test_a_dead_render_process_is_replaced_and_the_work_done_here() -> None:
    pool = RenderPool(1)

    async def main() -> tuple[int, int, list[Prepared | ErrorDetail]]:
        ran_in = await pool.run(_die_elsewhere, os.getpid())
        return (ran_in, await pool.run(os.getpid),
                await pool.run(make_chunk, RECIPE, 0, RECIPIENTS[:1]))

    try:
        ran_in, next_in, made = asyncio.run(main())
    finally:
        pool.close()
    assert ran_in == os.getpid()  # made again here after the render process died
    assert next_in != os.getpid()  # the next call goes to a new render process
    assert isinstance(made[0], Prepared)
