"""What the rest of postoffice may ask of storage.

Callers depend only on these Protocols and records; `storage/sqlite` implements them for the
embedded default and the same contract tests (tests/storage/) will run against any other
backend. Methods are synchronous: the asyncio servers call them through `storage.commit`
(the group committer) or a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from postoffice.message.envelope import Recipient
from postoffice.storage.events import EventStore
from postoffice.storage.mailboxes import MailboxStore
from postoffice.storage.retention import RetentionStore
from postoffice.storage.stats import StatsStore
from postoffice.storage.suppressions import Bounce, SoftBounceRule, Suppression, SuppressionStore
from postoffice.storage.templates import TemplateStore
from postoffice.storage.tenants import TenantStore
from postoffice.storage.webhooks import WebhookStore


class StorageError(Exception):
    """A storage operation failed; the caller answers with a temporary failure."""


class NotFound(StorageError):
    """The named domain, user, mailbox or message does not exist."""


class AlreadyExists(StorageError):
    """The record to create exists already."""


class InUse(StorageError):
    """The record to remove is still referenced (a domain that still has users)."""


@dataclass(frozen=True)
class Domain:
    name: str
    """Lower-case ASCII (A-label) domain name."""
    created_at: float
    tenant: str = "default"
    """The tenant that owns the domain (sends from it, sees its mail)."""


@dataclass(frozen=True)
class User:
    address: str
    """Lower-case local@domain; the login name."""
    password_hash: str
    """Output of postoffice.credentials.hash_password; never the password."""
    allowed_senders: tuple[str, ...]
    """Extra MAIL FROM / From identities: full addresses or "@domain" for a whole domain."""
    created_at: float


@dataclass(frozen=True)
class Alias:
    """An address in a local domain whose mail goes on to its targets (`postoffice alias`)."""

    address: str
    """Normalised local@domain (as storage.addresses spells it)."""
    targets: tuple[str, ...]
    """Normalised addresses: local mailboxes, other aliases, or remote addresses."""
    created_at: float


@dataclass(frozen=True)
class StoredMessage:
    """Metadata of one accepted message; the content is the blob named `blob`."""

    id: str
    """Queue id, unique, sortable by time (see storage.ids)."""
    blob: str
    """Hex SHA-256 of the stored content."""
    size: int
    received_at: float
    source: str
    """Listener kind it came through: "smtp" (MX), "submission", "submissions", "api"."""
    mail_from: str
    client_ip: str
    helo: str
    auth_identity: str | None
    """Authenticated user, for submitted mail."""
    body: str = "7BIT"
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    subject: str = ""
    """For the message log (decoded, at most a few hundred characters)."""
    category: str = ""
    """Given through the API: stats and suppressions go by it."""
    metadata: str = "{}"
    """Given through the API: a JSON object returned with the message's events."""
    header_id: str = ""
    """The Message-ID field (with its brackets): complaints quoting it find the message."""
    unsubscribe: bool = False
    """Its sender asked for List-Unsubscribe fields (bulk lanes get them anyway)."""
    track_opens: bool = False
    """Its sender asked for open tracking (a pixel in its HTML, per recipient)."""
    track_clicks: bool = False
    """Its sender asked for click tracking (its HTML links rewritten, per recipient)."""


@dataclass(frozen=True)
class QueueItem:
    """One recipient of one message waiting for outbound delivery."""

    id: int
    message_id: str
    recipient: str
    notify: tuple[str, ...]
    orcpt: str | None
    lane: str
    """"transactional" or "bulk"."""
    status: str
    """"queued", "held", "delivered", "deferred", "failed"."""
    attempts: int
    next_attempt_at: float
    created_at: float
    last_error: str | None
    mail_from: str
    size: int
    tenant: str = "default"
    domain: str = ""
    """Lower-case domain of the recipient: the destination."""
    last_attempt_at: float | None = None
    dsn_pending: bool = False
    """A failure notice is owed to the sender (the engine sends it, then clears this)."""
    delay_notified: bool = False


QUEUE_PENDING = ("queued", "deferred")
"""Statuses the delivery engine picks items from (when due and not leased)."""


@dataclass(frozen=True)
class QueueKey:
    """What the scheduler keeps apart: one tenant's lane to one destination domain."""

    tenant: str
    lane: str
    domain: str


@dataclass(frozen=True)
class QueueBacklog:
    key: QueueKey
    due: int
    """Items due now and not claimed by anyone; a backend may stop counting at a cap (the
    SQLite store at 1,000), so "at least this many"."""
    oldest: float
    """next_attempt_at of the longest-waiting due item."""


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one claimed queue item."""

    item_id: int
    kind: str
    """"delivered", "deferred" or "failed"."""
    detail: str
    """The remote reply or local reason, for `queue ls` and the DSN."""
    at: float
    next_attempt_at: float | None = None
    """For "deferred": when to try again."""
    notify_failure: bool = False
    """For "failed": a DSN is owed to the sender."""
    ip: str = ""
    """Our source address for the attempt ("" when none was made)."""
    mx: str = ""
    """The host that answered ("" when none did)."""
    reason: str = ""
    """For "deferred" and "failed": the reason class of the reply (policy/bounces.py)."""
    hard: bool = False
    """For "failed": the address itself is bad (a hard bounce: it is suppressed)."""
    provider: str = ""
    """The mailbox provider of the host that answered: a provider's site key ("google"), or
    the MX's registrable domain; "" for a smarthost or when no host answered."""
    signed: str = ""
    """The DKIM signatures of the content sent ("d=... s=... a=..."; "" for none): a
    `signed` event goes before the outcome's."""


