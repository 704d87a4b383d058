"""One-click unsubscribe on the http listener (RFC 8058), outside /v1 and the OpenAPI document.

`POST /u/<token>` with the body `List-Unsubscribe=One-Click` unsubscribes: no login, the
token is the proof (policy/unsubscribe.py). `GET /u/<token>` only shows a page with a button
that makes that POST: link scanners and prefetchers follow GETs, and RFC 8058 3.2 says a GET
must not unsubscribe. A token that does not verify is a 404; a repeated POST answers as the
first did and writes nothing."""

from __future__ import annotations

import html
import logging

from fastapi import APIRouter, Request, Response

from postoffice.api.context import ApiContext
from postoffice.policy import unsubscribe as policy
from postoffice.policy.unsubscribe import UnsubscribeToken
from postoffice.storage.interfaces import StorageError

router = APIRouter(include_in_schema=False)
log = logging.getLogger("postoffice.api")

HEADERS = {
    "Cache-Control": "no-store, private",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
}
STYLE = ("body{font-family:system-ui,sans-serif;max-width:32em;margin:4em auto;padding:0 1em;"
         "color:#222}button{font-size:1em;padding:.5em 1.2em;cursor:pointer}")


@router.get(policy.PATH + "{token}")
async def page(token: str, request: Request) -> Response:
    found = _verified(request, token)
    if found is None:
        return _html(404, "Unsubscribe", "<p>This unsubscribe link is not valid.</p>")
    what = ("all mail from this sender" if not found.scope
            else f"mail of the category <b>{html.escape(found.scope)}</b>")
    body = (f"<p>Unsubscribe <b>{html.escape(found.recipient)}</b> from {what}?</p>"
            f'<form method="post"><input type="hidden" name="List-Unsubscribe" '
            f'value="One-Click"><button type="submit">Unsubscribe</button></form>')
    return _html(200, "Unsubscribe", body)


@router.post(policy.PATH + "{token}")
async def one_click(token: str, request: Request) -> Response:
    context: ApiContext = request.app.state.context
    found = _verified(request, token)
    if found is None or context.unsubscribe is None:
        return _text(404, "This unsubscribe link is not valid.")
    if not policy.is_one_click(await request.body(), request.headers.get("content-type", "")):
        return _text(400, f"Expected the form field {policy.ONE_CLICK} (RFC 8058).")
    try:
        await context.unsubscribe.unsubscribe([found], "one-click")
    except StorageError as exc:
        log.error("unsubscribe of %s (id=%s) not recorded: %s", found.recipient,
                  found.message_id, exc)
        return _text(503, "Not unsubscribed yet: please try again in a moment.")
    return _text(200, f"Unsubscribed: {found.recipient} gets no more of this mail.")


def _verified(request: Request, token: str) -> UnsubscribeToken | None:
    context: ApiContext = request.app.state.context
    return None if context.unsubscribe is None else context.unsubscribe.token(token)


def _text(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8",
                    headers=HEADERS)


def _html(status: int, title: str, body: str) -> Response:
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width,initial-scale=1">'
                f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
                f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(document, status_code=status, media_type="text/html; charset=utf-8",
                    headers=HEADERS)
