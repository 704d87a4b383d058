"""What IMAP, POP3 and the MDA ask of the mailbox store (part of `Store`).

Folders are named with "/" as the hierarchy separator; "INBOX" is spelt so. Every change in a
folder takes the next modseq of that folder (CONDSTORE, RFC 7162): an appended message, a flag
change, an expunge (remembered with its uid, for QRESYNC's VANISHED).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from postoffice.storage.blobs import BlobLocation
    from postoffice.storage.interfaces import Folder, PendingBlob

SEPARATOR = "/"
FlagMode = Literal["add", "remove", "replace"]


@dataclass(frozen=True)
class MessageRow:
    """One message of a folder as a session sees it."""

    uid: int
    flags: tuple[str, ...]
    modseq: int
    size: int
    internal_date: float
    blob: str
    message_id: str


@dataclass(frozen=True)
class FolderIndex:
    """Parallel lists, ascending by uid; flags as stored (space-separated)."""

    folder: Folder
    uids: list[int]
    flags: list[str]
    modseqs: list[int]


@dataclass(frozen=True)
class FolderChanges:
    """What happened in a folder after a modseq."""

    folder: Folder
    """uidnext and highestmodseq as of the answer."""
    changed: tuple[MessageRow, ...]
    """Messages added or changed after the modseq, by uid."""
    vanished: tuple[int, ...]
    """Uids expunged after the modseq, ascending."""


@dataclass(frozen=True)
class FolderStatus:
    folder: Folder
    messages: int
    unseen: int
    recent: int
    deleted: int
    size: int
    """Octets of all messages (STATUS SIZE, RFC 8438)."""


@dataclass(frozen=True)
class NewMessage:
    """A message to add to a folder (APPEND, Sieve fileinto): its content is durable first."""

    blob: PendingBlob
    flags: tuple[str, ...] = ()
    internal_date: float = 0.0
    message_id: str = ""


@dataclass(frozen=True)
class FlagUpdate:
    """Result of store_flags: rows changed (new flags, new modseq) and the uids an
    UNCHANGEDSINCE test refused (RFC 7162 3.1.3)."""

    changed: tuple[MessageRow, ...]
    refused: tuple[int, ...]


@dataclass(frozen=True)
class Quota:
    used: int
    limit: int | None
    """Octets; None for no limit."""


@dataclass(frozen=True)
class Summary:
    """The parsed form of one blob (see migration 0007, message_summaries)."""

    blob: str
    header: bytes
    """The message's header section as stored (its empty line included)."""
    envelope: bytes
    body: bytes
    bodystructure: bytes
    fields: str
    """JSON object of decoded header fields for SEARCH/SORT/THREAD."""


@dataclass(frozen=True)
class SieveScript:
    name: str
    source: str
    active: bool
    last_error: str | None = None
    updated_at: float = 0.0
    """When the source was last written (seconds since the epoch)."""


class QuotaExceeded(Exception):
    """The write would take the user over their quota; nothing was written."""


class MailboxStore(Protocol):
    # folders
    def get_folder(self, address: str, name: str) -> Folder | None: ...
    def create_folder(self, address: str, name: str, special_use: str | None = None) -> Folder:
        """Creates missing parents too; AlreadyExists for an existing selectable name."""
        ...
    def delete_folder(self, address: str, name: str) -> None:
        """Deletes messages and name; a folder with children stays as \\Noselect."""
        ...
    def rename_folder(self, address: str, old: str, new: str) -> None:
        """Children move along. Renaming INBOX moves its messages, INBOX stays (empty)."""
        ...
    def subscriptions(self, address: str) -> list[str]: ...
    def set_subscribed(self, address: str, name: str, subscribed: bool) -> None: ...
    def folder_status(self, folder_id: int) -> FolderStatus: ...

    # messages of one folder (by folder id: a selected session keeps it)
    def folder_messages(self, folder_id: int) -> list[MessageRow]: ...
    def folder_index(self, folder_id: int) -> FolderIndex:
        """The uid, flags and modseq of every message (SELECT of a large folder)."""
        ...
    def messages_by_uid(self, folder_id: int, uids: Sequence[int]) -> list[MessageRow]:
        """The rows of these uids that still exist, by uid."""
        ...
    def folder_changes(self, folder_id: int, since_modseq: int) -> FolderChanges: ...
    def large_folders(self, min_uidnext: int) -> list[int]:
        """Ids of selectable folders whose uidnext is above `min_uidnext` (the candidates for
        a kept index)."""
        ...
    def folder_heads(self, folder_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(uidnext, highestmodseq) per existing folder: a cheap poll for news."""
        ...
    def claim_recent(self, folder_id: int, claim: bool = True) -> tuple[int, int]:
        """Uids in [low, high) become \\Recent for the caller and for nobody else; with
        claim=False (EXAMINE) they are only looked at."""
        ...
    def append_messages(self, address: str, folder: str, messages: Sequence[NewMessage]) -> tuple[Folder, list[int]]:
        """Make the blobs durable and add them (all or none); the folder after, and the uids.
        QuotaExceeded when over the user's quota."""
        ...
    def store_flags(self, folder_id: int, uids: Sequence[int], mode: FlagMode, flags: Sequence[str],
                    unchanged_since: int | None = None) -> FlagUpdate: ...
    def copy_messages(self, folder_id: int, uids: Sequence[int], target_id: int, *,
                      move: bool = False) -> tuple[Folder, list[tuple[int, int]]]:
        """Copy (or move: copy and expunge in one transaction) to another folder of the same
        user; the target after, and (source uid, new uid) pairs. QuotaExceeded for a copy
        over quota."""
        ...
    def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove the messages flagged \\Deleted (among `uids` when given); their uids."""
        ...

    # quotas
    def quota(self, address: str) -> Quota: ...
    def set_quota(self, address: str, limit: int | None) -> None: ...

    # summaries
    def get_summaries(self, blobs: Sequence[str]) -> dict[str, Summary]: ...
    def blob_locations(self, blobs: Sequence[str]) -> dict[str, BlobLocation]:
        """Where these blobs are, for the packed ones (storage/blobs.read_if_cached)."""
        ...
    def put_summaries(self, summaries: Sequence[Summary]) -> None: ...

    # sieve scripts
    def list_sieve_scripts(self, address: str) -> list[SieveScript]: ...
    def get_sieve_script(self, address: str, name: str) -> SieveScript | None: ...
    def active_sieve_script(self, address: str) -> SieveScript | None: ...
    def put_sieve_script(self, address: str, name: str, source: str) -> None: ...
    def delete_sieve_script(self, address: str, name: str) -> None:
        """InUse when it is the active script."""
        ...
    def rename_sieve_script(self, address: str, old: str, new: str) -> None: ...
    def activate_sieve_script(self, address: str, name: str | None) -> None:
        """None deactivates every script."""
        ...
    def record_sieve_error(self, address: str, name: str, error: str | None) -> None: ...
    def note_vacation_reply(self, address: str, handle: str, sender: str, days: int) -> bool:
        """True (and recorded) when `sender` had no vacation reply under `handle` in the last
        `days`; False when it had one (RFC 5230 4.2)."""
        ...