@dataclass(frozen=True)
class QueueFilter:
    """Which queue items a listing or an operator action applies to (all given must match)."""

    ids: tuple[int, ...] = ()
    status: str | None = None
    domain: str | None = None
    lane: str | None = None
    tenant: str | None = None
    created_before: float | None = None
    """Only items older than this (seconds since the epoch)."""


@dataclass(frozen=True)
class MailboxEntry:
    """One message in one folder of a local mailbox."""

    folder: str
    uid: int
    message_id: str
    blob: str
    size: int
    flags: tuple[str, ...]
    internal_date: float


@dataclass(frozen=True)
class Folder:
    name: str
    uidvalidity: int
    uidnext: int
    special_use: str | None
    """"\\Sent", "\\Junk", ... or None."""
    id: int = 0
    highestmodseq: int = 0
    selectable: bool = True
    """False for a name kept only for its children (\\Noselect)."""


@dataclass(frozen=True)
class Filing:
    """One local copy placed where the recipient's Sieve script said (fileinto, keep)."""

    address: str
    folder: str | None = None
    """None: where the implicit keep goes (INBOX, or Junk for an acceptance marked junk). A
    missing or unusable folder files into INBOX, unless `create` makes it."""
    flags: tuple[str, ...] = ()
    create: bool = False


@dataclass(frozen=True)
class Acceptance:
    """Everything one accepted message writes, committed together or not at all."""

    message: StoredMessage
    local: tuple[str, ...]
    """Local mailbox addresses: each gets the message in INBOX."""
    relay: tuple[Recipient, ...]
    """Remote recipients: each becomes a QueueItem."""
    lane: str = "transactional"
    tenant: str = "default"
    junk: bool = False
    """File the local copies in each mailbox's Junk folder (special use \\Junk), not INBOX."""
    filed: tuple[Filing, ...] = ()
    """Local copies placed by Sieve: for addresses not in `local` (none, one or several each)."""
    not_before: float | None = None
    """Scheduled sending: the remote recipients are not tried before this time."""
    suppressed: tuple[tuple[str, Suppression], ...] = ()
    """Recipients left out because they are suppressed: each gets a `suppressed` event,
    written with the rest."""


@dataclass(frozen=True)
class GreylistEntry:
    """One greylisting triplet (policy/greylist.py decides; the store only keeps it)."""

    network: str
    sender: str
    recipient: str
    first_seen: float
    expires_at: float
    """After this the entry counts as gone (and `delete_expired_greylist` removes it)."""
    passed: bool


@dataclass(frozen=True)
class GreylistNetwork:
    """How many distinct triplets one client network has passed (the automatic allowlist)."""

    network: str
    passes: int
    expires_at: float


class PendingBlob(Protocol):
    """Content written to a temporary file, not yet durable nor visible."""

    @property
    def digest(self) -> str: ...
    @property
    def size(self) -> int: ...


class BlobWriter(Protocol):
    """Streams content into a temporary file while hashing it."""

    def write(self, data: bytes) -> None: ...
    def peek(self) -> bytes:
        """Everything written so far (read back from the file when spilled)."""
        ...
    def finish(self, prefix: bytes = b"") -> PendingBlob:
        """Close the file; it becomes durable and visible only through Store.accept. `prefix`
        goes before what was written (header fields known only at the end of a message)."""
        ...
    def abort(self) -> None:
        """Remove the temporary file; safe to call twice or after finish."""
        ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...
    def open(self, digest: str) -> BinaryIO:
        """Raises NotFound."""
        ...
    def read(self, digest: str) -> bytes: ...
    def discard(self, pending: PendingBlob) -> None:
        """Remove a finished but never accepted blob's temporary file."""
        ...
    def clean_temp(self) -> int:
        """Remove temporary files left by dead processes (run at startup); return how many."""
        ...


