"""Content made for one recipient at delivery: open and click tracking (docs/api.md).

`needs_per_recipient_content` is the one place that decides whether a message's recipients
get content of their own, and so a transaction each: every feature that changes the content per
recipient adds its condition there and its change in `Personalizer.content`. The engine signs
(DKIM) what comes out of here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from postoffice.config import Config
from postoffice.message.html_links import rewrite_html
from postoffice.policy import tracking
from postoffice.policy.tracking import TrackingToken
from postoffice.storage.interfaces import QueueItem, StoredMessage

OPEN_PATH = "/t/o/"
CLICK_PATH = "/t/c/"


def needs_per_recipient_content(message: StoredMessage) -> bool:
    """Whether each recipient of `message` gets content of its own (one per transaction):
    tracking, or List-Unsubscribe fields with a token of its own (pipeline/unsubscribe.py,
    added by the engine)."""
    return message.track_opens or message.track_clicks or message.unsubscribe


@dataclass(frozen=True)
class TrackingLinks:
    """Where tracking links point and what signs them."""

    secret: bytes
    """The tracking secret (`policy.tracking.tracking_secret` of the install key)."""
    base: str
    """Scheme and host of the http listener as the internet reaches it: "https://host"."""
    own_hosts: frozenset[str] = frozenset()
    """Host names of our own links (tracking, unsubscribe, the server), lower case: links to
    them are never rewritten."""

    @classmethod
    def from_config(cls, config: Config, install_key: bytes) -> TrackingLinks:
        host = config.tracking.host or config.server.hostname
        own = {host, config.unsubscribe.host or config.server.hostname, config.server.hostname}
        return cls(tracking.tracking_secret(install_key), f"{config.tracking.scheme}://{host}",
                   frozenset(_hostname(h) for h in own if h))

    def open_url(self, message_id: str, item: int) -> str:
        return self.base + OPEN_PATH + tracking.encode(TrackingToken(message_id, item),
                                                       self.secret)

    def click_url(self, message_id: str, item: int, url: str) -> str | None:
        """The tracked link for `url`, or None when it stays as it is: not http(s), too long,
        one of our own links (tracking, unsubscribe), or an unsubscribe link of the sender."""
        if not tracking.trackable(url) or "unsubscribe" in url.lower():
            return None
        try:
            host = urlsplit(url).hostname
        except ValueError:  # not a URL a browser would follow either
            return None
        if host in self.own_hosts or host == urlsplit(self.base).hostname:
            return None
        return self.base + CLICK_PATH + tracking.encode(TrackingToken(message_id, item, url),
                                                        self.secret)


class Personalizer:
    """The content of a message for one of its recipients."""

    def __init__(self, links: TrackingLinks | None = None) -> None:
        self._links = links

    def content(self, message: StoredMessage, item: QueueItem, content: bytes) -> bytes:
        """`content` as `item`'s recipient gets it (unchanged when nothing applies)."""
        links = self._links
        if links is None or not (message.track_opens or message.track_clicks):
            return content
        pixel = b""
        if message.track_opens:
            pixel = (f'<img src="{links.open_url(message.id, item.id)}" width="1" height="1"'
                     ' alt="">').encode("ascii")
        if not message.track_clicks:
            return rewrite_html(content, append=pixel)
        return rewrite_html(content, append=pixel,
                            links=lambda url: links.click_url(message.id, item.id, url))


def _hostname(host: str) -> str:
    """"Host:port" or "[v6]:port" as urlsplit names the host: lower case, no port, no brackets."""
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        host = name
    return host.strip("[]").lower()
