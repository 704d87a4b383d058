"""What the API's handlers reach: the store (on its thread), the intake, the clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from postoffice.api.priority import Priority
from postoffice.api.render_pool import RenderPool
from postoffice.clock import Clock
from postoffice.pipeline.intake import Intake
from postoffice.pipeline.unsubscribe import Unsubscribes
from postoffice.storage.interfaces import Acceptance, PendingBlob

StoreCall = Callable[..., Awaitable[Any]]
"""`await run(fn, *args)` runs `fn(store, *args)` on the store's thread."""
CommitMany = Callable[[Sequence[tuple[PendingBlob, Acceptance]]],
                      Awaitable[list[Exception | None]]]
"""GroupCommitter.commit_many: each acceptance's outcome (None: durable)."""
CommitOne = Callable[[PendingBlob, Acceptance], Awaitable[None]]
"""GroupCommitter.commit: resolves when durable, raises StorageError otherwise."""


@dataclass
class ApiContext:
    run: StoreCall
    intake: Intake
    clock: Clock
    hostname: str
    mta_sts_policy: str
    """The policy file served for every local domain at mta-sts.<domain>."""
    max_body: int = 40 * 1024 * 1024
    """Largest request body, in octets (413 beyond)."""
    key_cache_ttl: float = 10.0
    """Seconds a verified API key is trusted without looking it up again (a revoked key
    stops working within this time in other processes; at once in the revoking one)."""
    on_domain_added: Callable[[str], Any] | None = field(default=None)
    """Makes the DKIM keys of a domain added through the API."""
    unsubscribe: Unsubscribes | None = None
    """Verifies and acts on the tokens of /u/ (pipeline/unsubscribe.py); None: every token
    is refused."""
    tracking_secret: bytes = b""
    """Verifies the tokens of /t/o/ and /t/c/ (policy/tracking.py); b"": every token is
    refused."""
    priority: Priority = field(default_factory=Priority)
    """Single sends before batch work (api/priority.py)."""
    run_urgent: StoreCall | None = None
    """`run` for a single send's lookups, on a thread that batch calls do not use (app.py:
    the single sends' committer); None: `run`."""
    commit_one: CommitOne | None = None
    """A single send's commit, on a committer of its own (app.py); None: intake.inject."""
    render_pool: RenderPool | None = None
    """Makes the messages of batch calls in processes of their own (api/render_pool.py);
    None: on the event loop."""
    commit_many: CommitMany | None = None
    """The messages of a batch go to the store a chunk per call (one job of the group
    committer) instead of one intake.inject each. None: one inject each."""