class Store(MailboxStore, TenantStore, EventStore, WebhookStore, SuppressionStore, StatsStore,
            TemplateStore, RetentionStore, Protocol):
    """The whole store. Implementations are safe to use from one thread at a time per instance."""

    blobs: BlobStore

    # schema
    def migrate(self) -> list[int]:
        """Apply pending numbered migrations; return the versions applied."""
        ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...

    # the durable hot path
    def accept(self, batch: Sequence[tuple[PendingBlob, Acceptance]]) -> None:
        """Make every blob and every row of the batch durable in one group commit.

        On return all of it is on disk (files and directories fsynced, transaction committed);
        on exception none of it is visible. Several acceptances may share one blob digest."""
        ...

    # domains
    def add_domain(self, name: str, tenant: str = "default") -> Domain:
        """NotFound for an unknown tenant."""
        ...
    def remove_domain(self, name: str) -> None: ...
    def list_domains(self) -> list[Domain]: ...
    def is_local_domain(self, name: str) -> bool: ...

    # users
    def add_user(self, address: str, password_hash: str, allowed_senders: Sequence[str] = ()) -> User: ...
    def remove_user(self, address: str) -> None: ...
    def get_user(self, address: str) -> User | None: ...
    def list_users(self, domain: str | None = None) -> list[User]: ...
    def set_password(self, address: str, password_hash: str) -> None: ...
    def set_allowed_senders(self, address: str, allowed: Sequence[str]) -> None: ...

    # aliases
    def add_alias(self, address: str, targets: Sequence[str]) -> Alias:
        """Raises NotFound when the domain is not local, AlreadyExists when the address is
        an alias or a user already, ValueError for a malformed address or no targets."""
        ...
    def remove_alias(self, address: str) -> None:
        """Raises NotFound."""
        ...
    def get_alias(self, address: str) -> Alias | None: ...
    def list_aliases(self, domain: str | None = None) -> list[Alias]: ...

    # messages and queue
    def get_message(self, message_id: str) -> StoredMessage | None: ...
    def list_queue(
        self, status: str | None = None, limit: int = 1000, *,
        where: QueueFilter | None = None, after_id: int = 0,
    ) -> list[QueueItem]:
        """Items in id order, `limit` at a time after `after_id` (paging for large queues)."""
        ...
    def get_queue_item(self, item_id: int) -> QueueItem | None: ...

    # the delivery engine
    def queue_backlog(self, now: float) -> list[QueueBacklog]:
        """Due, unclaimed items counted per QueueKey."""
        ...
    def claim(
        self, key: QueueKey, *, now: float, limit: int, lease: float, owner: str
    ) -> list[QueueItem]:
        """Lease up to `limit` due items of `key` to `owner` until now + lease, oldest first."""
        ...
    def complete(self, outcomes: Sequence[DeliveryOutcome],
                 bounces: Sequence[Bounce] = (),
                 rule: SoftBounceRule | None = None) -> list[Suppression]:
        """Record outcomes of claimed items and release their leases, and suppress what
        `bounces` (the failed outcomes, already logged) condemn by `rule`, in one
        transaction; returns the suppressions made."""
        ...
    def release_leases(self, owner: str) -> int:
        """Give back every lease `owner` holds (clean shutdown)."""
        ...
    def postpone(self, item_ids: Sequence[int], at: float) -> None:
        """Give claimed items back, due again at `at`, without counting an attempt (throttled)."""
        ...
    def lease_owners(self) -> list[str]:
        """Owners holding leases now (to recover those of dead processes)."""
        ...
    def owed_failure_notices(self, limit: int = 100) -> list[QueueItem]: ...
    def clear_failure_notice(self, item_ids: Sequence[int]) -> None: ...
    def owed_delay_notices(self, created_before: float, limit: int = 100) -> list[QueueItem]:
        """Deferred items older than `created_before` whose NOTIFY asks for DELAY, not yet told."""
        ...
    def mark_delay_notified(self, item_ids: Sequence[int]) -> None: ...

    # operator actions (postoffice queue ...): each returns how many items it changed
    def hold(self, where: QueueFilter) -> int: ...
    def release(self, where: QueueFilter, now: float) -> int: ...
    def retry_now(self, where: QueueFilter, now: float) -> int: ...
    def bounce(self, where: QueueFilter, now: float, reason: str) -> int: ...
    def delete(self, where: QueueFilter) -> int: ...

    # greylisting: rows are returned as stored, expired or not (the policy decides)
    def get_greylist(self, network: str, sender: str, recipient: str) -> GreylistEntry | None: ...
    def put_greylist(self, entry: GreylistEntry) -> None:
        """Insert the entry, or replace the one of the same triplet."""
        ...
    def get_greylist_network(self, network: str) -> GreylistNetwork | None: ...
    def put_greylist_network(self, entry: GreylistNetwork) -> None:
        """Insert the entry, or replace the one of the same network."""
        ...
    def delete_expired_greylist(self, now: float) -> int:
        """Remove triplets and networks with expires_at <= now; return how many."""
        ...

    # mailboxes
    def list_folders(self, address: str) -> list[Folder]: ...
    def list_mailbox(self, address: str, folder: str = "INBOX") -> list[MailboxEntry]: ...
    def get_mailbox_entry(self, address: str, uid: int, folder: str = "INBOX") -> MailboxEntry | None: ...
    def iter_blob_refs(self) -> Iterator[str]:
        """Every digest referenced by a message row (for blob garbage collection)."""
        ...
