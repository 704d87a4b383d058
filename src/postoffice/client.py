"""A small synchronous client for the postoffice HTTP API, on the standard library alone.

    client = Client("http://127.0.0.1:8025", "po_0123456789ab_...")
    sent = client.send(from_="Shop <shop@example.com>", to="ann@example.net",
                       subject="Your order", text="Thanks!",
                       attachments=[("order.pdf", pdf_bytes, "application/pdf")])
    client.message(sent["id"])["events"]

`verify_webhook` checks the signature of a webhook call the server made.

Every failure raises `ApiError`: the API's own error (status, code, message, field), or
status 0 with code "connection" when no answer came ("bad_response" when it was unreadable).
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from postoffice.policy import webhooks

__all__ = ["ApiError", "Attachment", "BatchRecipient", "Client", "verify_webhook"]

Attachment = (tuple[str, bytes] | tuple[str, bytes, str | None]
              | tuple[str, bytes, str | None, str | None])
"""(filename, content[, content_type[, content_id]]); a content_id makes an inline part."""

Addresses = str | Iterable[str]

BatchRecipient = str | Mapping[str, Any]
"""An address, or {"to", "variables"?, "metadata"?} for one message of a batch."""

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large",
          415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
          500: "internal", 502: "bad_gateway", 503: "unavailable", 504: "gateway_timeout"}


class ApiError(Exception):
    """A request that failed: `status` 0 when no usable answer came."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(status, code, message, field)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        return f"{text} (field {self.field})" if self.field else text


