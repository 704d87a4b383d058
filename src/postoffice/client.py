"""A small synchronous client for the postoffice HTTP API, on the standard library alone.

    client = Client("http://127.0.0.1:8025", "po_0123456789ab_...")
    sent = client.send(from_="Shop <shop@example.com>", to="ann@example.net",
                       subject="Your order", text="Thanks!",
                       attachments=[("order.pdf", pdf_bytes, "application/pdf")])
    client.message(sent["id"])["events"]

Every failure raises `ApiError`: the API's own error (status, code, message, field), or
status 0 with code "connection" when no answer came ("bad_response" when it was unreadable).
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["ApiError", "Attachment", "Client"]

Attachment = (tuple[str, bytes] | tuple[str, bytes, str | None]
              | tuple[str, bytes, str | None, str | None])
"""(filename, content[, content_type[, content_id]]); a content_id makes an inline part."""

Addresses = str | Iterable[str]

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
             ) -> dict[str, Any]:
        """Compose and queue one message; {"id", "message_id", "recipients"}."""
        body: dict[str, Any] = {"from": from_, "to": _list(to), "cc": _list(cc),
                                "bcc": _list(bcc), "reply_to": _list(reply_to),
                                "subject": subject}
        if text is not None:
            body["text"] = text
        if html is not None:
            body["html"] = html
        if attachments:
            body["attachments"] = [_attachment(a) for a in attachments]
        if headers:
            body["headers"] = dict(headers)
        body.update(_options(category, lane, metadata))
        return self._object("POST", "/v1/messages", body)

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
        query = {k: str(v) for k, v in filters.items() if v is not None}
        path = "/v1/messages" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        return self._object("GET", path)

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

    # -- the wire ------------------------------------------------------------------------

    def _object(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        value = self._json(method, path, body)
        if not isinstance(value, dict):
            raise ApiError(0, "bad_response", f"{method} {path}: the answer is not an object")
        return value

    def _array(self, method: str, path: str) -> list[dict[str, Any]]:
        value = self._json(method, path, None)
        if not isinstance(value, list):
            raise ApiError(0, "bad_response", f"{method} {path}: the answer is not an array")
        return value

    def _json(self, method: str, path: str, body: Any) -> Any:
        content = self._request(method, path, body)
        try:
            return json.loads(content)
        except ValueError:
            raise ApiError(0, "bad_response",
                           f"{method} {path}: the answer is not JSON") from None

    def _request(self, method: str, path: str, body: Any = None) -> bytes:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json",
                   "User-Agent": "postoffice-client"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("ascii")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
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


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")

