"""Retention: what a purge removed, and the Store method that purges.

Each tenant keeps its message log and events `retention_days` (tenants table, 60 by
default); then they go, with the stored bodies nothing else needs any more. Messages still
waiting for delivery (queued, deferred, held, or owing a DSN) stay whatever their age; local
mailbox copies stay whatever the retention (they are the user's mail, not a log). The hourly
counters of `stats_hourly` are never purged: aggregates outlive the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ANSWER_TTL = 86400.0
"""Seconds an idempotent API answer is kept (a retried call after that is a new call)."""
SOFT_BOUNCE_MEMORY = 30 * 86400.0
"""Seconds a run of soft bounces to an address is remembered after its last one: a bounce a
month after the last counts as the first of a new run."""
GRACE = 3600.0
"""Seconds a blob file or pack file must be old before garbage collection may remove it: an
accept writes its files before the transaction that references them commits."""
COMPACT_BELOW = 0.5
"""A pack file whose live blobs fill less than this fraction of it is rewritten."""


@dataclass(frozen=True)
class PurgeReport:
    """What one purge removed (or, in a dry run, would remove)."""

    dry_run: bool = False
    """Nothing was changed: the counts say what a real run would remove now."""
    events: int = 0
    """Event log rows past their tenant's retention."""
    messages: int = 0
    """Message log rows past retention whose every recipient is final."""
    queue_items: int = 0
    """Delivered and failed queue rows that went with their messages."""
    answers: int = 0
    """Idempotent API answers older than ANSWER_TTL."""
    expired: int = 0
    """Rows whose time is up: suppressions past their expiry, vacation answers past their
    days, runs of soft bounces quiet for SOFT_BOUNCE_MEMORY."""
    summaries: int = 0
    """Parsed summaries (IMAP) of blobs nothing references any more."""
    blobs: int = 0
    """Stored bodies removed: pack index entries and large files nothing references."""
    large_files: int = 0
    """Of those, large blobs (their own file under blobs/<hh>/)."""
    packs_compacted: int = 0
    """Pack files rewritten with only their live blobs."""
    packs_dropped: int = 0
    """Pack files removed because none of their blobs was live."""
    orphan_packs: int = 0
    """Pack files no index entry named (a crash between writing and committing) removed."""
    bytes_freed: int = 0
    """Disk space given back by removed and rewritten files."""

    @property
    def nothing(self) -> bool:
        """Whether the purge found nothing to remove."""
        return not any((self.events, self.messages, self.queue_items, self.answers,
                        self.expired, self.summaries, self.blobs, self.packs_compacted, self.packs_dropped,
                        self.orphan_packs))


class RetentionStore(Protocol):
    def purge(self, now: float, batch: int = 5000, *, dry_run: bool = False,
              stop: Callable[[], bool] = ...) -> PurgeReport:
        """Remove, per tenant, events and finished messages older than its retention, old
        idempotent answers, then garbage-collect the blobs nothing references (pack files
        compacted or dropped). Works in transactions of at most `batch` rows, so writers of
        other processes (the MX accepting mail) wait only for one batch at a time. `stop` is
        asked between batches: when it answers true the purge ends there (the next one goes
        on where it left off) and reports what it did."""
        ...