class Client:
    """One API key against one server; `base_url` like "https://mail.example.com"."""

    def __init__(self, base_url: str, key: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    # -- messages ------------------------------------------------------------------------

    def send(self, *, from_: str, to: Addresses, cc: Addresses = (), bcc: Addresses = (),
             reply_to: Addresses = (), subject: str = "", text: str | None = None,
             html: str | None = None, attachments: Sequence[Attachment] = (),
             headers: Mapping[str, str] | None = None, category: str = "",
             lane: str | None = None, metadata: Mapping[str, str] | None = None,
             send_at: float | None = None, track_opens: bool = False,
             track_clicks: bool = False, unsubscribe: bool = False,
             idempotency_key: str | None = None) -> dict[str, Any]:
        """Compose and queue one message; {"id", "message_id", "recipients"}. A retry with the
        same `idempotency_key` and arguments is answered as the first call and sends nothing."""
        body: dict[str, Any] = {"from": from_, "to": _list(to), "cc": _list(cc),
                                "bcc": _list(bcc), "reply_to": _list(reply_to),
                                "subject": subject}
        body.update(_parts(text=text, html=html))
        body.update(_composed(attachments, headers, category, lane, metadata, send_at,
                              track_opens, track_clicks, unsubscribe))
        return self._object("POST", "/v1/messages", body, _idempotency(idempotency_key))

    def send_batch(self, *, from_: str, recipients: Sequence[BatchRecipient],
                   template: str | None = None, subject: str | None = None,
                   text: str | None = None, html: str | None = None,
                   reply_to: Addresses = (), attachments: Sequence[Attachment] = (),
                   headers: Mapping[str, str] | None = None, category: str = "",
                   lane: str | None = None, metadata: Mapping[str, str] | None = None,
                   send_at: float | None = None, track_opens: bool = False,
                   track_clicks: bool = False, unsubscribe: bool = False,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        """One template (a stored one named, or inline subject, text and html) to up to 1,000
        recipients, a message each, rendered with each one's variables. {"messages": [{"to",
        "id", "status", "error"}]}, in the recipients' order; a recipient whose message cannot
        be made is "rejected" with the error, and the others are sent."""
        body: dict[str, Any] = {"from": from_, "recipients": [_recipient(r) for r in recipients]}
        body.update(_parts(template=template, subject=subject, text=text, html=html))
        if reply_to:
            body["reply_to"] = _list(reply_to)
        body.update(_composed(attachments, headers, category, lane, metadata, send_at,
                              track_opens, track_clicks, unsubscribe))
        return self._object("POST", "/v1/messages/batch", body, _idempotency(idempotency_key))

    def send_raw(self, raw: bytes, to: Addresses = (), cc: Addresses = (), bcc: Addresses = (),
                 *, category: str = "", lane: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Queue a whole MIME message as written; the envelope recipients are to, cc and bcc
        when given, else the message's To, Cc and Bcc fields."""
        body: dict[str, Any] = {"raw": base64.b64encode(raw).decode("ascii"), "to": _list(to),
                                "cc": _list(cc), "bcc": _list(bcc)}
        body.update(_options(category, lane, metadata))
        return self._object("POST", "/v1/messages", body)

    def messages(self, **filters: str | int | float | None) -> dict[str, Any]:
        """Search the message log: recipient, sender, subject, category, status, since, until,
        before, limit. {"messages": [...], "next_before": id or None}."""
        return self._object("GET", _query("/v1/messages", filters))

    def message(self, id: str) -> dict[str, Any]:
        """One logged message with its events."""
        return self._object("GET", f"/v1/messages/{_segment(id)}")

    def raw(self, id: str) -> bytes:
        """The message as stored."""
        return self._request("GET", f"/v1/messages/{_segment(id)}/raw")

    # -- domains and keys ----------------------------------------------------------------

    def domains(self) -> list[dict[str, Any]]:
        """The tenant's domains: [{"name", "created_at"}]."""
        return self._array("GET", "/v1/domains")

    def add_domain(self, name: str) -> dict[str, Any]:
        """Add a sending domain (admin scope)."""
        return self._object("POST", "/v1/domains", {"name": name})

    def remove_domain(self, name: str) -> None:
        """Remove a domain that has no mailboxes (admin scope)."""
        self._request("DELETE", f"/v1/domains/{_segment(name)}")

    def api_keys(self) -> list[dict[str, Any]]:
        """The tenant's keys, without the keys themselves (admin scope)."""
        return self._array("GET", "/v1/api-keys")

    def create_api_key(self, scope: str = "send", name: str = "") -> dict[str, Any]:
        """A new key of `scope` (send, read or admin); its "key" is shown this once only."""
        return self._object("POST", "/v1/api-keys", {"scope": scope, "name": name})

    def revoke_api_key(self, id: str) -> None:
        """Revoke a key by its id."""
        self._request("DELETE", f"/v1/api-keys/{_segment(id)}")

    # -- templates -----------------------------------------------------------------------

    def templates(self) -> list[dict[str, Any]]:
        """The tenant's templates: [{"name", "subject", "text", "html", "created_at",
        "updated_at"}]."""
        return self._array("GET", "/v1/templates")

    def template(self, name: str) -> dict[str, Any]:
        """One template."""
        return self._object("GET", f"/v1/templates/{_segment(name)}")

    def put_template(self, name: str, *, subject: str = "", text: str | None = None,
                     html: str | None = None) -> dict[str, Any]:
        """Create or replace a template (Jinja2; text or html needed; admin scope); the stored
        template. A syntax error is a 422 naming the part."""
        return self._object("PUT", f"/v1/templates/{_segment(name)}",
                            {"subject": subject, "text": text, "html": html})

    def delete_template(self, name: str) -> None:
        """Remove a template (admin scope)."""
        self._request("DELETE", f"/v1/templates/{_segment(name)}")

    # -- webhooks ------------------------------------------------------------------------

    def create_webhook(self, url: str, events: Iterable[str]) -> dict[str, Any]:
        """Subscribe `url` to event types (["*"]: all); {"id", "url", "events", "active",
        "created_at", "secret"}, the secret shown this once only (admin scope)."""
        return self._object("POST", "/v1/webhooks", {"url": url, "events": list(events)})

    def webhooks(self) -> list[dict[str, Any]]:
        """The tenant's webhooks, without their secrets."""
        return self._array("GET", "/v1/webhooks")

    def webhook(self, id: int) -> dict[str, Any]:
        """One webhook, without its secret."""
        return self._object("GET", f"/v1/webhooks/{_segment(str(id))}")

    def update_webhook(self, id: int, *, url: str | None = None,
                       events: Iterable[str] | None = None,
                       active: bool | None = None) -> dict[str, Any]:
        """Change what is given (active=False pauses it); the webhook (admin scope)."""
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if events is not None:
            body["events"] = list(events)
        if active is not None:
            body["active"] = active
        return self._object("PATCH", f"/v1/webhooks/{_segment(str(id))}", body)

    def delete_webhook(self, id: int) -> None:
        """Remove a webhook and its deliveries (admin scope)."""
        self._request("DELETE", f"/v1/webhooks/{_segment(str(id))}")

    def rotate_webhook_secret(self, id: int) -> dict[str, Any]:
        """A new secret, shown this once; the old one stops at once. {"id", "secret"}."""
        return self._object("POST", f"/v1/webhooks/{_segment(str(id))}/rotate-secret")

    def webhook_deliveries(self, id: int, *, status: str | None = None,
                           before: int | None = None,
                           limit: int | None = None) -> dict[str, Any]:
        """The webhook's deliveries, newest first (status: pending, delivered or failed).
        {"deliveries": [{"id", "event_type", "status", "attempts", ...}], "next_before"}."""
        return self._object("GET", _query(f"/v1/webhooks/{_segment(str(id))}/deliveries",
                                          {"status": status, "before": before,
                                           "limit": limit}))

    def test_webhook(self, id: int) -> dict[str, Any]:
        """Send a "test" event to the webhook; the delivery, "pending" (admin scope)."""
        return self._object("POST", f"/v1/webhooks/{_segment(str(id))}/test")

    # -- suppressions --------------------------------------------------------------------

    def suppressions(self, *, address: str | None = None, reason: str | None = None,
                     category: str | None = None, before: int | None = None,
                     limit: int | None = None) -> dict[str, Any]:
        """The suppressions in force, newest first. {"suppressions": [{"address", "reason",
        "category", "detail", "source_message", "source_event", "created_at",
        "expires_at"}], "next_before"}."""
        return self._object("GET", _query("/v1/suppressions", {
            "address": address, "reason": reason, "category": category, "before": before,
            "limit": limit}))

    def add_suppression(self, address: str, *, reason: str = "manual", category: str = "",
                        expires_at: float | None = None) -> dict[str, Any]:
        """Suppress an address (category "": every category); the suppression in force for
        that address and category (admin scope)."""
        body: dict[str, Any] = {"address": address, "reason": reason, "category": category}
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self._object("POST", "/v1/suppressions", body)

    def remove_suppression(self, address: str, category: str | None = None) -> None:
        """Stop suppressing an address: every category, or only `category` (admin scope)."""
        self._request("DELETE", _query(f"/v1/suppressions/{_segment(address)}",
                                       {"category": category}))

    def export_suppressions(self) -> bytes:
        """The whole list as CSV: address,reason,category,created_at,expires_at."""
        return self._request("GET", "/v1/suppressions.csv")

    def import_suppressions(self, csv: bytes | str) -> dict[str, Any]:
        """Add the CSV's suppressions (the export's columns; admin scope). {"imported",
        "errors": [{"line", "message"}]}: the good lines are imported even when others are
        not."""
        content = csv.encode("utf-8") if isinstance(csv, str) else csv
        return self._object("POST", "/v1/suppressions.csv", content,
                            {"Content-Type": "text/csv; charset=utf-8"})

    # -- stats ---------------------------------------------------------------------------

    def stats(self, *, since: float | None = None, until: float | None = None,
              group_by: str | None = None, category: str | None = None) -> dict[str, Any]:
        """Counts and rates of the tenant's events (default: the last 7 days, by day;
        group_by: day, hour, category, provider, domain or ip). {"group_by", "since", "until",
        "groups": [{"key", "counts", "rates"}], "totals"}."""
        return self._object("GET", _query("/v1/stats", {
            "since": since, "until": until, "group_by": group_by, "category": category}))

    # -- the wire ------------------------------------------------------------------------

    def _object(self, method: str, path: str, body: Any = None,
                headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        value = self._json(method, path, body, headers)
        if not isinstance(value, dict):
            raise ApiError(0, "bad_response", f"{method} {path}: the answer is not an object")
        return value

    def _array(self, method: str, path: str) -> list[dict[str, Any]]:
        value = self._json(method, path, None)
        if not isinstance(value, list):
            raise ApiError(0, "bad_response", f"{method} {path}: the answer is not an array")
        return value

    def _json(self, method: str, path: str, body: Any,
              headers: Mapping[str, str] | None = None) -> Any:
        content = self._request(method, path, body, headers)
        try:
            return json.loads(content)
        except ValueError:
            raise ApiError(0, "bad_response",
                           f"{method} {path}: the answer is not JSON") from None

    def _request(self, method: str, path: str, body: Any = None,
                 headers: Mapping[str, str] | None = None) -> bytes:
        """The answer's content; `body` is sent as JSON, or as it is when bytes (give its
        Content-Type in `headers`)."""
        url = self.base_url + path
        sent = {"Authorization": f"Bearer {self.key}", "Accept": "application/json",
                "User-Agent": "postoffice-client"}
        data = None
        if isinstance(body, bytes):
            data = body
        elif body is not None:
            data = json.dumps(body).encode("ascii")
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            with error:
                raise _from_answer(error.code, _read(error), error.reason) from None
        except urllib.error.URLError as error:
            reason = _reason(error.reason)
            raise ApiError(0, "connection", f"cannot reach {url}: {reason}") from None
        except (OSError, http.client.HTTPException) as error:
            raise ApiError(0, "connection", f"cannot reach {url}: {_reason(error)}") from None


def verify_webhook(secret: str, signature_header: str, body: bytes, tolerance: float = 300.0,
                   now: float | None = None) -> bool:
    """Whether a webhook call is the server's: its X-Postoffice-Signature ("t=<unix time>,
    v1=<hex>") has v1 the hex HMAC-SHA256, keyed with the secret's UTF-8 bytes, of t, ".", and
    the body exactly as received, and t is within `tolerance` seconds of `now` (default: the
    current time)."""
    return webhooks.verify(secret, signature_header, body,
                           time.time() if now is None else now, tolerance)


def _from_answer(status: int, content: bytes, reason: object) -> ApiError:
    """The error an answer describes: its JSON error body, else its status and text."""
    code = _CODES.get(status, "http_error")
    try:
        detail = json.loads(content)["error"]
        field = detail.get("field")
        return ApiError(status, str(detail.get("code") or code),
                        str(detail.get("message") or reason),
                        None if field is None else str(field))
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    text = " ".join(content.decode("utf-8", "replace").split())[:200]
    return ApiError(status, code, text or str(reason) or f"HTTP {status}")


def _read(error: urllib.error.HTTPError) -> bytes:
    try:
        return bytes(error.read())
    except (OSError, http.client.HTTPException):
        return b""


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _list(addresses: Addresses) -> list[str]:
    return [addresses] if isinstance(addresses, str) else list(addresses)


def _attachment(item: Attachment) -> dict[str, Any]:
    filename, content, *rest = item
    out: dict[str, Any] = {"filename": filename,
                           "content": base64.b64encode(content).decode("ascii")}
    if rest and rest[0]:
        out["content_type"] = rest[0]
    if len(rest) > 1 and rest[1]:
        out["content_id"] = rest[1]
    return out


def _parts(**parts: str | None) -> dict[str, str]:
    """The parts given (not None)."""
    return {name: part for name, part in parts.items() if part is not None}


def _composed(attachments: Sequence[Attachment], headers: Mapping[str, str] | None,
              category: str, lane: str | None, metadata: Mapping[str, str] | None,
              send_at: float | None, track_opens: bool, track_clicks: bool,
              unsubscribe: bool) -> dict[str, Any]:
    """The fields a composed send and a batch share, those given."""
    out: dict[str, Any] = {}
    if attachments:
        out["attachments"] = [_attachment(a) for a in attachments]
    if headers:
        out["headers"] = dict(headers)
    out.update(_options(category, lane, metadata))
    out.update(_delivery(send_at, track_opens, track_clicks, unsubscribe))
    return out


def _options(category: str, lane: str | None,
             metadata: Mapping[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if category:
        out["category"] = category
    if lane is not None:
        out["lane"] = lane
    if metadata:
        out["metadata"] = dict(metadata)
    return out


def _delivery(send_at: float | None, track_opens: bool, track_clicks: bool,
              unsubscribe: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if send_at is not None:
        out["send_at"] = send_at
    if track_opens:
        out["track_opens"] = True
    if track_clicks:
        out["track_clicks"] = True
    if unsubscribe:
        out["unsubscribe"] = True
    return out


def _recipient(item: BatchRecipient) -> dict[str, Any]:
    if isinstance(item, str):
        return {"to": item}
    out = dict(item)
    for name in ("variables", "metadata"):
        if name in out and out[name] is not None:
            out[name] = dict(out[name])
    return out


def _idempotency(key: str | None) -> dict[str, str] | None:
    if key is None:
        return None
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("an Idempotency-Key is Latin-1 text (an HTTP header)") from None
    return {"Idempotency-Key": key}


def _query(path: str, params: Mapping[str, object]) -> str:
    """`path` with the parameters that are not None as its query."""
    query = {k: str(v) for k, v in params.items() if v is not None}
    return path + (f"?{urllib.parse.urlencode(query)}" if query else "")


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")

